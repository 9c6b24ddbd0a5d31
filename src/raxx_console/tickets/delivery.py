"""Outbox handlers that talk to FreeScout: ``freescout.create``, ``freescout.tags``, ``freescout.note``.

``freescout.create`` files a reserved Ticket for either entry. It runs with no transaction open
across the HTTP calls and settles the Ticket in one transaction with its audit row and its
outbox item, so the ticket, its mapping, its audit trail and the item's end commit together.
Only an unavailable FreeScout (or an answer that may have created the conversation) is
retried; after an attempt that may have created it (an uncertain answer, or none recorded) the
ref is looked up in FreeScout before anything is created again — after attempts FreeScout
certainly refused (refused connection, 503) the create is simply sent again. The handlers are
listed in
``OUTBOX_HANDLERS`` (``raxx_console/jobs.py``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import update

from raxx_console.integrations import registry
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_outcomes import Outcome, Reason
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import NOTE_KIND, TAGS_KIND
from raxx_console.outbox.models import OutboxItem
from raxx_console.outbox.service import Result
from raxx_console.tickets import render
from raxx_console.tickets.models import (
    TICKET_CANCELLED,
    TICKET_FAILED,
    TICKET_FILED,
    TICKET_PENDING,
    TICKETS,
    Ticket,
)
from raxx_console.tickets.service import (
    ENTRIES,
    audit_filed,
    expire,
    related_open,
)

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.tickets")

#: ``createdSince`` is our reservation time minus this, to absorb clock skew with FreeScout.
RECONCILE_MARGIN = timedelta(minutes=10)
#: A Tags module that stays broken should not be retried forever.
TAGS_RETRY_FOR = timedelta(days=1)
#: A note whose ticket is still being filed waits this long between tries.
NOTE_WAIT_SECONDS = 30.0


def deliver_reserved(console: Console, item: OutboxItem, ticket: Ticket) -> Ticket:
    """Entry A: deliver now the ``freescout.create`` item leased with ``ticket``'s reservation.

    Through ``outbox.deliver`` (its bookkeeping, and the recovery a success starts), starting
    from the caller's detached ``ticket`` rather than reading it back; a filed ticket is settled
    onto that copy, so the click's answer needs no read either (a first click: the reservation's
    transaction and the settlement's). Returns the ticket as it now stands.
    """
    result = outbox.deliver(console, item.id, item=item, handler=partial(_file_reserved, ticket=ticket))
    if result.status == "done" and ticket.state == TICKET_FILED:  # settled by this delivery
        return ticket
    return _ticket(console, ticket.id) or ticket  # queued or not filed: the reason is in the row


def _ticket(console: Console, ticket_id: int | None) -> Ticket | None:
    if ticket_id is None:
        return None
    with console.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None:
            session.expunge(ticket)
        return ticket


def _settled(ticket: Ticket) -> Result:
    """The item of a Ticket that another delivery (or an expiry) already settled ends like it."""
    if ticket.state == TICKET_FILED:
        return Result.done(f"already filed as {ticket.ticket_id}")
    if ticket.state == TICKET_FAILED:
        return Result.failed(ticket.last_reason or "failed", ticket.last_detail)
    if ticket.state == TICKET_CANCELLED:
        return Result.cancelled(ticket.last_reason or "cancelled", ticket.last_detail)
    return Result.expired(ticket.last_reason or "expired", ticket.last_detail)


def _describe(outcome: Outcome[object]) -> str:
    """Names and messages only (never values): what the Ticket's last_detail keeps."""
    if outcome.missing:
        return "missing=" + ",".join(outcome.missing)
    parts = [f"{e.path}: {e.message}" for e in outcome.errors[:3]]
    if outcome.status_code is not None:
        parts.append(f"HTTP {outcome.status_code}")
    if outcome.detail:
        parts.append(outcome.detail)
    if outcome.uncertain:
        parts.append("uncertain: FreeScout may have created it")
    return "; ".join(parts)


def deliver_create(console: Console, item: OutboxItem) -> Result:
    """File a reserved ticket: flag re-check, reconcile after an uncertain try, create, settle."""
    return _file_reserved(console, item, ticket=_ticket(console, item.ticket_pk))


