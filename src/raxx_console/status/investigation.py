"""Entry A, the Investigate click: reuse the key's open ticket filed within the window, or file
one exactly once, delivering inline while the operator waits.

The reservation and the FreeScout mapping are shared with entry B (``tickets.service``); what
the click answers and what a tile shows are ``status.ticket_view``. A click runs in few
transactions, none open across a FreeScout call: a first click reserves in the request's own
(its identity and status reads, the first look, the tile, the reservation) and settles in one
more; a repeat click reads FreeScout between its first look and one write with its audit row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from raxx_console.db import committing
from raxx_console.integrations import registry
from raxx_console.integrations.freescout_outcomes import OPEN_STATUSES, Reason
from raxx_console.outbox import service as outbox
from raxx_console.outbox.models import OutboxItem
from raxx_console.status.ticket_view import Answer, answer_for, status_key
from raxx_console.tickets import render
from raxx_console.tickets.delivery import deliver_reserved
from raxx_console.tickets.models import ENTRY_STATUS, TICKET_FILED, TICKET_PENDING, TICKETS, Ticket
from raxx_console.tickets.reasons import explain
from raxx_console.tickets.service import (
    TEST_TAG,
    TicketRequest,
    audit_filed,
    expire,
    open_filed,
    pending_for,
    reserve,
    tags_for,
)

if TYPE_CHECKING:
    from raxx_console.context import Console
    from raxx_console.status.service import Tile

log = logging.getLogger("raxx_console.tickets")

#: A click that finds another click's reservation in flight waits this long for it to file.
PENDING_WAIT_SECONDS = 5.0
PENDING_POLL_SECONDS = 0.05
#: Dedup lookups compare against the newest few tickets of a key; more than one is rare.
REUSE_CANDIDATES = 3
#: What the first look reads of a candidate: what the answer and the audit row need (no body).
_FACTS = tuple(
    TICKETS.c[name]
    for name in (
        "id",
        "entry",
        "dedup_key",
        "ref",
        "state",
        "surface_id",
        "surface_status",
        "severity",
        "ticket_id",
        "ticket_url",
        "filed_at",
        "last_reason",
        "last_detail",
        "fs_status",
        "fs_checked_at",
    )
)
#: What FreeScout said of a ticket is rewritten when it changed, else at most this often (to the
#: minute, as a token's last use): a repeat click then writes nothing but its audit row.
CHECK_RECORD_INTERVAL = timedelta(minutes=1)

#: The click's statements, built once (not per click): the first look, the recheck after our
#: insert, and the write that records what FreeScout said.
_FIRST_LOOK = open_filed(ENTRY_STATUS, bindparam("key"), bindparam("since"), *_FACTS).limit(REUSE_CANDIDATES)
_FILED_SINCE = open_filed(ENTRY_STATUS, bindparam("key"), bindparam("since"), TICKETS.c.id).limit(1)
_RECORD_CHECK = (
    update(TICKETS)
    .where(TICKETS.c.id == bindparam("ticket_pk"))
    .values(fs_status=bindparam("read_status"), fs_checked_at=bindparam("read_at"))
)


@dataclass(frozen=True)
class _Reserved:
    #: The pending Ticket and its leased ``freescout.create`` item, detached: delivered inline
    #: without reading either again.
    ticket: Ticket
    item: OutboxItem


@dataclass(frozen=True)
class _Busy:
    ticket_id: int


def investigate(
    console: Console,
    surface_id: str,
    status: str,
    *,
    describe: Callable[[], Tile],
    actor: str,
    env: str,
    session: Session | None = None,
) -> Answer:
    """Entry A: reuse the key's open ticket filed within the window, or file one exactly once.

    The caller has checked the flag and that the surface shows ``status`` (degraded or down).
    ``describe()`` reads the whole tile for the ticket body; it is called only when filing.
    ``session``: the caller's (the view's request session, its reads still in their transaction),
    which the first look and the reservation join; without it the click opens its own.
    """
    key = status_key(surface_id, status)
    own = session is None
    click = console.db.sessionmaker() if session is None else session
    try:
        for _attempt in range(3):
            reused = _reuse_if_open(console, click, key, actor=actor, env=env)
            if reused is not None:
                return reused
            tile = describe()
            step = _reserve_click(console, surface_id, status, tile, actor=actor, env=env, session=click)
            if isinstance(step, _Reserved):
                return answer_for(deliver_reserved(console, step.item, step.ticket), idempotent=False)
            if isinstance(step, _Busy):
                return _await_filing(console, step.ticket_id, actor=actor, env=env)
            if isinstance(step, Ticket):
                return _reuse(console, step, actor=actor, env=env)
    finally:
        if own:
            click.close()
    # Reservations kept vanishing under us (ref clashes, expiries): say so rather than loop.
    return Answer(degraded=True, reason="filing_in_progress", message=explain("filing_in_progress"))


def _load(console: Console, ticket_id: int) -> Ticket:
    with console.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        session.expunge(ticket)
    return ticket


def _window_start(console: Console) -> datetime:
    return console.clock.now() - timedelta(seconds=console.settings.INVESTIGATE_DEDUP_WINDOW)


def _as_ticket(facts: Any) -> Ticket:
    """A first-look row as a Ticket value (transient: never added to a session)."""
    return Ticket(**facts._mapping)


def _reuse_if_open(console: Console, session: Session, key: str, *, actor: str, env: str) -> Answer | None:
    """Reuse the newest ticket filed within the window if FreeScout says it is still open.

    The first look is a Core read in ``session``'s open transaction; with no candidate (a first
    click) that transaction goes on to the reservation. Otherwise it is committed before the
    FreeScout read, one per candidate (normally one). A closed, spam or deleted conversation is
    recorded as such and no longer counts. If FreeScout cannot be read, the last ticket is
    answered, marked degraded: filing another could duplicate an open one.
    """
    look = {"key": key, "since": _window_start(console)}
    candidates = [_as_ticket(row) for row in session.connection().execute(_FIRST_LOOK, look)]
    if not candidates:
        return None
    session.commit()  # no transaction spans a FreeScout call
    client = registry.freescout(console)
    for ticket in candidates:
        read = client.get_conversation(ticket.ticket_id, embed="tags")  # type: ignore[arg-type]
        if read.ok and read.value is not None:
            fs_status = read.value.status
        elif read.reason is Reason.NOT_FOUND:
            fs_status = "deleted"
        else:
            answer = _reuse(console, ticket, actor=actor, env=env, session=session)
            message = "FreeScout could not confirm this ticket is still open. " + explain(read.reason)
            return Answer(
                answer.ticket_id,
                answer.ticket_url,
                idempotent=True,
                degraded=True,
                reason=read.reason,
                message=message,
                ref=ticket.ref,
            )
        is_open, now = fs_status in OPEN_STATUSES, console.clock.now()
        with committing(session):  # what FreeScout said, and the audit row, in one transaction
            if _check_worth_recording(ticket, fs_status, now):
                checked = {"ticket_pk": ticket.id, "read_status": fs_status, "read_at": now}
                session.connection().execute(_RECORD_CHECK, checked)
            if is_open:
                audit_filed(session, console.clock, ticket, idempotent=True, actor=actor, env=env)
        if is_open:
            log.info("investigate reused ticket_id=%s key=%s ref=%s", ticket.ticket_id, key, ticket.ref)
            return answer_for(ticket, idempotent=True, now=console.clock.now())
        log.info("investigate not reusing ticket_id=%s key=%s fs_status=%s", ticket.ticket_id, key, fs_status)
    return None


def _check_worth_recording(ticket: Ticket, fs_status: str, now: datetime) -> bool:
    """A new status always; the same one only once ``CHECK_RECORD_INTERVAL`` has passed."""
    if ticket.fs_status != fs_status or ticket.fs_checked_at is None:
        return True
    return now - ticket.fs_checked_at >= CHECK_RECORD_INTERVAL


def _reuse(
    console: Console, ticket: Ticket, *, actor: str, env: str, session: Session | None = None
) -> Answer:
    with committing(session) if session is not None else console.db.session() as writing:
        audit_filed(writing, console.clock, ticket, idempotent=True, actor=actor, env=env)
    log.info("investigate reused ticket_id=%s key=%s ref=%s", ticket.ticket_id, ticket.dedup_key, ticket.ref)
    return answer_for(ticket, idempotent=True, now=console.clock.now())


def _reserve_click(
    console: Console,
    surface_id: str,
    status: str,
    tile: Tile,
    *,
    actor: str,
    env: str,
    session: Session | None = None,
) -> _Reserved | _Busy | Ticket | None:
    """Reserve in one transaction (``session``'s, else a new one): ``_Reserved``, ``_Busy``
    (someone else's in flight), a filed ``Ticket`` to reuse (filed by a concurrent click since
    our first look), or None (retry)."""
    clock, settings = console.clock, console.settings
    now = clock.now()
    key = status_key(surface_id, status)
    request = TicketRequest(
        entry=ENTRY_STATUS,
        dedup_key=key,
        title=f"{surface_id} is {status}" + (" (simulated)" if tile.simulated else ""),
        tags=tags_for(ENTRY_STATUS, surface_id) + ((TEST_TAG,) if tile.simulated else ()),
        requested_by=actor,
        selected_env=env,
        build_body=lambda ref, related: status_body(
            tile, ref=ref, requested_by=actor, related=related, console_url=settings.CONSOLE_BASE_URL
        ),
        surface_id=surface_id,
        surface_status=status,
        expires_at=now + timedelta(seconds=settings.INVESTIGATE_DEDUP_WINDOW),
    )
    with committing(session) if session is not None else console.db.session() as writing:
        reservation = reserve(writing, clock, settings, request, lease_for=outbox.LEASE_SECONDS)
        if reservation is None:
            pending = pending_for(writing, ENTRY_STATUS, key)
            if pending is None:
                return None  # it finished (or the ref clashed) between our insert and this read
            if pending.expires_at is not None and pending.expires_at <= now:
                expire(writing, pending.id, now, "no delivery before the Investigate window ended")
                return None
            return _Busy(pending.id)
        fresh_id = writing.connection().scalar(_FILED_SINCE, {"key": key, "since": _window_start(console)})
        if fresh_id is not None:
            fresh = writing.get(Ticket, fresh_id)
            assert fresh is not None
            writing.expunge(fresh)
            writing.rollback()
            return fresh
        writing.flush()
        writing.expunge(reservation.ticket)
        writing.expunge(reservation.item)
        return _Reserved(reservation.ticket, reservation.item)


def _await_filing(console: Console, ticket_id: int, *, actor: str, env: str) -> Answer:
    """Another click's reservation is in flight: wait briefly for it, then answer for it."""
    deadline = time.monotonic() + PENDING_WAIT_SECONDS
    while True:
        ticket = _load(console, ticket_id)
        retrying = ticket.last_reason is not None  # it failed once already: waiting won't help
        if ticket.state != TICKET_PENDING or retrying or time.monotonic() >= deadline:
            break
        time.sleep(PENDING_POLL_SECONDS)
    if ticket.state == TICKET_FILED:
        return _reuse(console, ticket, actor=actor, env=env)
    return answer_for(ticket, idempotent=True)


def status_body(
    tile: Tile,
    *,
    ref: str,
    requested_by: str,
    related: Sequence[render.RelatedTicket] = (),
    console_url: str | None = None,
) -> str:
    """Entry A's body: what the tile showed when the operator clicked Investigate."""
    surface = tile.surface
    shown = tile.status.upper()
    if tile.simulated:
        shown += f" (SIMULATED test degradation until {render.when(tile.simulated_until)})"
    latency = f"{tile.latency_ms} ms" if tile.latency_ms is not None else None
    history = [
        f"{render.when(check.checked_at)} {check.status}"
        + (f" {check.latency_ms} ms" if check.latency_ms is not None else "")
        for check in reversed(tile.history[-5:])
    ]
    heading = f"{surface.name} ({surface.id}) is {tile.status}"
    if tile.simulated:
        heading = f"TEST: a simulated degradation, not an incident. {heading} (simulated)"
    return render.body(
        heading,
        [
            ("Surface", f"{surface.name} ({surface.id})"),
            ("Status", shown),
            ("Detail", tile.detail),
            ("Last check", render.when(tile.checked_at)),
            ("Latency", latency),
            ("Environment", surface.target_env),
            ("Requested by", requested_by),
            ("Status grid", render.link(f"{console_url}/console/status", "open") if console_url else None),
        ],
        ref=ref,
        history=history,
        related=related,
        footer="Filed from the Raxx Console status grid (Investigate).",
    )
