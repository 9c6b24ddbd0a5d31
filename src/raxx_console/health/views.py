"""Service endpoints for routers and deploy checks: /healthz and /version."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, jsonify

from raxx_console.context import console

bp = Blueprint("health", __name__)


@lru_cache(maxsize=1)
def _git_sha() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def source_version() -> str:
    """The running code's SHA: ``SOURCE_VERSION`` (Heroku build), ``HEROKU_SLUG_COMMIT``, or git."""
    settings = console().settings
    return (
        settings.SOURCE_VERSION
        or settings.HEROKU_SLUG_COMMIT
        or os.environ.get("GIT_COMMIT")
        or _git_sha()
        or "unknown"
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    if console().db.ping():
        return jsonify({"status": "ok", "database": "ok"}), 200
    return jsonify({"status": "unavailable", "database": "unreachable"}), 503


@bp.get("/version")
def version() -> Response:
    return jsonify({"sha": source_version(), "env": console().env})
