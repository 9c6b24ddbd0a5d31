"""The alert's shapes on its way through ``emit``, and what an emit hook answers.

``AlertSignal`` is what a source says (the ingest API, the Alertmanager webhook and the poller
all build one, and ``emit`` takes nothing else); ``Emission`` is what a hook is given on the
per-alert path; ``AlertSnapshot`` what a hook is shown when the set-based path asks whether a
repeat is quiet for it; ``Decision`` what a hook answers. Kept apart from the aggregator so
hooks can be written against these types without importing the aggregator that runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple
from urllib.parse import quote

from sqlalchemy.orm import Session

from raxx_console.alerts.models import FIRING, RESOLVED, Alert

if TYPE_CHECKING:
    from raxx_console.context import Console

#: What an emission did to the alert.
Event = Literal["fire", "repeat", "severity_change", "resolve"]
SEVERITY_RANK = {"P1": 1, "P2": 2, "P3": 3}
#: Auto-tickets are filed at this severity and above (overview: "P2+").
TICKET_THRESHOLD = "P2"


def at_least(severity: str, threshold: str) -> bool:
    """True when ``severity`` is as urgent as ``threshold`` or more (P1 beats P2)."""
    return SEVERITY_RANK[severity] <= SEVERITY_RANK[threshold]


STATUSES = (FIRING, RESOLVED)


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """One alert as a source reports it: the one shape from ingest (and the poller) to ``emit``."""

    source: str
    check: str
    severity: str
    title: str
    details: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    status: str = FIRING

    def problem(self) -> str | None:
        """Why ``emit`` cannot take it (a severity or status it does not know), else None."""
        if self.severity not in SEVERITY_RANK:
            return f"severity must be P1, P2 or P3, not {self.severity!r}"
        if self.status not in STATUSES:
            return f"status must be firing or resolved, not {self.status!r}"
        return None


class AlertSnapshot(NamedTuple):
    """A locked alert row as the set-based path read it, with its current ticket's state
    (``ticket_state`` None when the alert points at no ticket). A tuple: one is made per row
    of every batch, and a tuple is made in C (a frozen dataclass sets each field in Python)."""

    id: int
    alert_id: str
    alert_key: str
    state: str
    severity: str
    lifetime: int
    fired_at: datetime
    emit_count: int
    slack_notified_at: datetime | None
    slack_seq: int
    #: Our ``tickets`` row the alert points at, and (``ticket_id``) its FreeScout conversation id.
    ticket_pk: int | None
    ticket_lifetime: int | None
    ticket_state: str | None
    ticket_ref: str | None
    ticket_id: int | None
    ticket_last_reason: str | None


@dataclass(frozen=True)
class Emission:
    """One emission, as the hooks see it: the locked alert row, already updated, and the event.

    Hooks run inside emit's transaction and only write rows (outbox items, tickets); they never
    make an HTTP call, so an emission costs database time only.
    """

    console: Console
    session: Session
    alert: Alert
    event: Event
    previous_severity: str | None
    now: datetime

    @property
    def is_first_lifetime(self) -> bool:
        return self.alert.lifetime == 1


@dataclass(frozen=True)
class Decision:
    """A hook's answer, recorded with its reason in ``alert_decisions`` and shown on the alerts page."""

    decision: str
    reason: str
    ticket_pk: int | None = None


def alert_page_url(base_url: str | None, alert_key: str) -> str | None:
    """The alert's page on the console (``CONSOLE_BASE_URL``), for DMs and ticket bodies."""
    return f"{base_url}/console/alerts/{quote(alert_key, safe=':')}" if base_url else None


def duration_text(delta: timedelta) -> str:
    """``2 h 5 min`` / ``4 min 10 s``: how long an alert fired, as people say it."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"
