"""Reading and writing alert rows and decisions: the row lock, the decision log, the page's queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from raxx_console.alerts.emission import Decision, Event
from raxx_console.alerts.models import Alert, AlertDecision
from raxx_console.clock import iso
from raxx_console.tickets.models import ENTRY_ALERT, Ticket


def lock_alert(session: Session, alert_id: str) -> Alert | None:
    """The alert row, locked for the rest of the transaction (None if there is none yet).

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite has no row locks; a no-op UPDATE first takes
    the database's write lock, so the read that follows cannot be overtaken by another writer.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Alert)
            .where(Alert.alert_id == alert_id)
            .values(emit_count=Alert.emit_count)
            .execution_options(synchronize_session=False)
        )
    return session.scalar(select(Alert).where(Alert.alert_id == alert_id).with_for_update())


#: ``session.info`` key of the batch's ``(alert_pk, hook) → latest AlertDecision | None`` map,
#: filled by ``preload_decisions`` while the batch holds the alerts' row locks.
LAST_DECISIONS = "alert_last_decisions"


def lock_alerts(
    session: Session, alert_ids: list[str], new_rows: list[dict[str, Any]]
) -> tuple[dict[str, Alert], set[str]]:
    """A batch's alert rows, locked in ``alert_id`` order with one statement; ``new_rows`` inserted first.

    ``new_rows`` (``alert_id`` order, ``emit_count`` 0) go in with one multi-row ``INSERT … ON
    CONFLICT DO NOTHING``; the ids it inserted are returned, so the caller knows which rows are
    brand new (another writer's concurrent insert waits for it, then counts as existing). SQLite
    has no row locks: the insert, or a no-op UPDATE, takes the database's write lock first.
    """
    ids = sorted(set(alert_ids))
    sqlite = session.get_bind().dialect.name == "sqlite"
    inserted: set[str] = set()
    if new_rows:
        insert = sqlite_insert if sqlite else pg_insert
        table = cast(Table, Alert.__table__)
        statement = (
            insert(table).on_conflict_do_nothing(index_elements=["alert_id"]).returning(table.c.alert_id)
        )
        # executemany with RETURNING: one multi-row statement (insertmanyvalues), compiled once.
        result = session.connection().execute(statement, new_rows)
        inserted = set(result.scalars())
    if sqlite:
        session.execute(
            update(Alert)
            .where(Alert.alert_id.in_(ids))
            .values(emit_count=Alert.emit_count)
            .execution_options(synchronize_session=False)
        )
    rows = session.scalars(
        select(Alert)
        .where(Alert.alert_id.in_(ids))
        .order_by(Alert.alert_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {alert.alert_id: alert for alert in rows}, inserted


def preload_decisions(session: Session, alert_pks: list[int], hooks: list[str]) -> None:
    """Read the latest decision of every ``hooks`` for the (locked) alerts in one query.

    ``record_decision`` then compares with these instead of reading each one; only valid while
    the row locks are held, so the caller clears it (``forget_decisions``) when the batch ends.
    """
    known: dict[tuple[int, str], AlertDecision | None] = {
        (pk, hook): None for pk in alert_pks for hook in hooks
    }
    if alert_pks:
        latest = (
            select(func.max(AlertDecision.id))
            .where(AlertDecision.alert_pk.in_(alert_pks))
            .group_by(AlertDecision.alert_pk, AlertDecision.hook)
        )
        for row in session.scalars(select(AlertDecision).where(AlertDecision.id.in_(latest))):
            known[(row.alert_pk, row.hook)] = row
    session.info[LAST_DECISIONS] = known


def forget_decisions(session: Session) -> None:
    session.info.pop(LAST_DECISIONS, None)


def record_decision(
    session: Session, now: datetime, alert: Alert, hook: str, event: Event, decision: Decision
) -> AlertDecision:
    """Keep a decision; one identical to the hook's previous one (a repeat) only bumps its count."""
    known: dict[tuple[int, str], AlertDecision | None] | None = session.info.get(LAST_DECISIONS)
    if known is not None and (alert.id, hook) in known:
        last = known[(alert.id, hook)]
    else:
        last = session.scalar(
            select(AlertDecision)
            .where(AlertDecision.alert_pk == alert.id, AlertDecision.hook == hook)
            .order_by(AlertDecision.id.desc())
            .limit(1)
        )
    same = last is not None and (
        last.lifetime,
        last.event,
        last.decision,
        last.reason,
        last.ticket_pk,
        last.severity,
        last.status,
    ) == (
        alert.lifetime,
        event,
        decision.decision,
        decision.reason,
        decision.ticket_pk,
        alert.severity,
        alert.state,
    )
    if same:
        assert last is not None
        last.count += 1
        last.last_at = now
        return last
    row = AlertDecision(
        alert_pk=alert.id,
        alert_key=alert.alert_key,
        lifetime=alert.lifetime,
        hook=hook,
        event=event,
        decision=decision.decision,
        reason=decision.reason,
        severity=alert.severity,
        status=alert.state,
        ticket_pk=decision.ticket_pk,
        created_at=now,
        last_at=now,
        count=1,
    )
    session.add(row)
    if known is not None:
        known[(alert.id, hook)] = row
    return row


# --- what the alerts page, its JSON and ``alerts why`` show ------------------------------------


@dataclass(frozen=True)
class AlertView:
    """An alert with its tickets (every lifetime) and its decisions, oldest first."""

    alert: Alert
    tickets: list[Ticket]
    decisions: list[AlertDecision]

    @property
    def ticket_decision(self) -> AlertDecision | None:
        """The auto-ticket hook's latest word: the one-line answer to "why no ticket?"."""
        return next((d for d in reversed(self.decisions) if d.hook == "auto_ticket"), None)

    @property
    def current_ticket(self) -> Ticket | None:
        return next((t for t in self.tickets if t.id == self.alert.ticket_pk), None)

    def to_json(self) -> dict[str, Any]:
        alert = self.alert
        return {
            "alert_key": alert.alert_key,
            "alert_id": alert.alert_id,
            "source": alert.source,
            "check": alert.check,
            "state": alert.state,
            "severity": alert.severity,
            "title": alert.title,
            "details": alert.details,
            "labels": alert.labels,
            "surface_id": alert.surface_id,
            "lifetime": alert.lifetime,
            "first_seen_at": iso(alert.first_seen_at),
            "fired_at": iso(alert.fired_at),
            "resolved_at": iso(alert.resolved_at),
            "last_emit_at": iso(alert.last_emit_at),
            "emissions_this_lifetime": alert.emit_count,
            "ticket": _ticket_json(self.current_ticket),
            "tickets": [_ticket_json(t) for t in self.tickets],
            "decisions": [_decision_json(d) for d in self.decisions],
        }


def _ticket_json(ticket: Ticket | None) -> dict[str, Any] | None:
    if ticket is None:
        return None
    return {
        "ref": ticket.ref,
        "state": ticket.state,
        "severity": ticket.severity,
        "ticket_id": ticket.ticket_id,
        "ticket_url": ticket.ticket_url,
        "fs_status": ticket.fs_status,
        "created_at": iso(ticket.created_at),
        "filed_at": iso(ticket.filed_at),
        "auto_closed_at": iso(ticket.auto_closed_at),
        "last_reason": ticket.last_reason,
    }


def _decision_json(decision: AlertDecision) -> dict[str, Any]:
    return {
        "lifetime": decision.lifetime,
        "hook": decision.hook,
        "event": decision.event,
        "decision": decision.decision,
        "reason": decision.reason,
        "severity": decision.severity,
        "status": decision.status,
        "count": decision.count,
        "first_at": iso(decision.created_at),
        "last_at": iso(decision.last_at),
    }


def find_alert(session: Session, key: str) -> Alert | None:
    """By ``alert_key`` (``status_poller:3f9a…``), or by a prefix of ``alert_id`` of 8 or more characters."""
    alert = session.scalar(select(Alert).where(Alert.alert_key == key))
    if alert is None and len(key) >= 8 and ":" not in key:
        matches = list(session.scalars(select(Alert).where(Alert.alert_id.startswith(key.lower())).limit(2)))
        alert = matches[0] if len(matches) == 1 else None
    return alert


def alert_views(session: Session, alerts: list[Alert], decisions_per_alert: int = 50) -> list[AlertView]:
    """Each alert with its tickets and (the newest ``decisions_per_alert``) decisions, in three queries."""
    if not alerts:
        return []
    keys = [a.alert_key for a in alerts]
    tickets: dict[str, list[Ticket]] = {key: [] for key in keys}
    for ticket in session.scalars(
        select(Ticket).where(Ticket.entry == ENTRY_ALERT, Ticket.dedup_key.in_(keys)).order_by(Ticket.id)
    ):
        tickets[ticket.dedup_key].append(ticket)
    decisions: dict[int, list[AlertDecision]] = {a.id: [] for a in alerts}
    for decision in session.scalars(
        select(AlertDecision).where(AlertDecision.alert_pk.in_(decisions)).order_by(AlertDecision.id)
    ):
        decisions[decision.alert_pk].append(decision)
    return [AlertView(a, tickets[a.alert_key], decisions[a.id][-decisions_per_alert:]) for a in alerts]


def list_alerts(session: Session, state: str | None = None, limit: int = 200) -> list[Alert]:
    """Firing first, then the most recently heard from."""
    query = select(Alert).order_by((Alert.state == "firing").desc(), Alert.last_emit_at.desc()).limit(limit)
    if state is not None:
        query = query.where(Alert.state == state)
    return list(session.scalars(query))
