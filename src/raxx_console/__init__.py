"""Raxx Console: the operators' cockpit, and the auto-ticketing pipeline at its heart."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from raxx_console.clock import Clock

#: Each domain's views module exposes ``bp``; adding a domain is adding a line here.
BLUEPRINTS = (
    "raxx_console.health.views",
    "raxx_console.auth.views",
    "raxx_console.status.views",
    "raxx_console.status.investigate",
    "raxx_console.flags.views",
    "raxx_console.flags.promotion_views",
    "raxx_console.customers.views",
    "raxx_console.alerts.ingest",
    "raxx_console.alerts.views",
    "raxx_console.deploys.views",
    "raxx_console.deploys.versions_views",
    "raxx_console.secrets.views",
    "raxx_console.audit.views",
)


def create_app(config_override: dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """The app factory. ``config_override`` wins over the environment (tests, ``serve --sandbox``).

    Its imports live here, not at the top, so ``raxx-console --help`` does not pay for Flask and
    SQLAlchemy (docs/decisions.md, "A fast command line").
    """
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from raxx_console.config import ConsoleEnv, load_settings
    from raxx_console.context import EXTENSION_KEY, build_console, secret_key
    from raxx_console.logging_setup import configure_logging

    settings = load_settings(config_override)
    configure_logging(settings.LOG_LEVEL, settings.secret_values())
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config.update(
        SECRET_KEY=secret_key(settings),
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.SESSION_MAX_AGE),
        MAX_CONTENT_LENGTH=settings.MAX_CONTENT_LENGTH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.CONSOLE_ENV is not ConsoleEnv.development,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    # Forwarded headers count only from the proxies configured (docs/decisions.md, "Proxy trust").
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app,
        x_for=settings.PROXY_X_FOR_HOPS,
        x_proto=settings.PROXY_X_PROTO_HOPS,
        x_host=settings.PROXY_X_HOST_HOPS,
    )
    app.extensions[EXTENSION_KEY] = build_console(settings, clock=clock)
    _wire(app)
    from raxx_console.jobs import OUTBOX_HANDLERS
    from raxx_console.outbox.service import use_handlers

    use_handlers(app.extensions[EXTENSION_KEY], OUTBOX_HANDLERS)
    from raxx_console.health.startup import startup_check_investigate_configured

    startup_check_investigate_configured(app.extensions[EXTENSION_KEY])
    return app


def _wire(app: Flask) -> None:
    from raxx_console import errors
    from raxx_console.auth.access import csrf, load_identity, protect_csrf
    from raxx_console.context import close_db_session
    from raxx_console.middleware import env_guard, input_guard, security_headers

    csrf.init_app(app)
    input_guard.init_app(app)
    env_guard.init_app(app)
    security_headers.init_app(app)
    app.before_request(load_identity)
    app.before_request(protect_csrf)
    app.teardown_appcontext(close_db_session)
    errors.init_app(app)
    for module in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)