def _file_reserved(console: Console, item: OutboxItem, *, ticket: Ticket | None) -> Result:
    """``deliver_create`` from a ticket in hand (entry A's click passes the one it just reserved)."""
    if ticket is None:
        return Result.cancelled("ticket_gone")
    if ticket.state != TICKET_PENDING:
        return _settled(ticket)
    spec = ENTRIES[ticket.entry]
    if not console.flags.is_enabled(spec.flag):
        return _give_up(
            console, ticket, TICKET_CANCELLED, Result.cancelled("flag_off", f"{spec.flag} is off")
        )
    if ticket.mailbox_id is None:
        log.warning(
            "freescout degraded op=create_conversation reason=%s missing=FREESCOUT_OPERATIONS_MAILBOX_ID",
            Reason.NOT_CONFIGURED.value,
        )
        failed = Result.failed(Reason.NOT_CONFIGURED.value, "missing=FREESCOUT_OPERATIONS_MAILBOX_ID")
        return _give_up(console, ticket, TICKET_FAILED, failed)
    client = registry.freescout(console)
    if outbox.may_have_acted(item):
        found = client.find_by_reference(
            ticket.mailbox_id, ticket.ref, created_since=ticket.created_at - RECONCILE_MARGIN
        )
        if found.ok and found.value is not None:
            tagged = client.apply_tags(found.value.id, ticket.tags)
            return _file(console, client, item, ticket, found.value.id, found.value.status, tagged.ok)
        if _expired(console, ticket):
            return _expire(console, ticket)
        if not found.ok:
            return _not_filed(console, ticket, found)
    elif _expired(console, ticket):
        return _expire(console, ticket)
    created = client.create_conversation(
        mailbox_id=ticket.mailbox_id,
        subject=ticket.subject,
        customer_email=console.settings.CONSOLE_TICKET_CUSTOMER_EMAIL,
        body_html=ticket.body_html,
        tags=ticket.tags,
    )
    if not created.ok or created.value is None:
        return _not_filed(console, ticket, created)
    conversation = created.value.conversation
    fs_status = conversation.status if conversation is not None else "active"
    return _file(console, client, item, ticket, created.value.id, fs_status, created.value.tags_applied)


def _expired(console: Console, ticket: Ticket) -> bool:
    return ticket.expires_at is not None and console.clock.now() >= ticket.expires_at


def _expire(console: Console, ticket: Ticket) -> Result:
    detail = "not filed before its time ran out"
    if ticket.last_reason:
        detail += f"; last failure: {ticket.last_reason}"
    with console.db.session() as session:
        expire(session, ticket.id, console.clock.now(), detail)
    return Result.expired("expired_before_delivery", detail)


def _give_up(console: Console, ticket: Ticket, state: str, result: Result) -> Result:
    """Settle a pending Ticket as failed or cancelled, with the item's reason."""
    with console.db.session() as session:
        row = session.get(Ticket, ticket.id, with_for_update=True)
        if row is None or row.state != TICKET_PENDING:
            return _settled(row) if row is not None else Result.cancelled("ticket_gone")
        row.state, row.last_reason, row.last_detail = state, result.reason, result.detail
    log.info(
        "ticket not filed entry=%s key=%s ref=%s state=%s reason=%s",
        ENTRIES[ticket.entry].letter,
        ticket.dedup_key,
        ticket.ref,
        state,
        result.reason,
    )
    return result


def _not_filed(console: Console, ticket: Ticket, outcome: Outcome[object]) -> Result:
    """Retry while FreeScout is unavailable (or may have acted); otherwise the Ticket fails."""
    reason = outcome.reason.value if outcome.reason is not None else "freescout_unexpected_response"
    detail = _describe(outcome)
    if not (outcome.retryable or outcome.uncertain):
        return _give_up(console, ticket, TICKET_FAILED, Result.failed(reason, detail))
    with console.db.session() as session:
        row = session.get(Ticket, ticket.id)
        if row is not None and row.state == TICKET_PENDING:
            row.last_reason, row.last_detail = reason, detail
    log.info(
        "ticket queued entry=%s key=%s ref=%s reason=%s; the outbox retries it",
        ENTRIES[ticket.entry].letter,
        ticket.dedup_key,
        ticket.ref,
        reason,
    )
    return Result.retry(reason, detail, unsent=not outcome.uncertain)


