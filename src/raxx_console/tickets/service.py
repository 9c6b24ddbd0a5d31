"""Filing tickets exactly once: the reservation both entries use.

A ticket is *reserved* before FreeScout is called: a pending ``Ticket`` row (at most one per
entry + dedup key, by a partial unique index) and its ``freescout.create`` outbox item, written
in one short transaction. Delivery (``tickets.delivery``) calls FreeScout with no transaction
open, so a crash, an outage or a timed-out create never loses the request and never files twice.

Entry B (``alerts.filing``) reserves with ``reserve()`` inside its own transaction (the worker
delivers); entry A (``status.investigation``) reserves, then delivers inline while the operator
waits, the worker taking over only if that click dies or FreeScout is down.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import BindParameter, Row, Select, Table, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock
from raxx_console.config import Settings
from raxx_console.db import insert_rows
from raxx_console.deploys.incidents import suspect_deploy_html
from raxx_console.flags.registry import AUTO_TICKET_FLAG, INVESTIGATE_FLAG
from raxx_console.integrations.freescout_outcomes import OPEN_STATUSES
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import CREATE_KIND
from raxx_console.outbox.models import OutboxItem
from raxx_console.tickets import render
from raxx_console.tickets.models import (
    ENTRY_ALERT,
    ENTRY_STATUS,
    TICKET_EXPIRED,
    TICKET_FILED,
    TICKET_PENDING,
    TICKETS,
    Ticket,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger("raxx_console.tickets")


@dataclass(frozen=True)
class EntrySpec:
    """What differs between the ticket-creating entries of the overview."""

    letter: str
    label: str
    flag: str
    audit_action: str
    tag_prefix: str


ENTRIES = {
    ENTRY_STATUS: EntrySpec(
        "A", "Investigate", INVESTIGATE_FLAG, "console.status.ticket_filed", "auto:status"
    ),
    ENTRY_ALERT: EntrySpec("B", "alert", AUTO_TICKET_FLAG, "console.alerts.ticket_filed", "auto:alert"),
}


#: Marks a ticket filed for a test degradation, so FreeScout views can leave it out.
TEST_TAG = "auto:test"


def tags_for(entry: str, qualifier: str) -> tuple[str, ...]:
    """The overview's two tags: ``auto:status`` + ``auto:status:<surface_id>`` (B: ``<source>``)."""
    prefix = ENTRIES[entry].tag_prefix
    return (prefix, f"{prefix}:{qualifier}")


def new_ref() -> str:
    """The short reference carried in the subject, e.g. ``RX-3F9A1C2B``."""
    return "RX-" + secrets.token_hex(4).upper()


# --- reservation -------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRequest:
    """What an entry asks to file. ``build_body(ref, related)`` renders the body once the ref exists."""

    entry: str
    dedup_key: str
    title: str
    tags: tuple[str, ...]
    requested_by: str
    selected_env: str
    build_body: Callable[[str, Sequence[render.RelatedTicket]], str]
    surface_id: str | None = None
    surface_status: str | None = None
    severity: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Reservation:
    ticket: Ticket
    item: OutboxItem


def not_known_closed() -> Any:
    """FreeScout status never read, or last read as open (active/pending)."""
    return or_(TICKETS.c.fs_status.is_(None), TICKETS.c.fs_status.in_(OPEN_STATUSES))


def open_filed(
    entry: str, dedup_key: str | BindParameter[str], since: datetime | BindParameter[datetime], *columns: Any
) -> Select[Any]:
    """Filed tickets of a key since ``since`` that are not known to be closed, newest first.

    Whole Tickets, or given ``TICKETS`` columns only: a Core read, as entry A's click makes it
    (with ``bindparam``s for the key and the time: a statement built once, not per click).
    """
    return (
        select(*(columns or (Ticket,)))
        .where(
            TICKETS.c.entry == entry,
            TICKETS.c.dedup_key == dedup_key,
            TICKETS.c.state == TICKET_FILED,
            TICKETS.c.filed_at >= since,
            not_known_closed(),
        )
        .order_by(TICKETS.c.filed_at.desc(), TICKETS.c.id.desc())
    )


def pending_for(session: Session, entry: str, dedup_key: str) -> Ticket | None:
    """The key's reservation in flight, if any (the partial unique index allows one)."""
    return session.scalar(
        select(Ticket).where(
            Ticket.entry == entry, Ticket.dedup_key == dedup_key, Ticket.state == TICKET_PENDING
        )
    )


