"""Start-up checks (RCA 2026-06-19, action item 1): a ticketing flag on with prerequisites missing
is an ERROR at start, never a silent ``{degraded: true}`` on every click.

``startup_check_investigate_configured()`` runs in every process that serves or works: from
``create_app``, and from ``start_monitoring`` for the worker (or again after ``serve`` migrated a
fresh database). While ``FLAG_CONSOLE_INVESTIGATE_FROM_STATUS`` or
``FLAG_CONSOLE_ALERTS_AUTO_TICKET`` is on (env pin or DB), each missing prerequisite is named
— names only, never values — in one ERROR line ``investigate_prereq_missing`` on the
``raxx_console.health`` logger (not the client's, so it is not mistaken for FM4's "graceful path
broken" ERRORs), and reported to Sentry when ``SENTRY_DSN`` is set. The result stays in
``console.components["startup_checks"]`` for the pipeline health panel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import OperationalError, ProgrammingError

from raxx_console.config import Settings
from raxx_console.context import Console
from raxx_console.flags.registry import FLAGS
from raxx_console.flags.service import FlagStore
from raxx_console.health import sentry
from raxx_console.health.monitor import install_monitor
from raxx_console.health.prereqs import ticketing_prereqs_missing

log = logging.getLogger("raxx_console.health")

COMPONENT_KEY = "startup_checks"
#: The flags whose paths file tickets: FLAG_CONSOLE_INVESTIGATE_FROM_STATUS, FLAG_CONSOLE_ALERTS_AUTO_TICKET.
TICKETING_FLAGS = tuple(spec.name for spec in FLAGS if spec.needs_ticketing)


@dataclass(frozen=True)
class StartupCheck:
    """What the start-up check saw, for the health panel."""

    checked_at: datetime
    #: Ticketing flags that were on; the check only complains while one is.
    flags_on: tuple[str, ...]
    #: Prerequisite env var names that were unset (whatever the flags).
    missing: tuple[str, ...]
    #: Why the flags could not be read (e.g. the database is not migrated yet), else None.
    skipped: str | None = None

    @property
    def failing(self) -> bool:
        """A ticketing flag is on and something it needs is missing: tickets would not be filed."""
        return bool(self.flags_on and self.missing)


def ticketing_flags_on(flags: FlagStore) -> list[str]:
    return [name for name in TICKETING_FLAGS if flags.is_enabled(name)]


def warn_if_investigate_misconfigured(settings: Settings, flags: FlagStore) -> list[str]:
    """Log ERROR naming every missing prerequisite while a ticketing flag is on; return the names.

    Empty when no ticketing flag is on or nothing is missing.
    """
    flags_on = ticketing_flags_on(flags)
    missing = ticketing_prereqs_missing(settings) if flags_on else []
    if missing:
        log.error(
            "investigate_prereq_missing flags_on=%s missing=%s: tickets will not be filed until these "
            "are set (incident runbook Step 0; set them from vault, never echo the values)",
            ",".join(flags_on),
            ",".join(missing),
        )
    return missing


def startup_check_investigate_configured(console: Console) -> StartupCheck:
    """Run the check, keep its result in ``console.components``, and tell Sentry when it fails."""
    now = console.clock.now()
    try:
        flags_on = ticketing_flags_on(console.flags)
    except (OperationalError, ProgrammingError):
        log.warning(
            "investigate_prereq_check skipped: the database is not ready (run `raxx-console db upgrade`)"
        )
        check = StartupCheck(
            checked_at=now,
            flags_on=(),
            missing=tuple(ticketing_prereqs_missing(console.settings)),
            skipped="database not migrated or unreachable",
        )
    else:
        warn_if_investigate_misconfigured(console.settings, console.flags)
        check = StartupCheck(
            checked_at=now,
            flags_on=tuple(flags_on),
            missing=tuple(ticketing_prereqs_missing(console.settings)),
        )
        if check.failing:
            sentry.report(
                console.settings,
                f"investigate_prereq_missing flags_on={','.join(check.flags_on)} "
                f"missing={','.join(check.missing)}",
                tags={"check": "investigate_prereq_missing"},
            )
    console.components[COMPONENT_KEY] = check
    return check


def start_monitoring(console: Console) -> None:
    """Once per long-running process (serve, web, worker), with the database migrated: Sentry, the
    ``freescout_not_configured`` monitor, and the start-up check unless it already ran on a ready DB."""
    sentry.init_sentry(console.settings)
    install_monitor(console)
    previous: StartupCheck | None = console.components.get(COMPONENT_KEY)
    if previous is None or previous.skipped:
        startup_check_investigate_configured(console)
