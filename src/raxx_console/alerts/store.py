"""Reading and writing alert rows and decisions: the row lock, the decision log, the page's queries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, TextClause

from raxx_console.alerts.emission import AlertSnapshot, Decision, Event
from raxx_console.alerts.models import FIRING, Alert, AlertDecision
from raxx_console.clock import iso
from raxx_console.db import insert_rows, json_rows, json_rowset
from raxx_console.tickets.models import ENTRY_ALERT, Ticket

#: Per (alert pk, hook): the ``_SAME`` fields of the hook's latest decision.
_Latest = dict[tuple[int, str], tuple[Any, ...]]


def lock_alert(session: Session, alert_id: str) -> Alert | None:
    """The alert row, locked for the rest of the transaction (None if there is none yet).

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite has no row locks; a no-op UPDATE first takes
    the database's write lock, so the read that follows cannot be overtaken by another writer.
    The row is read afresh: a batch's set-based statements may have changed it.
    """
    if session.get_bind().dialect.name == "sqlite":
        _take_sqlite_write_lock(session, [alert_id])
    return session.scalar(
        select(Alert)
        .where(Alert.alert_id == alert_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _take_sqlite_write_lock(session: Session, alert_ids: list[str]) -> None:
    session.execute(
        update(Alert)
        .where(Alert.alert_id.in_(alert_ids))
        .values(emit_count=Alert.emit_count)
        .execution_options(synchronize_session=False)
    )


_alerts = cast(Table, Alert.__table__)
_tickets = cast(Table, Ticket.__table__)
_SNAPSHOT = select(
    _alerts.c.id,
    _alerts.c.alert_id,
    _alerts.c.alert_key,
    _alerts.c.state,
    _alerts.c.severity,
    _alerts.c.lifetime,
    _alerts.c.fired_at,
    _alerts.c.emit_count,
    _alerts.c.slack_notified_at,
    _alerts.c.slack_seq,
    _alerts.c.ticket_pk,
    _alerts.c.ticket_lifetime,
    _tickets.c.state.label("ticket_state"),
    _tickets.c.ref.label("ticket_ref"),
    _tickets.c.ticket_id,
    _tickets.c.last_reason.label("ticket_last_reason"),
).select_from(_alerts.outerjoin(_tickets, _tickets.c.id == _alerts.c.ticket_pk))


def lock_alerts(
    session: Session, alert_ids: list[str], steady: list[str]
) -> tuple[dict[str, AlertSnapshot], DecisionLog]:
    """A batch's alert rows that exist, locked in ``alert_id`` order, and the batch's ``DecisionLog``.

    One ordered ``SELECT … FOR UPDATE`` locks the rows and reads each one's current ticket state
    (snapshots) and, on PostgreSQL, each hook's latest decision (one round trip, not two) —
    except for ``steady`` alerts (``"<alert_id> <severity>"``: the batch's one signal for it
    fires at that severity) whose row still is firing at it and holds a ``quiet_digest``: those
    are likely quiet repeats, and ``DecisionLog.quiet`` needs no look-up when their decisions
    have the same digest. Two batches sharing alerts lock them in the same order, so they cannot
    deadlock. SQLite has no row locks: a no-op UPDATE takes the write lock first, and the latest
    decisions are read by a query of their own.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        _take_sqlite_write_lock(session, alert_ids)
    decisions = DecisionLog(session)
    return _snapshots(session, alert_ids, decisions, None if sqlite else steady), decisions


def insert_alerts(
    session: Session, rows: list[dict[str, Any]], decisions: DecisionLog
) -> tuple[dict[str, int], dict[str, AlertSnapshot]]:
    """Brand-new alerts' rows (``alert_id`` order), each as its first fire leaves it, with one
    multi-row ``INSERT … ON CONFLICT DO NOTHING``: ``alert_id → pk`` of those it inserted, and
    the snapshots of those another writer inserted meanwhile (it is waited for, then they are
    locked and read like ``lock_alerts``'s)."""
    if not rows:
        return {}, {}
    added = insert_rows(session, _alerts, rows, on_conflict="(alert_id) DO NOTHING", returning="alert_id, id")
    inserted: dict[str, int] = {row[0]: row[1] for row in added}
    raced = [row["alert_id"] for row in rows if row["alert_id"] not in inserted]
    if not raced:
        return inserted, {}
    sqlite = session.get_bind().dialect.name == "sqlite"
    return inserted, _snapshots(session, raced, decisions, None if sqlite else [])


