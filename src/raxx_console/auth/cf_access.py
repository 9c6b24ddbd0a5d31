"""Cloudflare Access identity (``Cf-Access-Jwt-Assertion``). Completed by the auth work."""

from __future__ import annotations

from raxx_console.auth.models import User


def user_from_cf_access() -> User | None:
    """The console user named by a valid Access JWT, or None."""
    return None