#: ``related_open``'s statement, built once: every reservation and every filing runs it. A
#: ``dedup_key`` of None compares as NULL, which no row matches (no same-entry links).
_RELATED_OPEN = (
    select(TICKETS.c.id, TICKETS.c.entry, TICKETS.c.ticket_id, TICKETS.c.ticket_url, TICKETS.c.ref)
    .where(
        or_(
            TICKETS.c.entry == bindparam("other_entry"),
            and_(TICKETS.c.entry == bindparam("entry"), TICKETS.c.dedup_key != bindparam("dedup_key")),
        ),
        TICKETS.c.surface_id == bindparam("surface_id"),
        TICKETS.c.state == TICKET_FILED,
        not_known_closed(),
    )
    .order_by(TICKETS.c.filed_at.desc())
    .limit(5)
)


def related_open(
    session: Session, entry: str, surface_id: str | None, dedup_key: str | None = None
) -> list[Row[Any]]:
    """Open filed tickets on the same surface: the cross-link targets, newest first.

    Those of the *other* entry, and, given the ticket's ``dedup_key``, those of the same entry
    for another key (Investigate on ``degraded`` when filing on ``down``): one incident, one story.
    A Core read of what a cross-link needs (``id``, ``entry``, ``ticket_id``, ``ticket_url``,
    ``ref``).
    """
    if surface_id is None:
        return []
    other = ENTRY_ALERT if entry == ENTRY_STATUS else ENTRY_STATUS
    values = {"other_entry": other, "entry": entry, "dedup_key": dedup_key, "surface_id": surface_id}
    return list(session.connection().execute(_RELATED_OPEN, values))


def as_related(ticket: Row[Any]) -> render.RelatedTicket:
    """A ``related_open`` row as the body's and the note's cross-link."""
    return render.RelatedTicket(ENTRIES[ticket.entry].label, ticket.ticket_id, ticket.ticket_url, ticket.ref)


def reserve(
    session: Session,
    clock: Clock,
    settings: Settings,
    request: TicketRequest,
    *,
    lease_for: float | None = None,
) -> Reservation | None:
    """Write the pending Ticket and its ``freescout.create`` item in the caller's transaction.

    None when the key already has a reservation in flight (``pending_for`` finds it), or, rarely,
    its random ref clashed. The caller commits; the worker (or, with ``lease_for``, the caller
    itself via ``outbox.deliver``) files it.
    """
    related = [
        as_related(t) for t in related_open(session, request.entry, request.surface_id, request.dedup_key)
    ]
    suspect = suspect_deploy_html(session, clock, settings.DEPLOY_INCIDENT_WINDOW, request.surface_id)
    row = _ticket_row(settings, request, new_ref(), related, suspect, clock.now())
    # ON CONFLICT DO NOTHING rather than a savepoint to catch the unique violation: one round trip.
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    added = dialect_insert(Ticket).values(row).on_conflict_do_nothing().returning(Ticket)
    ticket = session.scalars(added).first()  # a persistent Ticket of this session, or None
    if ticket is None:
        return None
    item = outbox.enqueue(
        session,
        clock,
        kind=CREATE_KIND,
        dedup_key=f"ticket:{ticket.id}",
        ticket_pk=ticket.id,
        payload={"selected_env": request.selected_env},
        lease_for=lease_for,
    )
    assert item is not None, "a new ticket's create item cannot already be pending"
    return Reservation(ticket, item)


def _ticket_row(
    settings: Settings,
    request: TicketRequest,
    ref: str,
    related: Sequence[render.RelatedTicket],
    suspect_deploy: str,
    now: datetime,
) -> dict[str, Any]:
    """A pending Ticket's columns: what ``reserve`` and ``reserve_many`` both write."""
    return {
        "entry": request.entry,
        "dedup_key": request.dedup_key[:200],
        "ref": ref,
        "state": TICKET_PENDING,
        "surface_id": request.surface_id,
        "surface_status": request.surface_status,
        "severity": request.severity,
        "subject": render.subject(ref, request.title),
        "body_html": request.build_body(ref, related) + suspect_deploy,
        "tags": list(request.tags),
        "mailbox_id": settings.FREESCOUT_OPERATIONS_MAILBOX_ID,
        "requested_by": request.requested_by,
        "created_at": now,
        "expires_at": request.expires_at,
        "tags_applied": False,
    }


