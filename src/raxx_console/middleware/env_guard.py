"""env_guard: the environment comes from the host you visit, never from a session toggle.

Cockpit runbook §2: ``request.host`` is matched against ``CONSOLE_HOST_ENV_MAP`` and written to
``g.env``; the banner shows it and every audit row carries it as ``selected_env``. In production
an unknown host is refused, so a mis-pointed DNS name can never show prod data under a staging
banner. ``/healthz`` stays reachable for the router's checks.
"""

from __future__ import annotations

from flask import Flask, Response, g, render_template, request

from raxx_console.context import console

EXEMPT_PATHS = ("/healthz", "/static/")
BANNERS = {
    "production": ("PRODUCTION", "banner-production"),
    "staging": ("STAGING", "banner-staging"),
    "development": ("DEVELOPMENT", "banner-development"),
}


def env_for_host(host: str) -> str | None:
    """The env mapped to ``host`` (port ignored), or None when the host is unknown."""
    name = host.split(":", 1)[0].strip().lower()
    env = console().settings.CONSOLE_HOST_ENV_MAP.get(name)
    return env.value if env is not None else None


def selected_env() -> str:
    """``g.env`` inside a request, else the deployment's ``CONSOLE_ENV`` (worker rows)."""
    return g.get("env") or console().env


def _guard() -> Response | tuple[str, int] | None:
    if request.path.startswith(EXEMPT_PATHS):
        g.env = console().env
        return None
    env = env_for_host(request.host)
    if env is None:
        if console().settings.is_production:
            g.env = console().env
            page = render_template("errors/unknown_host.html", host=request.host.split(":")[0])
            return page, 421
        env = console().env
    g.env = env
    return None


def _banner() -> dict[str, object]:
    label, css = BANNERS[selected_env()]
    return {"env_banner": {"label": label, "css": css, "env": selected_env()}}


def init_app(app: Flask) -> None:
    app.before_request(_guard)
    app.context_processor(_banner)