def point_at_ticket(session: Session, alert_pk: int, ticket_pk: int | None, lifetime: int | None) -> None:
    """Set an alert row's ticket (a first fire whose reservation was made one by one)."""
    session.execute(
        update(Alert)
        .where(Alert.id == alert_pk)
        .values(ticket_pk=ticket_pk, ticket_lifetime=lifetime)
        .execution_options(synchronize_session=False)
    )


def _snapshots(
    session: Session, alert_ids: list[str], decisions: DecisionLog, steady: list[str] | None
) -> dict[str, AlertSnapshot]:
    """The rows' snapshots, their digests and hooks' latest decisions noted in ``decisions``; on
    PostgreSQL (``steady`` not None) locked, and read with the lock unless the row is steady; on
    SQLite by a query of their own."""
    found: dict[str, AlertSnapshot] = {}
    if steady is None:
        for row in session.connection().execute(_SNAPSHOTS_SQLITE, {"ids": alert_ids}):
            found[row.alert_id] = AlertSnapshot(*row[:-1])  # ``_SNAPSHOT``'s columns are its fields
            decisions.digests[row.id] = row.quiet_digest
        decisions.read([snapshot.id for snapshot in found.values()])
        return found
    arrays = {"ids": _pg_array(alert_ids), "steady": _pg_array(steady)}
    for row in session.connection().execute(_LOCK_PG, arrays):
        snapshot = AlertSnapshot(*row[:-2])
        found[snapshot.alert_id] = snapshot
        decisions.known(snapshot.id, row[-2], row[-1])
    return found


_UPDATE_COLUMNS = (
    ("id", "bigint"),
    ("title", "text"),
    ("details", "text"),
    ("labels", "jsonb"),
    ("surface_id", "text"),
    ("quiet_digest", "bigint"),
)


def apply_emissions(session: Session, now: datetime, rows: list[dict[str, Any]]) -> None:
    """One ``UPDATE … FROM`` for the batch's quiet repeats: the counters moved, what the signal
    says (``title``/``details``/``labels``/``surface_id``; its severity is the row's) and the
    ``quiet_digest`` (``DecisionLog.quiet``'s). Counts and last-seen live here, on the alert row.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    statement = _apply_statement(dialect)
    session.connection().execute(statement, {"now": now, "rows": json_rows(dialect, rows)})


@lru_cache(maxsize=8)
def _apply_statement(dialect: Dialect) -> TextClause:
    """``apply_emissions``'s statement, built once per database: a batch only binds its rows."""
    return text(
        "UPDATE alerts AS a SET title = v.title, details = v.details, labels = v.labels, "  # noqa: S608
        "surface_id = v.surface_id, last_emit_at = :now, emit_count = a.emit_count + 1, "
        f"quiet_digest = v.quiet_digest FROM {json_rowset(dialect, _UPDATE_COLUMNS)} WHERE a.id = v.id"
    ).bindparams(bindparam("now", type_=_alerts.c.last_emit_at.type))


#: ``session.info`` key of the batch's ``DecisionLog`` while it holds the alerts' row locks.
DECISION_LOG = "alert_decision_log"

#: What makes two decisions the same (a repeat of the same decision writes nothing).
_SAME = ("lifetime", "event", "decision", "reason", "ticket_pk", "severity", "status")