def reserve_many(
    session: Session, clock: Clock, settings: Settings, requests: Sequence[TicketRequest]
) -> list[tuple[int, str, outbox.NewItem] | None]:
    """``reserve`` for many keys at once (entry B's new fires): ``(ticket pk, ref, create item)``
    per request.

    One ``INSERT … ON CONFLICT DO NOTHING`` for the Tickets. Each one's ``freescout.create`` item
    is returned, not enqueued: the caller enqueues the items of the reservations it keeps
    (``outbox.enqueue_many``, with its other items) in the same transaction, and drops the others
    (``drop_reservations``). None for a request that was not reserved here — its key already
    has a reservation in flight, or (rarely) its random ref clashed — which the caller files
    one by one the ordinary way (``reserve`` adopts or retries). Cross-links and the suspect
    deploy are looked up per surface (requests without one need neither), as ``reserve`` does.
    """
    if not requests:
        return []
    now = clock.now()
    related: dict[tuple[str, str], list[render.RelatedTicket]] = {}
    suspects: dict[str, str] = {}
    for r in requests:
        if r.surface_id is None:
            continue
        if (r.surface_id, r.dedup_key) not in related:
            found = related_open(session, r.entry, r.surface_id, r.dedup_key)
            related[(r.surface_id, r.dedup_key)] = [as_related(t) for t in found]
        if r.surface_id not in suspects:
            window = settings.DEPLOY_INCIDENT_WINDOW
            suspects[r.surface_id] = suspect_deploy_html(session, clock, window, r.surface_id)
    rows = [
        _ticket_row(
            settings,
            r,
            new_ref(),
            related.get((r.surface_id, r.dedup_key), []) if r.surface_id is not None else [],
            suspects.get(r.surface_id, "") if r.surface_id is not None else "",
            now,
        )
        for r in requests
    ]
    added = insert_rows(
        session, cast(Table, Ticket.__table__), rows, on_conflict="DO NOTHING", returning="id, ref"
    )
    reserved = {row[1]: row[0] for row in added}
    return [
        (
            pk,
            row["ref"],
            outbox.NewItem(CREATE_KIND, f"ticket:{pk}", {"selected_env": r.selected_env}, ticket_pk=pk),
        )
        if (pk := reserved.get(row["ref"])) is not None
        else None
        for row, r in zip(rows, requests, strict=True)
    ]


def drop_reservations(session: Session, ticket_pks: Sequence[int]) -> None:
    """Delete pending Tickets this transaction reserved with ``reserve_many`` and will not keep
    (their alert's first fire was another writer's)."""
    if ticket_pks:
        session.execute(
            delete(Ticket)
            .where(Ticket.id.in_(ticket_pks), Ticket.state == TICKET_PENDING)
            .execution_options(synchronize_session=False)
        )


def audit_filed(
    session: Session, clock: Clock, ticket: Ticket, *, idempotent: bool, actor: str, env: str
) -> None:
    """The overview's audit row: A ``console.status.ticket_filed``, B ``console.alerts.ticket_filed``."""
    if ticket.entry == ENTRY_STATUS:
        payload: dict[str, Any] = {
            "surface_id": ticket.surface_id,
            "status": ticket.surface_status,
            "ticket_id": ticket.ticket_id,
            "ticket_url": ticket.ticket_url,
            "idempotent": idempotent,
        }
    else:
        payload = {
            "alert_key": ticket.dedup_key,
            "severity": ticket.severity,
            "ticket_id": ticket.ticket_id,
            "ticket_url": ticket.ticket_url,
        }
    audit.record(
        session,
        clock,
        action=ENTRIES[ticket.entry].audit_action,
        actor=actor,
        selected_env=env,
        payload=payload,
    )


def expire(session: Session, ticket_id: int, now: datetime, detail: str) -> bool:
    """Drop a still-pending reservation whose time ran out; True if this call did it."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.state == TICKET_PENDING)
        .values(state=TICKET_EXPIRED, last_reason="expired_before_delivery", last_detail=detail)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        log.info("ticket expired ticket=%s reason=expired_before_delivery (%s)", ticket_id, detail)
    return bool(result.rowcount)  # type: ignore[attr-defined]
