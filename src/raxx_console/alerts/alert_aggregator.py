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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.alerts.emission import (
    SEVERITY_RANK,
    TICKET_THRESHOLD,
    Decision,
    Emission,
    Event,
    at_least,
    duration_text,
)
from raxx_console.alerts.hooks import HOOKS
from raxx_console.alerts.models import FIRING, RESOLVED, Alert
from raxx_console.alerts.store import (
    forget_decisions,
    lock_alert,
    lock_alerts,
    preload_decisions,
    record_decision,
)
from raxx_console.flags.registry import AUTO_TICKET_FLAG
from raxx_console.tickets.models import TICKET_FILED, TICKET_PENDING, Ticket

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
    values = _values(source, check, severity, title, details, labels, status)
    if session is not None:
        return _emit(console, session, **values)
    with console.db.session() as own:
        return _emit(console, own, **values)


def _values(
    source: str,
    check: str,
    severity: str,
    title: str,
    details: str,
    labels: Mapping[str, str] | None,
    status: str,
) -> dict[str, Any]:
    return {
        "source": source,
        "check": check,
        "severity": severity,
        "title": title,
        "details": details,
        "labels": dict(labels or {}),
        "status": status,
    }


@dataclass
class _Batch:
    """What ``emit_batch`` worked out once for the whole batch: the locked rows and the flag."""

    alerts: dict[str, Alert]
    #: Rows this batch inserted that no emission has claimed yet (their first fire is still to come).
    unclaimed: set[str]
    auto_ticket: bool
    tickets: list[Ticket] = field(default_factory=list)


def emit_batch(console: Console, session: Session, emissions: list[dict[str, Any]]) -> list[EmitResult]:
    """Emit a batch in ``session``'s transaction, in the given order (callers sort by ``alert_id``).

    Each item has ``emit``'s keyword arguments (ValueError, before anything is written, for a
    bad severity or status). The batch's work is done once:
    every alert row is locked by one ordered ``SELECT … FOR UPDATE`` (the new ones inserted
    first by one ``INSERT … ON CONFLICT DO NOTHING``), the latest decisions and the current
    tickets are read in one query each, and the auto-ticket flag is resolved once. A repeat that
    changes nothing but counters (no reminder due, ticket already reserved) runs its hooks
    without savepoints, and its row updates are flushed together at the end.
    """
    now = console.clock.now()
    items = [
        _values(
            e["source"],
            e["check"],
            e["severity"],
            e["title"],
            e.get("details", ""),
            e.get("labels"),
            e.get("status", FIRING),
        )
        for e in emissions
    ]
    for values in items:
        if values["severity"] not in SEVERITY_RANK or values["status"] not in STATUSES:
            raise ValueError(f"invalid severity or status: {values['severity']!r}, {values['status']!r}")
    identities = [alert_identity(v["source"], v["check"]) for v in items]
    new_rows: dict[str, dict[str, Any]] = {}
    for (alert_id, alert_key), values in zip(identities, items, strict=True):
        if values["status"] == FIRING and alert_id not in new_rows:
            new_rows[alert_id] = _new_row(alert_id, alert_key, now, values)
    alerts, inserted = lock_alerts(
        session, [alert_id for alert_id, _ in identities], [new_rows[k] for k in sorted(new_rows)]
    )
    ticket_ids = [a.ticket_pk for a in alerts.values() if a.ticket_pk is not None]
    # Held for the batch: the identity map is weak, and the hooks' ``session.get`` must hit it.
    tickets = list(session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))) if ticket_ids else []
    hooks = [AGGREGATOR, *(hook.name for hook in HOOKS)]
    preload_decisions(session, [a.id for a in alerts.values()], hooks)
    batch = _Batch(alerts, inserted, console.flags.is_enabled(AUTO_TICKET_FLAG), tickets)
    try:
        results = [_emit(console, session, batch=batch, now=now, **values) for values in items]
        session.flush()
    finally:
        forget_decisions(session)
    return results


