"""Entry A, the Investigate click: reuse the key's open ticket filed within the window, or file
one exactly once, delivering inline while the operator waits.

The reservation and the FreeScout mapping are shared with entry B (``tickets.service``); what
the click answers and what a tile shows are ``status.ticket_view``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update

from raxx_console.integrations import registry
from raxx_console.integrations.freescout_outcomes import OPEN_STATUSES, Reason
from raxx_console.outbox import service as outbox
from raxx_console.outbox.models import OutboxItem
from raxx_console.status.ticket_view import Answer, answer_for, status_key
from raxx_console.tickets import render
from raxx_console.tickets.models import ENTRY_STATUS, TICKET_FILED, TICKET_PENDING, Ticket
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


@dataclass(frozen=True)
class _Reserved:
    ticket_id: int
    #: The leased ``freescout.create`` item, detached: delivered inline without reading it again.
    item: OutboxItem


@dataclass(frozen=True)
class _Busy:
    ticket_id: int


def investigate(
    console: Console, surface_id: str, status: str, *, describe: Callable[[], Tile], actor: str, env: str
) -> Answer:
    """Entry A: reuse the key's open ticket filed within the window, or file one exactly once.

    The caller has checked the flag and that the surface shows ``status`` (degraded or down).
    ``describe()`` reads the whole tile for the ticket body; it is called only when filing, so
    a repeat click costs one FreeScout read and a few queries.
    """
    key = status_key(surface_id, status)
    for _attempt in range(3):
        reused = _reuse_if_open(console, key, actor=actor, env=env)
        if reused is not None:
            return reused
        step = _reserve_click(console, surface_id, status, describe(), actor=actor, env=env)
        if isinstance(step, _Reserved):
            outbox.deliver(console, step.item.id, item=step.item)
            return answer_for(_load(console, step.ticket_id), idempotent=False)
        if isinstance(step, _Busy):
            return _await_filing(console, step.ticket_id, actor=actor, env=env)
        if isinstance(step, Ticket):
            return _reuse(console, step, actor=actor, env=env)
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


def _reuse_if_open(console: Console, key: str, *, actor: str, env: str) -> Answer | None:
    """Reuse the newest ticket filed within the window if FreeScout says it is still open.

    One FreeScout read per candidate (normally one). A closed, spam or deleted conversation is
    recorded as such and no longer counts. If FreeScout cannot be read, the last ticket is
    answered, marked degraded: filing another could duplicate an open one.
    """
    with console.db.session() as session:
        candidates = list(
            session.scalars(open_filed(ENTRY_STATUS, key, _window_start(console)).limit(REUSE_CANDIDATES))
        )
        session.expunge_all()
    client = registry.freescout(console)
    for ticket in candidates:
        read = client.get_conversation(ticket.ticket_id, embed="tags")  # type: ignore[arg-type]
        if read.ok and read.value is not None:
            fs_status = read.value.status
        elif read.reason is Reason.NOT_FOUND:
            fs_status = "deleted"
        else:
            answer = _reuse(console, ticket, actor=actor, env=env)
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
        is_open = fs_status in OPEN_STATUSES
        with console.db.session() as session:
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id)
                .values(fs_status=fs_status, fs_checked_at=console.clock.now())
            )
            if is_open:
                audit_filed(session, console.clock, ticket, idempotent=True, actor=actor, env=env)
        if is_open:
            log.info("investigate reused ticket_id=%s key=%s ref=%s", ticket.ticket_id, key, ticket.ref)
            return answer_for(ticket, idempotent=True, now=console.clock.now())
        log.info("investigate not reusing ticket_id=%s key=%s fs_status=%s", ticket.ticket_id, key, fs_status)
    return None


def _reuse(console: Console, ticket: Ticket, *, actor: str, env: str) -> Answer:
    with console.db.session() as session:
        audit_filed(session, console.clock, ticket, idempotent=True, actor=actor, env=env)
    log.info("investigate reused ticket_id=%s key=%s ref=%s", ticket.ticket_id, ticket.dedup_key, ticket.ref)
    return answer_for(ticket, idempotent=True, now=console.clock.now())


def _reserve_click(
    console: Console, surface_id: str, status: str, tile: Tile, *, actor: str, env: str
) -> _Reserved | _Busy | Ticket | None:
    """Reserve in one transaction: ``_Reserved``, ``_Busy`` (someone else's in flight), a
    filed ``Ticket`` to reuse (filed by a concurrent click since our first look), or None (retry)."""
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
    with console.db.session() as session:
        reservation = reserve(session, clock, settings, request, lease_for=outbox.LEASE_SECONDS)
        if reservation is None:
            pending = pending_for(session, ENTRY_STATUS, key)
            if pending is None:
                return None  # it finished (or the ref clashed) between our insert and this read
            if pending.expires_at is not None and pending.expires_at <= now:
                expire(session, pending.id, now, "no delivery before the Investigate window ended")
                return None
            return _Busy(pending.id)
        fresh = session.scalars(open_filed(ENTRY_STATUS, key, _window_start(console)).limit(1)).first()
        if fresh is not None:
            session.expunge(fresh)
            session.rollback()
            return fresh
        session.flush()
        session.expunge(reservation.item)
        return _Reserved(reservation.ticket.id, reservation.item)


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
