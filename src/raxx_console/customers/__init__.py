"""Customers and their FreeScout tickets: entry point C of the auto-ticketing overview (read-only)."""
