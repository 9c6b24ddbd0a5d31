"""Deploys: GitHub Actions dispatches through ``SURFACE_WORKFLOW_MAP``, followed to completion."""