class DecisionLog:
    """A batch's decisions: compared with each hook's latest, written together by ``write``.

    The latest decision of every hook for the batch's (locked) alerts is read with the lock
    (``lock_alerts``) or by ``read``; a decision equal to its hook's latest is not written again —
    how often an alert repeated is its row's ``emit_count`` and ``last_emit_at``. New ones go in
    with one multi-row insert. A quiet repeat (``quiet``) is compared with the digest its alert
    row keeps of the last quiet repeat's decisions first: the same digest means the same
    decisions, still every hook's latest (any other decision clears the digest), so nothing is
    written and nothing needs reading; otherwise the latest decisions are read, for all such
    alerts of the batch at once.
    """

    def __init__(self, session: Session, alert_pks: Sequence[int] = ()) -> None:
        """The latest decisions of ``alert_pks`` read now; other alerts' come from ``known``/``read``."""
        self.session = session
        self.latest: _Latest = {}
        #: alert pk → its row's ``quiet_digest``.
        self.digests: dict[int, int | None] = {}
        #: Alerts whose latest decisions were not read with the lock (read when needed).
        self.unread: set[int] = set()
        self.deferred: list[tuple[datetime, AlertSnapshot, list[tuple[str, Event, Decision]]]] = []
        self.rows: list[dict[str, Any]] = []
        self.read(alert_pks)

    def known(self, alert_pk: int, digest: int | None, latest: list[list[Any]] | None) -> None:
        """What the lock read of an alert: its digest and its hooks' latest (None: not read)."""
        self.digests[alert_pk] = digest
        if latest is None:
            self.unread.add(alert_pk)
        for hook, *same in latest or ():
            self.latest[(alert_pk, hook)] = tuple(same)

    def read(self, alert_pks: Sequence[int]) -> None:
        """Read each hook's latest decision for ``alert_pks``, in one query."""
        if not alert_pks:
            return
        for alert_pk, hook, *same in self.session.execute(*_latest_decisions(self.session, alert_pks)):
            self.latest[(alert_pk, hook)] = tuple(same)
        self.unread.difference_update(alert_pks)

    def add(
        self, now: datetime, alert: Alert | AlertSnapshot, hook: str, event: Event, decision: Decision
    ) -> bool:
        """Keep the decision unless it equals the hook's latest; True when it will be written."""
        if alert.id in self.unread:
            self.read([alert.id])
        same = _same(alert, event, decision)
        if self.latest.get((alert.id, hook)) == same:
            return False
        self.latest[(alert.id, hook)] = same
        self.rows.append(
            {
                "alert_pk": alert.id,
                "alert_key": alert.alert_key,
                "hook": hook,
                **dict(zip(_SAME, same, strict=True)),
                "created_at": now,
            }
        )
        return True

    def quiet(self, now: datetime, alert: AlertSnapshot, decided: list[tuple[str, Event, Decision]]) -> int:
        """A quiet repeat's decisions (hook, event, decision): kept unless the row's digest says
        they are every hook's latest already. Returns their digest, for the alert row."""
        digest = _digest([(hook, *_same(alert, event, decision)) for hook, event, decision in decided])
        if self.digests.get(alert.id) == digest:
            return digest
        if alert.id in self.unread:
            self.deferred.append((now, alert, decided))
        else:
            for hook, event, decision in decided:
                self.add(now, alert, hook, event, decision)
        return digest

    def write(self, session: Session) -> int:
        if self.deferred:
            self.read(sorted({alert.id for _, alert, _ in self.deferred}))
            for now, alert, decided in self.deferred:
                for hook, event, decision in decided:
                    self.add(now, alert, hook, event, decision)
            self.deferred.clear()
        insert_rows(session, cast(Table, AlertDecision.__table__), self.rows)
        return len(self.rows)


def _same(alert: Alert | AlertSnapshot, event: Event, decision: Decision) -> tuple[Any, ...]:
    """The ``_SAME`` fields of a decision about ``alert``."""
    return (
        alert.lifetime,
        event,
        decision.decision,
        decision.reason,
        decision.ticket_pk,
        alert.severity,
        alert.state,
    )


