"""Deploys: GitHub Actions dispatches through ``SURFACE_WORKFLOW_MAP``, followed to completion."""

#: The ref a deploy uses when none is given (the tile's modal and ``raxx-console deploy``). Here, not
#: in ``service``, so the command line's ``--help`` shows it without importing SQLAlchemy.
DEFAULT_REF = "main"
