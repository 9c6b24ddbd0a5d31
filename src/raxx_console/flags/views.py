"""Placeholder flags page; the flags UI replaces it."""

from __future__ import annotations

from flask import Blueprint

from raxx_console.auth.access import require_role
from raxx_console.auth.models import Role

bp = Blueprint("flags", __name__)


@bp.get("/console/flags")
@require_role(Role.viewer)
def index() -> str:
    return "flags"