def _emit(
    console: Console,
    session: Session,
    *,
    status: str,
    batch: _Batch | None = None,
    now: datetime | None = None,
    **values: Any,
) -> EmitResult:
    now = now or console.clock.now()
    alert_id, alert_key = alert_identity(values["source"], values["check"])
    if batch is None:
        alert = lock_alert(session, alert_id)
    elif alert_id in batch.unclaimed:
        alert = None  # inserted for this batch; it exists once its first firing entry claims it
    else:
        alert = batch.alerts.get(alert_id)
    if alert is None and status == FIRING:
        if batch is not None and alert_id in batch.unclaimed:
            batch.unclaimed.discard(alert_id)
            alert = batch.alerts[alert_id]
        else:
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
        quiet = batch is not None and _quiet_repeat(console, session, alert, now, batch)
        return _run(console, session, alert, "repeat", "repeat", previous, now, values, quiet=quiet)
    worse = SEVERITY_RANK[values["severity"]] < SEVERITY_RANK[previous]
    decision = "escalated" if worse else "deescalated"
    return _run(console, session, alert, "severity_change", decision, previous, now, values)


def _quiet_repeat(console: Console, session: Session, alert: Alert, now: datetime, batch: _Batch) -> bool:
    """True when no hook will write on this repeat: no Slack reminder due, the ticket (if any is
    due) already reserved or filed for this lifetime. Such a repeat needs no savepoints."""
    recipients = console.settings.SLACK_ALERT_DM_USER_IDS
    if recipients:
        if alert.slack_notified_at is None:
            return False
        interval = timedelta(seconds=console.settings.SLACK_REPEAT_INTERVAL)
        if now >= alert.slack_notified_at + interval:
            return False
    if not at_least(alert.severity, TICKET_THRESHOLD) or not batch.auto_ticket:
        return True
    if alert.ticket_pk is None or alert.ticket_lifetime != alert.lifetime:
        return False
    ticket = session.get(Ticket, alert.ticket_pk)  # preloaded: no query
    return ticket is not None and ticket.state in (TICKET_FILED, TICKET_PENDING)


def _new_row(alert_id: str, alert_key: str, now: datetime, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "alert_key": alert_key,
        "source": values["source"],
        "check": values["check"],
        "state": FIRING,
        "severity": values["severity"],
        "title": values["title"][:255],
        "details": "",
        "labels": {},
        "lifetime": 1,
        "first_seen_at": now,
        "fired_at": now,
        "last_emit_at": now,
        "emit_count": 0,
        "slack_seq": 0,
    }


def _insert(session: Session, alert_id: str, alert_key: str, now: datetime, values: dict[str, Any]) -> Alert:
    """Insert a new alert; if another writer inserted it first, lock and return theirs."""
    alert = Alert(**_new_row(alert_id, alert_key, now, values))
    alert.title = values["title"]
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
    *,
    quiet: bool = False,
) -> EmitResult:
    """Apply the emission to the row, record the aggregator's decision, then run every hook.

    ``quiet`` (a repeat no hook writes on): the hooks run without savepoints and the row's
    update waits for the batch's flush.
    """
    if event != "resolve":
        alert.severity = values["severity"]
    alert.title = values["title"][:255]
    alert.details = values["details"]
    alert.labels = values["labels"]
    alert.surface_id = values["labels"].get("surface_id") or None
    alert.last_emit_at = now
    alert.emit_count += 1
    if not quiet:
        session.flush()
    emission = Emission(console, session, alert, event, previous, now)
    reason = _aggregator_reason(emission, decision)
    record_decision(session, now, alert, AGGREGATOR, event, Decision(decision, reason))
    hooks: dict[str, str] = {}
    for hook in HOOKS:
        if hook.events is not None and event not in hook.events:
            continue
        try:
            if quiet:
                outcome = hook.run(emission)
            else:
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