def _digest(decided: list[tuple[Any, ...]]) -> int:
    """A signed 64-bit digest of decisions, the same in every process (a ``bigint`` column)."""
    raw = hashlib.blake2b(repr(decided).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big", signed=True)


_decisions = cast(Table, AlertDecision.__table__)
_HOOK_AND_SAME = ", ".join(("hook", *_SAME))
_LATEST_COLUMNS = f"alert_pk, {_HOOK_AND_SAME}"
#: PostgreSQL: per alert, one walk of ``ix_alert_decisions_alert_hook`` (newest first per hook),
#: whatever the table's size and however stale its statistics (a plain ``alert_pk IN (…)`` with
#: ``GROUP BY`` was planned as a scan of the whole table once it grew faster than ANALYZE ran).
_LATEST_PG = text(
    f"SELECT {_LATEST_COLUMNS} FROM unnest(CAST(string_to_array(:pks, ',') AS bigint[])) AS p(pk) "  # noqa: S608
    f"CROSS JOIN LATERAL (SELECT DISTINCT ON (hook) {_LATEST_COLUMNS} FROM alert_decisions "
    "WHERE alert_pk = p.pk ORDER BY hook, id DESC) AS d"
)


#: The same walk for the alert row of ``_SNAPSHOT``: ``[[hook, *_SAME], …]`` (``[]``: none yet).
_LATEST_OF_ROW: ColumnElement[Any] = literal_column(
    f"(SELECT COALESCE(json_agg(json_build_array({_HOOK_AND_SAME})), '[]') FROM "  # noqa: S608
    f"(SELECT DISTINCT ON (hook) {_HOOK_AND_SAME} FROM alert_decisions "
    "WHERE alert_pk = alerts.id ORDER BY hook, id DESC) AS d)"
)


_SNAPSHOTS_SQLITE = (
    _SNAPSHOT.add_columns(_alerts.c.quiet_digest)
    .where(_alerts.c.alert_id.in_(bindparam("ids", expanding=True)))
    .order_by(_alerts.c.alert_id)
)
#: A steady row (see ``lock_alerts``): ``steady`` holds ``"<alert_id> <severity>"`` strings.
_STEADY = and_(
    _alerts.c.quiet_digest.is_not(None),
    _alerts.c.state == FIRING,
    (_alerts.c.alert_id + " " + _alerts.c.severity)
    == any_(func.string_to_array(bindparam("steady", type_=Text), ",", type_=ARRAY(Text))),
)
#: PostgreSQL's lock: one parameter per list (not a bound value per alert), the same
#: statement for every batch; each list is sent as one string (``_pg_array``).
_LOCK_PG = (
    _SNAPSHOT.add_columns(
        _alerts.c.quiet_digest, case((_STEADY, null()), else_=_LATEST_OF_ROW).label("latest")
    )
    .where(
        _alerts.c.alert_id == any_(func.string_to_array(bindparam("ids", type_=Text), ",", type_=ARRAY(Text)))
    )
    .order_by(_alerts.c.alert_id)
    .with_for_update(of=_alerts)
)


def _pg_array(values: Iterable[str]) -> str:
    """``values`` (alert ids, ``"<alert_id> <severity>"``, pks: never a comma) as one string for
    ``string_to_array(…, ',')``: psycopg dumps a list element by element in Python (two lists of
    50 ids: ~280 µs a batch), a string at once. ``string_to_array`` is immutable, so the planner
    sees the array's elements (a cast from text is not: the lock was planned blind)."""
    return ",".join(values)


def _latest_decisions(session: Session, alert_pks: Sequence[int]) -> tuple[Any, ...]:
    """The statement (and its parameters) reading each hook's latest decision for ``alert_pks``."""
    if session.get_bind().dialect.name == "postgresql":
        return _LATEST_PG, {"pks": _pg_array(str(pk) for pk in alert_pks)}
    newest = (
        select(func.max(_decisions.c.id))
        .where(_decisions.c.alert_pk.in_(alert_pks))
        .group_by(_decisions.c.alert_pk, _decisions.c.hook)
    )
    columns = [_decisions.c.alert_pk, _decisions.c.hook, *(_decisions.c[name] for name in _SAME)]
    return (select(*columns).where(_decisions.c.id.in_(newest)),)


def record_decision(
    session: Session, now: datetime, alert: Alert, hook: str, event: Event, decision: Decision
) -> None:
    """Keep a decision unless it equals the hook's latest (in the batch's log while one is open).

    Clears the alert's ``quiet_digest``: its next quiet repeat reads the latest decisions."""
    alert.quiet_digest = None
    batch: DecisionLog | None = session.info.get(DECISION_LOG)
    if batch is None:
        session.flush()
        single = DecisionLog(session, [alert.id])
        single.add(now, alert, hook, event, decision)
        single.write(session)
    else:
        batch.add(now, alert, hook, event, decision)


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
        "at": iso(decision.created_at),
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
