"""Sentry, for the two alerts of RCA 2026-06-19: missing ticketing prerequisites, and repeated
``freescout_not_configured``. Only when ``SENTRY_DSN`` is set.

Sentry is initialised once per process (again only if the DSN changes, which only tests do),
with no default or auto-enabled integrations — nothing is captured or sent unless the console
calls ``report()`` — and no PII (the SDK's default, left alone: ``send_default_pii`` is
deprecated). Events carry env var *names*, never values.
"""

from __future__ import annotations

import logging
import threading

import sentry_sdk
from sentry_sdk.utils import BadDsn

from raxx_console.config import Settings

log = logging.getLogger("raxx_console.health")

_lock = threading.Lock()
_active_dsn: str | None = None


def init_sentry(settings: Settings) -> bool:
    """Initialise the SDK for ``SENTRY_DSN``; False (and nothing done) when it is unset."""
    global _active_dsn
    dsn = settings.secret("SENTRY_DSN")
    if not dsn:
        return False
    with _lock:
        if dsn == _active_dsn:
            return True
        if _active_dsn is not None:
            sentry_sdk.get_client().close(timeout=2)
            _active_dsn = None
        try:
            sentry_sdk.init(
                dsn=dsn,
                environment=settings.CONSOLE_ENV.value,
                release=settings.SOURCE_VERSION or settings.HEROKU_SLUG_COMMIT,
                default_integrations=False,
                auto_enabling_integrations=False,
                include_local_variables=False,
                auto_session_tracking=False,
                send_client_reports=False,
                traces_sample_rate=None,
                max_breadcrumbs=0,
            )
        except BadDsn:
            log.warning("sentry disabled: SENTRY_DSN is not a valid DSN")
            return False
        _active_dsn = dsn
    log.info("sentry enabled environment=%s", settings.CONSOLE_ENV.value)
    return True


def report(settings: Settings, message: str, *, tags: dict[str, str] | None = None) -> bool:
    """Send ``message`` as an error-level event; False when ``SENTRY_DSN`` is unset."""
    if not init_sentry(settings):
        return False
    with sentry_sdk.new_scope() as scope:
        for key, value in (tags or {}).items():
            scope.set_tag(key, value)
        sentry_sdk.capture_message(message, level="error")
    return True