def _file(
    console: Console,
    client: FreeScoutClient,
    item: OutboxItem,
    ticket: Ticket,
    conversation_id: int,
    fs_status: str,
    tags_applied: bool,
) -> Result:
    """Mark the Ticket filed with its audit row, and queue what follows (tags, cross-link notes).

    One conditional update (still pending?) both locks and settles the row, so two deliveries
    never both file it; the winner's detached ``ticket`` is then brought up to date in memory.
    """
    clock = console.clock
    now = clock.now()
    spec = ENTRIES[ticket.entry]
    filed = {
        "state": TICKET_FILED,
        "ticket_id": conversation_id,
        "ticket_url": client.ticket_url(conversation_id),
        "filed_at": now,
        "fs_status": fs_status,
        "fs_checked_at": now,
        "tags_applied": tags_applied,
        "last_reason": None,
    }
    with console.db.session() as session:
        won = session.connection().execute(
            update(TICKETS).where(TICKETS.c.id == ticket.id, TICKETS.c.state == TICKET_PENDING).values(filed)
        )
        if not won.rowcount:
            row = session.get(Ticket, ticket.id)
            return _settled(row) if row is not None else Result.cancelled("ticket_gone")
        for name, value in filed.items():  # a failed commit answers retry: the copy is not used
            setattr(ticket, name, value)
        row = ticket
        env = item.payload.get("selected_env") or console.env
        audit_filed(session, clock, row, idempotent=False, actor=row.requested_by, env=env)
        if not tags_applied:
            outbox.enqueue(
                session,
                clock,
                kind=TAGS_KIND,
                dedup_key=f"tags:{row.id}",
                ticket_pk=row.id,
                expires_at=now + TAGS_RETRY_FOR,
            )
        note = render.crosslink_note(spec.label, row.ticket_id, row.ticket_url, row.ref)
        for older in related_open(session, row.entry, row.surface_id, row.dedup_key):
            outbox.enqueue(
                session,
                clock,
                kind=NOTE_KIND,
                dedup_key=f"crosslink:{row.id}:{older.id}",
                ticket_pk=older.id,
                payload={"text": note},
            )
        detail = f"conversation {conversation_id}"
        outbox.settle_done(session, now, item.id, detail)
    log.info(
        "ticket_filed entry=%s key=%s ticket_id=%s ref=%s%s",
        spec.letter,
        ticket.dedup_key,
        conversation_id,
        ticket.ref,
        "" if tags_applied else " tags=pending",
    )
    return Result.settled_done(detail)


def deliver_tags(console: Console, item: OutboxItem) -> Result:
    """Tags a create could not apply: read, merge, write; retried until they stand."""
    ticket = _ticket(console, item.ticket_pk)
    if ticket is None or ticket.state != TICKET_FILED or ticket.ticket_id is None:
        return Result.cancelled("ticket_not_filed")
    if ticket.tags_applied:
        return Result.done("tags already applied")
    outcome = registry.freescout(console).apply_tags(ticket.ticket_id, ticket.tags)
    if outcome.ok:
        with console.db.session() as session:
            row = session.get(Ticket, ticket.id)
            if row is not None:
                row.tags_applied = True
        return Result.done()
    reason = outcome.reason.value if outcome.reason is not None else "freescout_unexpected_response"
    if outcome.reason is Reason.NOT_FOUND:
        return Result.failed(reason, "the conversation no longer exists")
    return Result.retry(reason, _describe(outcome))


def deliver_note(console: Console, item: OutboxItem) -> Result:
    """An internal note (payload ``text``, HTML) on the item's Ticket, once that Ticket is filed."""
    ticket = _ticket(console, item.ticket_pk)
    if ticket is None:
        return Result.cancelled("ticket_gone")
    if ticket.state == TICKET_PENDING:
        return Result.retry("ticket_not_filed", "waiting for the ticket to be filed", NOTE_WAIT_SECONDS)
    if ticket.state != TICKET_FILED or ticket.ticket_id is None:
        return Result.cancelled("ticket_not_filed", f"the ticket ended {ticket.state}")
    text = item.payload.get("text")
    if not isinstance(text, str) or not text.strip():
        return Result.failed("empty_note")
    outcome = registry.freescout(console).add_note(ticket.ticket_id, text)
    if outcome.ok:
        return Result.done()
    reason = outcome.reason.value if outcome.reason is not None else "freescout_unexpected_response"
    if outcome.retryable:
        return Result.retry(reason, _describe(outcome))
    return Result.failed(reason, _describe(outcome))
