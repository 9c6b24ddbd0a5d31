"""env_guard: the environment comes from the host you visit, never from a session toggle.

Cockpit runbook §2: ``request.host`` is matched against ``CONSOLE_HOST_ENV_MAP`` and written to
``g.env``; the banner shows it and every audit row carries it as ``selected_env``. In production
an unknown host is refused, so a mis-pointed DNS name can never show prod data under a staging
banner. ``/healthz`` stays reachable for the router's checks.
"""

from __future__ import annotations

from flask import Flask, Response, g, render_template, request

from raxx_console.auth.access import wants_json
from raxx_console.context import console
from raxx_console.errors import json_error

EXEMPT_PATHS = ("/healthz", "/static/")
BANNERS = {
    "production": ("PRODUCTION", "banner-production"),
    "staging": ("STAGING", "banner-staging"),
    "development": ("DEVELOPMENT", "banner-development"),
}


def host_name(host: str) -> str:
    """``request.host`` without its port (``[::1]:8000`` → ``[::1]``), lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0]


def env_for_host(host: str) -> str | None:
    """The env mapped to ``host`` (port ignored), or None when the host is unknown."""
    env = console().settings.CONSOLE_HOST_ENV_MAP.get(host_name(host))
    return env.value if env is not None else None


def selected_env() -> str:
    """``g.env`` inside a request, else the deployment's ``CONSOLE_ENV`` (worker rows)."""
    return g.get("env") or console().env


def _refuse_unknown_host() -> tuple[Response | str, int]:
    """421 Misdirected Request: this server does not answer for that name."""
    host = host_name(request.host)
    if wants_json():
        return json_error(
            421,
            "unknown_host",
            f"{host} is not in CONSOLE_HOST_ENV_MAP; production refuses hosts it cannot name an env for",
            host=host,
        )
    return render_template("errors/unknown_host.html", host=host), 421


def _guard() -> tuple[Response | str, int] | None:
    g.env = console().env
    if request.path.startswith(EXEMPT_PATHS):
        return None
    env = env_for_host(request.host)
    if env is not None:
        g.env = env
    elif console().settings.is_production:
        return _refuse_unknown_host()
    return None


def _banner() -> dict[str, object]:
    label, css = BANNERS[selected_env()]
    return {"env_banner": {"label": label, "css": css, "env": selected_env()}}


def init_app(app: Flask) -> None:
    app.before_request(_guard)
    app.context_processor(_banner)
