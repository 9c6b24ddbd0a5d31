"""alert_aggregator: every alert — from the status_poller or the ingest API — goes through ``emit``.

``emit`` finds the alert by its identity, ``alert_id = sha256(source \\x00 check)``, which is the
same in every lifetime and never depends on severity or time (incident runbook FM1: a
non-deterministic ``alert_id`` is what floods the mailbox). Under a row lock it works out what
the emission means — a first fire, a repeat, a severity change, a resolve, a new lifetime — updates
the row, and runs the emit hooks (``alerts.hooks``) in the same transaction. Each emission logs one
INFO line, ``alert_aggregator emit alert_key=… severity=… status=… decision=…`` (FM2 Step 3's grep),
and every decision is kept in ``alert_decisions`` with its reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.alerts.emission import SEVERITY_RANK, Decision, Emission, Event, duration_text
from raxx_console.alerts.hooks import HOOKS
from raxx_console.alerts.models import FIRING, RESOLVED, Alert
from raxx_console.alerts.store import lock_alert, record_decision

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.alert_aggregator")

STATUSES = (FIRING, RESOLVED)
AGGREGATOR = "aggregator"
#: The aggregator's own decision for each event (escalated/deescalated refine severity_change).
EVENT_DECISIONS = {"repeat": "repeat", "resolve": "resolved"}


@dataclass(frozen=True)
class EmitResult:
    """What one emission came to: the alert's key, the event and every decision taken."""

    alert_key: str
    alert_id: str
    event: Event | None
    decision: str
    #: hook name → decision
    hooks: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_key": self.alert_key,
            "event": self.event,
            "decision": self.decision,
            "hooks": self.hooks,
        }


def alert_identity(source: str, check: str) -> tuple[str, str]:
    """``(alert_id, alert_key)``: derived from the immutable identity only, stable for every lifetime."""
    alert_id = hashlib.sha256(f"{source}\x00{check}".encode()).hexdigest()
    return alert_id, f"{source}:{alert_id[:16]}"


def emit(
    console: Console,
    *,
    source: str,
    check: str,
    severity: str,
    title: str,
    details: str = "",
    labels: Mapping[str, str] | None = None,
    status: str = FIRING,
    session: Session | None = None,
) -> EmitResult:
    """Record one emission of an alert and run the hooks; in ``session``'s transaction if given.

    Without a session the emission commits on its own. Raises ValueError for a severity other
    than P1/P2/P3 or a status other than firing/resolved.
    """
    if severity not in SEVERITY_RANK:
        raise ValueError(f"severity must be P1, P2 or P3, not {severity!r}")
    if status not in STATUSES:
        raise ValueError(f"status must be firing or resolved, not {status!r}")
    values = {
        "source": source,
        "check": check,
        "severity": severity,
        "title": title,
        "details": details,
        "labels": dict(labels or {}),
        "status": status,
    }
    if session is not None:
        return _emit(console, session, **values)
    with console.db.session() as own:
        return _emit(console, own, **values)


def _emit(console: Console, session: Session, *, status: str, **values: Any) -> EmitResult:
    now = console.clock.now()
    alert_id, alert_key = alert_identity(values["source"], values["check"])
    alert = lock_alert(session, alert_id)
    if alert is None and status == FIRING:
        alert = _insert(session, alert_id, alert_key, now, values)
        if alert.emit_count == 0:  # ours: a brand-new alert
            return _run(console, session, alert, "fire", "first", None, now, values)
    if alert is None or (alert.state == RESOLVED and status == RESOLVED):
        decision = "not_firing"
        log.info(
            "alert_aggregator emit alert_key=%s severity=%s status=%s decision=%s",
            alert_key,
            values["severity"],
            status,
            decision,
        )
        if alert is not None:
            alert.last_emit_at = now
        return EmitResult(alert_key, alert_id, None, decision)
    previous = alert.severity
    if status == RESOLVED:
        alert.state, alert.resolved_at = RESOLVED, now
        return _run(console, session, alert, "resolve", "resolved", previous, now, values)
    if alert.state == RESOLVED:
        alert.state, alert.lifetime, alert.fired_at, alert.resolved_at = FIRING, alert.lifetime + 1, now, None
        alert.emit_count = 0
        return _run(console, session, alert, "fire", "new_lifetime", previous, now, values)
    if values["severity"] == previous:
        return _run(console, session, alert, "repeat", "repeat", previous, now, values)
    worse = SEVERITY_RANK[values["severity"]] < SEVERITY_RANK[previous]
    decision = "escalated" if worse else "deescalated"
    return _run(console, session, alert, "severity_change", decision, previous, now, values)


def _insert(session: Session, alert_id: str, alert_key: str, now: datetime, values: dict[str, Any]) -> Alert:
    """Insert a new alert; if another writer inserted it first, lock and return theirs."""
    alert = Alert(
        alert_id=alert_id,
        alert_key=alert_key,
        source=values["source"],
        check=values["check"],
        state=FIRING,
        severity=values["severity"],
        title=values["title"],
        lifetime=1,
        first_seen_at=now,
        fired_at=now,
        last_emit_at=now,
        emit_count=0,
        slack_seq=0,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        existing = lock_alert(session, alert_id)
        assert existing is not None, "a unique violation means the row exists"
        return existing
    return alert


def _run(
    console: Console,
    session: Session,
    alert: Alert,
    event: Event,
    decision: str,
    previous: str | None,
    now: datetime,
    values: dict[str, Any],
) -> EmitResult:
    """Apply the emission to the row, record the aggregator's decision, then run every hook."""
    if event != "resolve":
        alert.severity = values["severity"]
    alert.title = values["title"][:255]
    alert.details = values["details"]
    alert.labels = values["labels"]
    alert.surface_id = values["labels"].get("surface_id") or None
    alert.last_emit_at = now
    alert.emit_count += 1
    session.flush()
    emission = Emission(console, session, alert, event, previous, now)
    reason = _aggregator_reason(emission, decision)
    record_decision(session, now, alert, AGGREGATOR, event, Decision(decision, reason))
    hooks: dict[str, str] = {}
    for hook in HOOKS:
        try:
            with session.begin_nested():
                outcome = hook.run(emission)
        except Exception as exc:
            log.exception("alert_aggregator hook failed hook=%s alert_key=%s", hook.name, alert.alert_key)
            outcome = Decision("hook_error", f"{hook.name} raised {type(exc).__name__}; see the log")
        if outcome is not None:
            record_decision(session, now, alert, hook.name, event, outcome)
            hooks[hook.name] = outcome.decision
    log.info(
        "alert_aggregator emit alert_key=%s severity=%s status=%s decision=%s %s",
        alert.alert_key,
        alert.severity,
        alert.state,
        decision,
        " ".join(f"{name}={value}" for name, value in hooks.items()),
    )
    return EmitResult(alert.alert_key, alert.alert_id, event, decision, hooks)


def _aggregator_reason(emission: Emission, decision: str) -> str:
    alert = emission.alert
    if decision == "first":
        return f"first emission of {alert.source}/{alert.check}: lifetime 1"
    if decision == "new_lifetime":
        return f"fired again after resolving: lifetime {alert.lifetime}"
    if decision in ("escalated", "deescalated"):
        return f"severity {emission.previous_severity} → {alert.severity}"
    if decision == "resolved":
        return f"resolved after {duration_text(emission.now - alert.fired_at)}"
    return f"still firing since {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC"
