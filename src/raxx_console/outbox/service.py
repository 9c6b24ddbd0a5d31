"""Enqueue, lease, claim, cancel and deliver outbox items; what the health panel reads of them.

Producers ``enqueue`` an item in the same transaction as the state change that calls for it
(an alert fired, a click reserved a ticket), so the two commit or vanish together; a batch's
many items go in with one statement through ``enqueue_many``, the bulk door. A transaction that
enqueued anything sends one ``NOTIFY`` as it commits (docs/decisions.md); each process's
listener thread turns it into a ring that wakes its idle waiter and its busy loops. Deliverers
``claim`` due items with a lease — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and a conditional
update on both backends, so two deliverers never hold the same item — then run the kind's
handler with no transaction open across the HTTP call, and record what happened.

Delivery runs one pool per third party (``POOLS``): FreeScout work and Slack DMs never wait
behind each other, and a pool claims again as soon as one of its items finishes rather than
in batches that wait for the slowest. While a service is down its items back off; a cheap probe
(the one earliest waiting item, made due every ``PROBE_SECONDS``) finds out when it answers
again, and then every item waiting on that service becomes due at once and drains at the pool's
rate (``docs/decisions.md``: recovery makes the backlog due).

The handler table is explicit (``OUTBOX_HANDLERS`` in ``raxx_console/jobs.py``) and handed to
the Console by the process that builds it (``use_handlers``). An item whose kind has no handler
is retried, never dropped: the health panel raises it as a problem until a release handles it.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import ColumnElement, Integer, Row, Table, Update, bindparam, func, or_, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from raxx_console import call_failures
from raxx_console.clock import Clock, as_utc
from raxx_console.config import Settings
from raxx_console.db import insert_rows
from raxx_console.outbox.kinds import CREATE_KIND, component_of
from raxx_console.outbox.models import (
    OUTBOX_CANCELLED,
    OUTBOX_DONE,
    OUTBOX_EXPIRED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OutboxItem,
)

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.outbox")

NOTIFY_CHANNEL = "raxx_outbox"
#: Longer than any handler may take (a few FreeScout calls at their timeout), so a live
#: deliverer never loses its item; a dead one's item is picked up once the lease runs out.
LEASE_SECONDS = 120.0
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0
#: While items wait on a service that is down, the earliest one is retried this often (a probe:
#: one call, so a recovery is seen within seconds; ``docs/decisions.md``).
PROBE_SECONDS = 2.0
#: How often a busy loop looks for new work when nothing rang (``_ring``): a net for a NOTIFY
#: missed while the listener reconnects, not the way new work is found.
CLAIM_POLL_SECONDS = 0.5
#: Where the Console keeps this process's handler table.
HANDLERS_KEY = "outbox_handlers"
#: The reason an item of a kind nobody handles keeps (it stays pending, retried at the cap).
NO_HANDLER = "no_handler"
#: The reason an item keeps while it waits for its Ticket to be filed.
TICKET_NOT_FILED = "ticket_not_filed"
#: The reason an item keeps while it waits for the item it follows (``Result.wait_for_item``).
WAITING_FOR_ITEM = "waiting_for_item"
#: Payload key: the item that waits for this one, ``[kind, dedup_key]`` (``followed_by``).
FOLLOWER_KEY = "follower"
#: An item created waiting for the item it follows (``NewItem.waits``) is tried after this long
#: even if no end wakes it: a net, not the way it goes out.
WAIT_NET_SECONDS = 60.0
#: Payload key: how many of the item's attempts certainly did not reach its service.
UNSENT_KEY = "unsent_attempts"
#: Terminal states that mean "this call did not happen" (cancelled is a deliberate stop).
FAILED_STATES = (OUTBOX_FAILED, OUTBOX_EXPIRED)

#: Set after a commit that enqueued work, so this process's deliverer wakes at once.
local_wakeup = threading.Event()
#: The finished-queues of the running ``deliver_due`` loops: a ring wakes them too.
_running_loops: set[queue.SimpleQueue[Any]] = set()
_running_loops_lock = threading.Lock()


def _ring() -> None:
    """New work, here (a local commit) or from another process (a NOTIFY): wake the idle waiter
    and every running ``deliver_due``, which otherwise would look only when one of its items
    finished or after ``CLAIM_POLL_SECONDS`` (a low-load alert that came in while the previous
    one's DM was in flight waited 136-196 ms for its claim)."""
    local_wakeup.set()
    with _running_loops_lock:
        for finished in _running_loops:
            finished.put(None)


Status = Literal["done", "retry", "failed", "cancelled", "expired"]


@dataclass(frozen=True)
class Result:
    """What a handler made of one attempt."""

    status: Status
    reason: str | None = None
    detail: str | None = None
    retry_after: float | None = None
    #: The handler already settled its item (``settle_done``) in its own final transaction.
    settled: bool = False
    #: A retry that waits for this Ticket to be filed: the filing makes the item due.
    ticket_pk: int | None = None
    #: A retry that waits for the item ``(kind, dedup_key)`` to end: its end makes this one due.
    after: tuple[str, str] | None = None
    #: A retry whose attempt certainly did not reach the service (refused, or refused before
    #: acting): counted on the item, so a later attempt knows no earlier one may have acted.
    unsent: bool = False

    @classmethod
    def done(cls, detail: str | None = None) -> Result:
        return cls("done", detail=detail)

    @classmethod
    def settled_done(cls, detail: str | None = None) -> Result:
        """Done, and the item was marked done with the handler's state change (``settle_done``)."""
        return cls("done", detail=detail, settled=True)

    @classmethod
    def retry(
        cls, reason: str, detail: str | None = None, retry_after: float | None = None, *, unsent: bool = False
    ) -> Result:
        return cls("retry", reason, detail, retry_after, unsent=unsent)

    @classmethod
    def wait_for_ticket(cls, ticket_pk: int | None, detail: str) -> Result:
        """Retry once the Ticket is filed: the end of its ``freescout.create`` item makes this
        item due (until then it is retried after ``WAIT_NET_SECONDS``, in case the ticket ends
        otherwise). A wait is not an attempt (``_retry_later``)."""
        return cls("retry", TICKET_NOT_FILED, detail, ticket_pk=ticket_pk)

    @classmethod
    def wait_for_item(cls, kind: str, dedup_key: str, detail: str) -> Result:
        """Retry once the pending item ``(kind, dedup_key)`` ends; that item names this one as
        its follower (``followed_by``), so its end makes this one due, without polling."""
        return cls("retry", WAITING_FOR_ITEM, detail, after=(kind, dedup_key))

    @classmethod
    def failed(cls, reason: str, detail: str | None = None) -> Result:
        return cls("failed", reason, detail)

    @classmethod
    def cancelled(cls, reason: str, detail: str | None = None) -> Result:
        return cls("cancelled", reason, detail)

    @classmethod
    def expired(cls, reason: str, detail: str | None = None) -> Result:
        return cls("expired", reason, detail)


Handler = Callable[["Console", OutboxItem], Result]


def use_handlers(console: Console, handlers: Mapping[str, Handler]) -> None:
    """Give the Console the table of handlers its deliverers run (``jobs.OUTBOX_HANDLERS``)."""
    console.components[HANDLERS_KEY] = handlers


def handlers_of(console: Console) -> Mapping[str, Handler]:
    """The Console's handler table (empty until ``use_handlers``)."""
    table: Mapping[str, Handler] = console.components.get(HANDLERS_KEY, {})
    return table


def registered_kinds(console: Console) -> list[str]:
    return sorted(handlers_of(console))


# --------------------------------------------------------------------------- writing items


#: ``session.info`` key: this transaction has enqueued work, so its commit sends one NOTIFY.
_NOTIFY_PENDING = "outbox_notify_pending"


def _wake_after_commit(session: Session) -> None:
    """One wake-up per transaction, however many items it enqueued.

    PostgreSQL: one ``NOTIFY`` just before the *outer* commit (inside the transaction, so it is
    delivered with the commit, never for work that rolled back, and not lost with a savepoint).
    This process's deliverer wakes after that commit. The listeners stay on the session and act
    only while ``session.info`` says this transaction enqueued something.
    """
    session.info[_NOTIFY_PENDING] = True
    if not sa_event.contains(session, "before_commit", _notify_before_commit):
        sa_event.listen(session, "before_commit", _notify_before_commit)
        sa_event.listen(session, "after_commit", _wake_local_deliverer)
        sa_event.listen(session, "after_rollback", _forget_wakeup)


def _notify_before_commit(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.get(_NOTIFY_PENDING):
        return  # a savepoint released, not the commit; or nothing enqueued
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, 'outbox')"), {"channel": NOTIFY_CHANNEL})


def _wake_local_deliverer(session: Session) -> None:
    # after_commit fires for a savepoint's release too; the session is still "in" the
    # transaction that just committed, so only a nested one tells the two apart.
    if not session.in_nested_transaction() and session.info.pop(_NOTIFY_PENDING, None):
        _ring()


def _forget_wakeup(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_NOTIFY_PENDING, None)


@dataclass(frozen=True)
class NewItem:
    """One item to enqueue: what ``enqueue`` takes, as a value, for ``enqueue_many``."""

    kind: str
    dedup_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    ticket_pk: int | None = None
    expires_at: datetime | None = None
    #: Created waiting for the item that names it as its follower (``followed_by``), which is
    #: enqueued with it: due at that item's end, so its first attempt is not spent finding it
    #: still pending (a Slack ticket link and its DM).
    waits: bool = False


def followed_by(payload: dict[str, Any], kind: str, dedup_key: str) -> dict[str, Any]:
    """``payload`` naming the item that will wait for this one (``Result.wait_for_item``): this
    item's end makes that one due in the same transaction."""
    return {**payload, FOLLOWER_KEY: [kind, dedup_key]}


def may_have_acted(item: OutboxItem) -> bool:
    """An earlier attempt of ``item`` may have reached its service: one that failed uncertainly
    (a timeout, a dropped connection, a 5xx) or never recorded how it ended (its deliverer died).
    Only then must a create look for what that attempt may have made before making it again."""
    return item.attempts - 1 > int(item.payload.get(UNSENT_KEY, 0))


def _row(now: datetime, item: NewItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "dedup_key": item.dedup_key[:200],
        "ticket_pk": item.ticket_pk,
        "payload": dict(item.payload),
        "state": OUTBOX_PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now + timedelta(seconds=WAIT_NET_SECONDS) if item.waits else now,
        "last_reason": WAITING_FOR_ITEM if item.waits else None,
        "lease_until": None,
        "expires_at": item.expires_at,
    }


def enqueue(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    dedup_key: str,
    payload: dict[str, Any] | None = None,
    ticket_pk: int | None = None,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    lease_for: float | None = None,
    waits: bool = False,
) -> OutboxItem | None:
    """Add a pending item in the caller's transaction; None if one is already pending for the key.

    ``lease_for`` claims the item for the caller at once (entry A delivers inline while the
    operator waits; the worker takes over only if that lease runs out).
    """
    now = clock.now()
    item = OutboxItem(**_row(now, NewItem(kind, dedup_key, payload or {}, ticket_pk, expires_at, waits)))
    item.next_attempt_at = due_at or item.next_attempt_at
    if lease_for:
        item.attempts, item.lease_until = 1, now + timedelta(seconds=lease_for)
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        return None
    _wake_after_commit(session)
    return item


def enqueue_many(session: Session, clock: Clock, items: Sequence[NewItem]) -> int:
    """The bulk door: add many pending items with one statement; the number added.

    An item whose key already has a pending item is skipped, as ``enqueue`` would (the partial
    unique index decides, with ``ON CONFLICT DO NOTHING``). One wake-up for the transaction.
    """
    if not items:
        return 0
    now = clock.now()
    added = len(
        insert_rows(
            session,
            cast(Table, OutboxItem.__table__),
            [_row(now, item) for item in items],
            on_conflict=f"(kind, dedup_key) WHERE state = '{OUTBOX_PENDING}' DO NOTHING",
            returning="id",
        )
    )
    if added:
        _wake_after_commit(session)
    return added


# --------------------------------------------------------------------------- the lease rule


def of_component(component: str) -> ColumnElement[bool]:
    """Items that call ``component`` (``freescout.%``)."""
    return OutboxItem.kind.startswith(f"{component}.")


def outage_reason(component: str) -> str:
    """The retry reason an item keeps while its service does not answer (``freescout_unavailable``)."""
    return f"{component}_unavailable"


def unleased(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """The lease rule, written once: pending and held by no deliverer at ``now``."""
    return (OutboxItem.state == OUTBOX_PENDING) & or_(
        OutboxItem.lease_until.is_(None), OutboxItem.lease_until < now
    )


def backoff_seconds(attempts: int) -> float:
    """Capped exponential backoff with jitter: 5 s, 10 s, 20 s … at most 5 min."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.8, 1.0))


def claim_items(
    console: Console, *, limit: int = 50, where: ColumnElement[bool] | None = None
) -> list[OutboxItem]:
    """Lease up to ``limit`` due items (those ``where`` selects, if given: a pool's), oldest due
    first; detached copies of them, leased, so the deliverer need not read them again."""
    return _claim(console, _claim_statement(where, console.db.is_postgres), limit)


def _claim_statement(where: ColumnElement[bool] | None, postgres: bool) -> Update:
    """The claim as one statement, run with the parameters ``now``, ``until`` and ``limit`` (a
    pool builds it once: building it per claim was a fifth of a deliverer's CPU).

    The due ids (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) are leased by an ``UPDATE …
    RETURNING`` that checks the lease rule again, so two deliverers never hold the same item
    (SQLite runs the statement under its write lock). The ids are a materialized CTE: as an
    ``IN (subquery)`` PostgreSQL may scan them again, and a second ``SKIP LOCKED`` scan passes
    over the rows the first one leased and returns more — past ``limit``.
    """
    at = OutboxItem.__table__.c.next_attempt_at.type
    now = bindparam("now", type_=at)
    due = (
        select(OutboxItem.id)
        .where(unleased(now), OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    if where is not None:
        due = due.where(where)
    if postgres:
        due = due.with_for_update(skip_locked=True)
    ids = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    return (
        update(OutboxItem)
        .where(OutboxItem.id.in_(select(ids.c.id)), unleased(now))
        .values(lease_until=bindparam("until", type_=at), attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem)
    )


def _claim(console: Console, statement: Update, limit: int) -> list[OutboxItem]:
    now = console.clock.now()
    until = now + timedelta(seconds=LEASE_SECONDS)
    with console.db.session() as session:
        items = list(
            session.scalars(
                statement,
                {"now": now, "until": until, "limit": limit},
                execution_options={"synchronize_session": False},
            )
        )
        session.expunge_all()
    return sorted(items, key=lambda item: (as_utc(item.next_attempt_at), item.id))


def claim_due(console: Console, *, limit: int = 50, where: ColumnElement[bool] | None = None) -> list[int]:
    """``claim_items``, by id."""
    return [item.id for item in claim_items(console, limit=limit, where=where)]


def cancel_pending(
    session: Session,
    now: datetime,
    *,
    kind: str,
    reason: str,
    ticket_pk: int | None = None,
    dedup_key: str | None = None,
) -> bool:
    """Cancel a pending item of ``kind`` (by ticket or dedup key) unless a deliverer holds it now.

    The same lease rule ``claim`` uses, so exactly one of the two wins: either the item is
    cancelled here, or it is in flight and its handler decides.
    """
    query = update(OutboxItem).where(OutboxItem.kind == kind, unleased(now))
    if ticket_pk is not None:
        query = query.where(OutboxItem.ticket_pk == ticket_pk)
    if dedup_key is not None:
        query = query.where(OutboxItem.dedup_key == dedup_key)
    result = session.execute(
        query.values(
            state=OUTBOX_CANCELLED, last_reason=reason, finished_at=now, lease_until=None
        ).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- reading items


def latest(session: Session, kind: str, dedup_key: str) -> OutboxItem | None:
    """The newest item of ``kind`` for ``dedup_key``, in any state."""
    return session.scalar(
        select(OutboxItem)
        .where(OutboxItem.kind == kind, OutboxItem.dedup_key == dedup_key)
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )


def in_flight(session: Session, kind: str, ticket_pk: int, now: datetime) -> bool:
    """True while a deliverer holds a pending item of ``kind`` about the ticket."""
    held = session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.kind == kind,
            OutboxItem.ticket_pk == ticket_pk,
            OutboxItem.state == OUTBOX_PENDING,
            OutboxItem.lease_until > now,
        )
    )
    return held is not None


def earlier_pending(session: Session, item: OutboxItem, *, key_prefix: str, key_suffix: str) -> bool:
    """True while an older pending item of the same kind has a dedup key of the same shape."""
    earlier = session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.kind == item.kind,
            OutboxItem.state == OUTBOX_PENDING,
            OutboxItem.id < item.id,
            OutboxItem.dedup_key.startswith(key_prefix, autoescape=True),
            OutboxItem.dedup_key.endswith(key_suffix, autoescape=True),
        )
    )
    return earlier is not None


# --------------------------------------------------------------------------- delivering


_END_STATES: dict[Status, str] = {
    "done": OUTBOX_DONE,
    "failed": OUTBOX_FAILED,
    "cancelled": OUTBOX_CANCELLED,
    "expired": OUTBOX_EXPIRED,
}


def record(console: Console, item_id: int, result: Result) -> None:
    """Write a handler's result onto its item and release the lease.

    An end (done, failed …) is one ``UPDATE … RETURNING`` that also makes due the items waiting
    for this one; a retry reads the item first, for its attempt count (the backoff).
    """
    now = console.clock.now()
    with console.db.session() as session:
        if result.status == "retry":
            item = session.get(OutboxItem, item_id)
            if item is None or item.state != OUTBOX_PENDING:
                return
            _retry_later(session, now, item, result)
            kind = item.kind
        else:
            ended = _end(session, now, item_id, _END_STATES[result.status], result.reason, result.detail)
            if ended is None:
                return
            kind = ended.kind
        call_failures.note(
            session,
            kind=kind,
            status=result.status,
            reason=result.reason,
            detail=result.detail,
            item_id=item_id,
            at=now,
        )
    if result.status in ("failed", "expired", "cancelled"):
        log.warning("outbox item %s kind=%s ended %s reason=%s", item_id, kind, result.status, result.reason)


def settle_done(session: Session, now: datetime, item_id: int, detail: str | None = None) -> None:
    """Mark a leased item done in the caller's transaction, so it commits with the state change
    its delivery made (a filed ticket and its audit row); the handler then returns
    ``Result.settled_done``. Items waiting for it (for the item's Ticket) become due with the
    same commit."""
    _end(session, now, item_id, OUTBOX_DONE, None, detail)


@cache
def _end_statement() -> Update:
    """Ending a pending item, as one statement built once per process (run with ``item_id``,
    ``end_state``, ``now``, ``end_reason``, ``end_detail``): building it per item, and the
    wake-up below, were a tenth of a deliverer's CPU (bench/drain.py ``--profile``)."""
    at = OutboxItem.__table__.c.finished_at.type
    return (
        update(OutboxItem)
        .where(OutboxItem.id == bindparam("item_id"), OutboxItem.state == OUTBOX_PENDING)
        .values(
            state=bindparam("end_state"),
            finished_at=bindparam("now", type_=at),
            lease_until=None,
            last_reason=bindparam("end_reason"),
            last_detail=bindparam("end_detail"),
        )
        .returning(OutboxItem.kind, OutboxItem.ticket_pk, OutboxItem.payload)
    )


def _end(
    session: Session, now: datetime, item_id: int, state: str, reason: str | None, detail: str | None
) -> Row[Any] | None:
    """End a pending item and make due the items waiting for it; its (kind, ticket_pk, payload),
    or None if it was no longer pending."""
    ended = session.execute(
        _end_statement(),
        {"item_id": item_id, "end_state": state, "now": now, "end_reason": reason, "end_detail": detail},
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if ended is not None:
        _wake_waiters(session, now, ended.kind, ended.ticket_pk, ended.payload)
    return ended


def _awaited(result: Result) -> ColumnElement[bool] | None:
    """The pending item a waiting retry waits for: its follower's leader, or its Ticket's create."""
    if result.after is not None:
        return (OutboxItem.kind == result.after[0]) & (OutboxItem.dedup_key == result.after[1])
    if result.reason == TICKET_NOT_FILED and result.ticket_pk is not None:
        return (OutboxItem.kind == CREATE_KIND) & (OutboxItem.ticket_pk == result.ticket_pk)
    return None


def _retry_later(session: Session, now: datetime, item: OutboxItem, result: Result) -> None:
    """Release ``item`` to be tried again after its backoff, or at once if what it waits for
    has already ended.

    No lost wake-up: the item is written first (on SQLite that takes the write lock), then what
    it waits for is read under a share lock, so either the awaited item's end sees this item
    waiting (``_wake_waiters``), or this read sees that end.
    """
    awaited = _awaited(result)
    if awaited is not None:
        # A wait is a look before any call, not a try at the service: the attempt is given back
        # (a link whose DM ended before its ticket was filed is still tried once), and what it
        # waits for makes it due, so its own retry is only a net.
        item.attempts -= 1
    net = WAIT_NET_SECONDS if awaited is not None else backoff_seconds(item.attempts)
    delay = result.retry_after if result.retry_after is not None else net
    item.lease_until, item.next_attempt_at = None, now + timedelta(seconds=delay)
    item.last_reason, item.last_detail = result.reason, result.detail
    if result.ticket_pk is not None:
        item.ticket_pk = result.ticket_pk
    if result.unsent:
        item.payload = {**item.payload, UNSENT_KEY: int(item.payload.get(UNSENT_KEY, 0)) + 1}
    if awaited is None:
        return
    session.flush()
    still_pending = session.scalar(
        select(OutboxItem.id)
        .where(awaited, OutboxItem.state == OUTBOX_PENDING)
        .limit(1)
        .with_for_update(read=True)
    )
    if still_pending is None:
        item.next_attempt_at = now
    else:
        # The share lock hid the awaited item from any claim running now (SKIP LOCKED): look
        # again once this commits, or a deliverer may go idle with that item due.
        _wake_after_commit(session)


def _wake_waiters(
    session: Session, now: datetime, kind: str, ticket_pk: int | None, payload: Mapping[str, Any]
) -> None:
    """In the transaction that ends an item: make due the items waiting for it — its follower
    (``followed_by``) and, for a Ticket's create, those waiting for the Ticket."""
    for_ticket = kind == CREATE_KIND and ticket_pk is not None
    follower = payload.get(FOLLOWER_KEY)
    if not (for_ticket or follower):
        return
    params: dict[str, Any] = {"now": now, "waiting_ticket": ticket_pk}
    if follower:
        params.update(follower_kind=follower[0], follower_key=follower[1])
    woken = session.execute(
        _wake_statement(for_ticket, bool(follower)),
        params,
        execution_options={"synchronize_session": False},
    )
    if woken.rowcount:  # type: ignore[attr-defined]
        _wake_after_commit(session)


@cache
def _wake_statement(for_ticket: bool, for_follower: bool) -> Update:
    """``_wake_waiters``' statement, built once per process for each of its three shapes."""
    now = bindparam("now", type_=OutboxItem.__table__.c.next_attempt_at.type)
    waiting = []
    if for_ticket:
        ticket = OutboxItem.ticket_pk == bindparam("waiting_ticket")
        waiting.append(ticket & (OutboxItem.last_reason == TICKET_NOT_FILED))
    if for_follower:
        waiting.append(
            (OutboxItem.kind == bindparam("follower_kind"))
            & (OutboxItem.dedup_key == bindparam("follower_key"))
            & (OutboxItem.last_reason == WAITING_FOR_ITEM)
        )
    return (
        update(OutboxItem)
        .where(unleased(now), OutboxItem.next_attempt_at > now, or_(*waiting))
        .values(next_attempt_at=now)
    )


def deliver(
    console: Console, item_id: int, *, item: OutboxItem | None = None, handler: Handler | None = None
) -> Result:
    """Run the handler for one leased item (no transaction held across it) and record the result.

    ``item``: the caller's detached copy of the item it just leased (``claim_items``, entry A's
    inline delivery), so it is not read again. ``handler``: the kind's handler with what the
    caller already holds bound in (entry A's click passes the ticket it just reserved).
    """
    if item is None:
        with console.db.session() as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return Result.cancelled("item_gone")
            session.expunge(item)
    handler = handler or handlers_of(console).get(item.kind)
    if item.expires_at is not None and console.clock.now() >= item.expires_at:
        result = Result.expired("expired_before_delivery")
    elif handler is None:
        log.error("outbox item %s kind=%s has no handler; it stays pending", item_id, item.kind)
        result = Result.retry(NO_HANDLER, f"no handler registered for {item.kind}", BACKOFF_CAP_SECONDS)
    else:
        try:
            result = handler(console, item)
        except Exception as exc:
            log.exception("outbox handler raised kind=%s item=%s; will retry", item.kind, item_id)
            result = Result.retry("handler_error", type(exc).__name__)
    if not result.settled:
        record(console, item_id, result)
    _note_service_state(console, component_of(item.kind), result)
    return result


# --------------------------------------------------------------------------- recovery

#: Where the Console keeps, per component, whether items wait on it and when it was last probed.
RECOVERY_KEY = "outbox_recovery"


@dataclass
class ServiceState:
    """This process's view of one third party: items known to wait on it, the last probe."""

    waiting: bool = True
    probed_at: datetime | None = None


def _service_state(console: Console, component: str) -> ServiceState:
    states: dict[str, ServiceState] = console.components.setdefault(RECOVERY_KEY, {})
    return states.setdefault(component, ServiceState())


def _note_service_state(console: Console, component: str, result: Result) -> None:
    """A call that got through ends the outage: the items waiting on the service become due."""
    state = _service_state(console, component)
    if result.status == "retry" and result.reason == outage_reason(component):
        state.waiting = True
    elif result.status == "done" and state.waiting:
        state.waiting = False
        recovered = recover(console, component)
        if recovered:
            log.info("outbox %s answers again; %d waiting items are due now", component, recovered)


def recover(console: Console, component: str) -> int:
    """Make every item waiting out an outage of ``component`` due now; how many.

    Not a thundering herd: they are claimed in their order at the pool's concurrency, and an
    item that fails again backs off from its own attempt count.
    """
    now = console.clock.now()
    with console.db.session() as session:
        result = session.execute(
            update(OutboxItem)
            .where(
                of_component(component),
                unleased(now),
                OutboxItem.last_reason == outage_reason(component),
                OutboxItem.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _until_next_probe(console: Console) -> float:
    """Seconds until a service items wait on is due its probe (infinite while none is waited on)."""
    now = console.clock.now()
    states: dict[str, ServiceState] = console.components.get(RECOVERY_KEY, {})
    return min(
        (
            PROBE_SECONDS - (now - state.probed_at).total_seconds()
            for state in states.values()
            if state.waiting and state.probed_at is not None
        ),
        default=float("inf"),
    )


def probe_waiting(console: Console, component: str) -> bool:
    """While items wait on a down service and none is due or in flight, make the earliest one due
    every ``PROBE_SECONDS``: one real call tells whether the service answers again."""
    state = _service_state(console, component)
    if not state.waiting:
        return False
    now = console.clock.now()
    if state.probed_at is None:
        state.probed_at = now
        return False
    if (now - state.probed_at).total_seconds() < PROBE_SECONDS:
        return False
    state.probed_at = now
    with console.db.session() as session:
        busy = session.scalar(
            select(OutboxItem.id)
            .where(
                of_component(component),
                OutboxItem.state == OUTBOX_PENDING,
                or_(OutboxItem.next_attempt_at <= now, OutboxItem.lease_until >= now),
            )
            .limit(1)
        )
        if busy is not None:
            return False
        earliest = session.scalar(
            select(OutboxItem.id)
            .where(of_component(component), unleased(now), OutboxItem.last_reason == outage_reason(component))
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(1)
        )
        if earliest is None:
            state.waiting = False
            return False
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == earliest)
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return True


# --------------------------------------------------------------------------- the pools


@dataclass(frozen=True)
class Pool:
    """Deliverers of one third party's items; the pool without a component takes every other kind."""

    name: str
    concurrency: Callable[[Settings], int]
    component: str | None = None


#: One pool per third party, so a slow FreeScout never delays a Slack DM. Their sizes are
#: settings (``OUTBOX_FREESCOUT_CONCURRENCY``, ``OUTBOX_SLACK_CONCURRENCY``).
POOLS: tuple[Pool, ...] = (
    Pool("freescout", lambda settings: settings.OUTBOX_FREESCOUT_CONCURRENCY),
    Pool("slack", lambda settings: settings.OUTBOX_SLACK_CONCURRENCY, component="slack"),
)


@cache
def _pool_claim(pool: Pool, postgres: bool) -> Update:
    """The pool's claim statement, built once per process."""
    return _claim_statement(_selects(pool), postgres)


def _selects(pool: Pool) -> ColumnElement[bool]:
    """The items ``pool`` claims."""
    if pool.component is not None:
        return of_component(pool.component)
    return ~or_(*(of_component(other.component) for other in POOLS if other.component is not None))


def _probed_components(pool: Pool) -> tuple[str, ...]:
    """The third parties whose outage the pool probes (the general pool: FreeScout)."""
    return (pool.component,) if pool.component is not None else ("freescout",)


def _finished(
    finished: queue.SimpleQueue[tuple[str, Future[Result]] | None], pool: str, future: Future[Result]
) -> None:
    finished.put((pool, future))


#: Where the Console keeps the stop switches of its running ``deliver_due`` calls.
STOPS_KEY = "outbox_stops"


def stop_delivering(console: Console) -> None:
    """Ask every running ``deliver_due`` of the Console to stop claiming (the worker is stopping):
    what is in flight finishes and is recorded, nothing new is started."""
    for stop in list(console.components.get(STOPS_KEY, ())):
        stop.set()
    listener = console.components.pop(LISTENER_KEY, None)
    if listener is not None:
        listener.stop()


def deliver_due(console: Console) -> int:
    """The worker job: deliver every due item, each pool claiming as its slots free; the number
    attempted. Returns once no pool has an item due or in flight, or after ``stop_delivering``
    once what is in flight has finished."""
    sizes = {pool.name: max(1, pool.concurrency(console.settings)) for pool in POOLS}
    in_flight = dict.fromkeys(sizes, 0)
    #: (pool, future) as each delivery finishes: the loop wakes per finished item, O(1) each;
    #: None when new work arrived (``_ring``).
    finished: queue.SimpleQueue[tuple[str, Future[Result]] | None] = queue.SimpleQueue()
    with _running_loops_lock:
        _running_loops.add(finished)
    idle: set[str] = set()
    attempted = 0
    stop = threading.Event()
    stops: set[threading.Event] = console.components.setdefault(STOPS_KEY, set())
    stops.add(stop)
    executors = {
        pool.name: ThreadPoolExecutor(max_workers=sizes[pool.name], thread_name_prefix=f"outbox-{pool.name}")
        for pool in POOLS
    }
    try:
        while True:
            if local_wakeup.is_set():
                local_wakeup.clear()
                idle.clear()
            for pool in POOLS:
                if stop.is_set():
                    break
                if any(probe_waiting(console, component) for component in _probed_components(pool)):
                    idle.discard(pool.name)
                free = sizes[pool.name] - in_flight[pool.name]
                if free <= 0 or pool.name in idle:
                    continue
                items = _claim(console, _pool_claim(pool, console.db.is_postgres), free)
                if len(items) < free:
                    idle.add(pool.name)
                for item in items:
                    future = executors[pool.name].submit(deliver, console, item.id, item=item)
                    in_flight[pool.name] += 1
                    future.add_done_callback(partial(_finished, finished, pool.name))
            if not any(in_flight.values()):
                return attempted
            try:
                ended = [finished.get(timeout=CLAIM_POLL_SECONDS)]
            except queue.Empty:
                idle.clear()  # nothing finished for a while: look for work other processes queued
                continue
            while not finished.empty():
                ended.append(finished.get_nowait())
            for end in ended:
                if end is None:
                    continue  # a ring: the loop's top sees ``local_wakeup`` and claims
                name, future = end
                in_flight[name] -= 1
                idle.discard(name)
                attempted += 1
                if future.exception() is not None:
                    log.error("outbox delivery failed outside its handler: %r", future.exception())
    finally:
        stops.discard(stop)
        with _running_loops_lock:
            _running_loops.discard(finished)
        for executor in executors.values():
            executor.shutdown(wait=True)


# --------------------------------------------------------------------------- read-outs


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_created_at: datetime | None


def backlog(session: Session) -> Backlog:
    """Pending items and the oldest one's age, for the health panel and /metrics."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxItem.created_at)).where(OutboxItem.state == OUTBOX_PENDING)
    ).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = as_utc(oldest)
    return Backlog(pending=count, oldest_created_at=oldest)


@dataclass(frozen=True)
class KindBacklog:
    """Pending outbox items of one kind; ``retrying`` have failed at least once already."""

    kind: str
    pending: int
    oldest_created_at: datetime
    retrying: int
    last_reason: str | None


def outbox_backlog(session: Session) -> list[KindBacklog]:
    """Pending items by kind, with the oldest one's creation time and how many are retrying."""
    rows = session.execute(
        select(
            OutboxItem.kind,
            func.count(),
            func.min(OutboxItem.created_at),
            func.count(OutboxItem.last_reason),
            func.max(OutboxItem.last_reason),
        )
        .where(OutboxItem.state == OUTBOX_PENDING)
        .group_by(OutboxItem.kind)
        .order_by(OutboxItem.kind)
    ).all()
    return [
        KindBacklog(kind=kind, pending=count, oldest_created_at=oldest, retrying=retrying, last_reason=reason)
        for kind, count, oldest, retrying, reason in rows
    ]


def delivered_since(session: Session, since: datetime) -> dict[str, int]:
    """Items delivered (done) since ``since``, by kind: how fast a backlog drains."""
    rows = session.execute(
        select(OutboxItem.kind, func.count())
        .where(OutboxItem.state == OUTBOX_DONE, OutboxItem.finished_at >= since)
        .group_by(OutboxItem.kind)
    ).all()
    return {kind: count for kind, count in rows}


def oldest_due_at(session: Session, now: datetime) -> datetime | None:
    """The oldest pending item that is due and held by no deliverer."""
    return session.scalar(
        select(func.min(OutboxItem.next_attempt_at)).where(unleased(now), OutboxItem.next_attempt_at <= now)
    )


def failure_counts(session: Session) -> dict[tuple[str, str, str], int]:
    """Outbox calls that ended without happening, by (component, kind, reason)."""
    query = (
        select(OutboxItem.kind, OutboxItem.last_reason, func.count())
        .where(OutboxItem.state.in_(FAILED_STATES), OutboxItem.last_reason.is_not(None))
        .group_by(OutboxItem.kind, OutboxItem.last_reason)
        .order_by(OutboxItem.kind, OutboxItem.last_reason)
    )
    return {
        (component_of(kind), kind, reason): count
        for kind, reason, count in session.execute(query).all()
        if reason is not None
    }


@dataclass(frozen=True)
class LastError:
    """The newest failed call of a component: ongoing (an item still retrying) or finished."""

    component: str
    kind: str
    reason: str
    item_id: int
    state: str
    attempts: int
    #: When the item ended (failed/expired); None while it is still retrying.
    at: datetime | None
    next_attempt_at: datetime | None
    detail: str | None
    #: No call of this component has succeeded since: the error is the current state of things.
    current: bool


def last_error(session: Session, component: str) -> LastError | None:
    """The component's error that matters most now: a failure no success has followed (it will
    recur: configuration, credentials), else an item still retrying (an outage, queued), else
    the newest failure of the past."""
    calls = of_component(component)
    with_reason = (calls, OutboxItem.last_reason.is_not(None))
    failed = session.scalar(
        select(OutboxItem)
        .where(*with_reason, OutboxItem.state.in_(FAILED_STATES))
        .order_by(OutboxItem.finished_at.desc(), OutboxItem.id.desc())
        .limit(1)
    )
    last_success = session.scalar(
        select(func.max(OutboxItem.finished_at)).where(calls, OutboxItem.state == OUTBOX_DONE)
    )
    unresolved = failed is not None and (
        last_success is None or failed.finished_at is None or last_success <= failed.finished_at
    )
    retrying = None
    if not unresolved:
        retrying = session.scalar(
            select(OutboxItem)
            .where(*with_reason, OutboxItem.state == OUTBOX_PENDING)
            .order_by(OutboxItem.next_attempt_at.desc(), OutboxItem.id.desc())
            .limit(1)
        )
    item = retrying or failed
    if item is None:
        return None
    return LastError(
        component=component,
        kind=item.kind,
        reason=item.last_reason or "",
        item_id=item.id,
        state=item.state,
        attempts=item.attempts,
        at=item.finished_at,
        next_attempt_at=item.next_attempt_at if retrying is not None else None,
        detail=item.last_detail,
        current=unresolved or retrying is not None,
    )


# --------------------------------------------------------------------------- waiting for work


def last_successes(session: Session, components: Iterable[str]) -> dict[str, datetime | None]:
    """Each component's newest successful call."""
    return {
        component: session.scalar(
            select(func.max(OutboxItem.finished_at)).where(
                OutboxItem.kind.like(f"{component}.%"), OutboxItem.state == OUTBOX_DONE
            )
        )
        for component in components
    }


def wait_for_work(console: Console, timeout: float, wakeup: threading.Event) -> None:
    """The outbox job's waiter: returns on a local enqueue, a PostgreSQL NOTIFY (once ``listen``
    runs, its listener rings), the timeout, or when a service that items wait on is due its next
    probe."""
    timeout = min(timeout, _until_next_probe(console))
    _wait_local(timeout, wakeup)
    local_wakeup.clear()


def _wait_local(timeout: float, wakeup: threading.Event) -> None:
    deadline = timeout
    step = 0.25
    while deadline > 0 and not wakeup.is_set() and not local_wakeup.is_set():
        local_wakeup.wait(min(step, deadline))
        deadline -= step


#: Where the Console keeps its NOTIFY listener.
LISTENER_KEY = "outbox_listener"
#: After a lost LISTEN connection, how long before listening again (deliverers poll meanwhile:
#: the waiter's interval, and a running loop's ``CLAIM_POLL_SECONDS``).
RELISTEN_SECONDS = 5.0
_listener_lock = threading.Lock()


class _Listener:
    """This process's ``LISTEN``, on a thread of its own: each NOTIFY rings (``_ring``), so a
    running ``deliver_due`` claims new work at once, not only the idle waiter."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    _ring()  # what was committed while nobody listened
                    while not self._stop.is_set():
                        if any(True for _ in conn.notifies(timeout=1.0, stop_after=1)):
                            _ring()
            except psycopg.Error:
                log.warning("outbox LISTEN connection lost; polling until it is back (%gs)", RELISTEN_SECONDS)
                self._stop.wait(RELISTEN_SECONDS)


def listen(console: Console) -> None:
    """Start the Console's NOTIFY listener (PostgreSQL; once): the outbox job's preparation.
    ``stop_delivering`` stops it."""
    if not console.db.is_postgres:
        return
    with _listener_lock:
        if console.components.get(LISTENER_KEY) is None:
            url = console.db.engine.url.set(drivername="postgresql")
            console.components[LISTENER_KEY] = _Listener(url.render_as_string(hide_password=False))
