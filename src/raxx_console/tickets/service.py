"""Filing tickets exactly once: the reservation both entries use, and entry A's Investigate flow.

A ticket is *reserved* before FreeScout is called: a pending ``Ticket`` row (at most one per
entry + dedup key, by a partial unique index) and its ``freescout.create`` outbox item, written
in one short transaction. Delivery (``tickets.delivery``) calls FreeScout with no transaction
open, so a crash, an outage or a timed-out create never loses the request and never files twice.

Entry B reserves with ``reserve()`` inside its own transaction (the worker delivers); entry A
(``investigate()``) reserves, then delivers inline while the operator waits, the worker taking
over only if that click dies or FreeScout is down.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, Table, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock
from raxx_console.config import Settings
from raxx_console.db import insert_rows
from raxx_console.integrations import registry
from raxx_console.integrations.freescout_client import Reason
from raxx_console.tickets import outbox, render
from raxx_console.tickets.models import (
    ENTRY_ALERT,
    ENTRY_STATUS,
    TICKET_EXPIRED,
    TICKET_FILED,
    TICKET_PENDING,
    Ticket,
)

if TYPE_CHECKING:
    from raxx_console.context import Console
    from raxx_console.status.service import Tile

log = logging.getLogger("raxx_console.tickets")

INVESTIGATE_FLAG = "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS"
LINKED_TICKET_FLAG = "FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET"
ALERTS_FLAG = "FLAG_CONSOLE_ALERTS_AUTO_TICKET"

CREATE_KIND = "freescout.create"
TAGS_KIND = "freescout.tags"
NOTE_KIND = "freescout.note"

OPEN_FS_STATUSES = ("active", "pending")
#: A click that finds another click's reservation in flight waits this long for it to file.
PENDING_WAIT_SECONDS = 5.0
PENDING_POLL_SECONDS = 0.05
#: Dedup lookups compare against the newest few tickets of a key; more than one is rare.
REUSE_CANDIDATES = 3


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
    ENTRY_ALERT: EntrySpec("B", "alert", ALERTS_FLAG, "console.alerts.ticket_filed", "auto:alert"),
}


def tags_for(entry: str, qualifier: str) -> tuple[str, ...]:
    """The overview's two tags: ``auto:status`` + ``auto:status:<surface_id>`` (B: ``<source>``)."""
    prefix = ENTRIES[entry].tag_prefix
    return (prefix, f"{prefix}:{qualifier}")


def status_key(surface_id: str, status: str) -> str:
    """Entry A's dedup key: the surface and the status it showed."""
    return f"{surface_id}:{status}"


def new_ref() -> str:
    """The short reference carried in the subject, e.g. ``RX-3F9A1C2B``."""
    return "RX-" + secrets.token_hex(4).upper()


# --- reasons in plain words --------------------------------------------------------------

_REASONS = {
    Reason.UNAVAILABLE.value: "FreeScout did not answer (outage, 5xx or timeout): check FreeScout's health "
    "(runbook failure mode 4).",
    Reason.CF_ACCESS_DENIED.value: "Cloudflare Access refused the console's service token: check "
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID/SECRET (runbook Step 1.5).",
    Reason.AUTH_ERROR.value: "FreeScout refused the console's API key: check FREESCOUT_API_KEY "
    "(runbook Step 1).",
    Reason.NOT_CONFIGURED.value: "The console is not configured for FreeScout: set the variables of "
    "runbook Step 0.",
    Reason.MAILBOX_NOT_FOUND.value: "FreeScout has no such operations mailbox: check "
    "FREESCOUT_OPERATIONS_MAILBOX_ID (runbook Step 2).",
    Reason.REJECTED.value: "FreeScout rejected the ticket: check FREESCOUT_OPERATIONS_MAILBOX_ID and "
    "CONSOLE_TICKET_CUSTOMER_EMAIL (runbook Step 2).",
    Reason.UNEXPECTED.value: "FreeScout answered something unexpected: check that FREESCOUT_API_URL points "
    "at FreeScout with the API & Webhooks module (runbook Step 0).",
    Reason.NOT_FOUND.value: "The FreeScout conversation no longer exists.",
    "expired_before_delivery": "FreeScout did not answer in time, so the request was dropped unfiled: "
    "click Investigate again if the surface still needs a ticket.",
    "filing_in_progress": "Another request is filing this ticket right now; it will appear here.",
}
QUEUED_NOTE = "Queued — will file when FreeScout answers (once, within the Investigate window)."


def explain(reason: str | None, *, entry: str = ENTRY_STATUS, detail: str | None = None) -> str:
    """What went wrong and what to check, for the tile and the click's answer."""
    if reason == "flag_off":
        return f"{ENTRIES[entry].flag} was turned off before FreeScout answered; nothing was filed."
    text = _REASONS.get(reason or "", f"Filing failed ({reason}).")
    if reason == Reason.NOT_CONFIGURED.value and detail and detail.startswith("missing="):
        text += " Missing: " + detail.removeprefix("missing=").replace(",", ", ") + "."
    return text


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
    item: outbox.OutboxItem


def not_known_closed() -> Any:
    """FreeScout status never read, or last read as open (active/pending)."""
    return or_(Ticket.fs_status.is_(None), Ticket.fs_status.in_(OPEN_FS_STATUSES))


def open_filed(entry: str, dedup_key: str, since: datetime) -> Select[tuple[Ticket]]:
    """Filed tickets of a key since ``since`` that are not known to be closed, newest first."""
    return (
        select(Ticket)
        .where(
            Ticket.entry == entry,
            Ticket.dedup_key == dedup_key,
            Ticket.state == TICKET_FILED,
            Ticket.filed_at >= since,
            not_known_closed(),
        )
        .order_by(Ticket.filed_at.desc(), Ticket.id.desc())
    )


def pending_for(session: Session, entry: str, dedup_key: str) -> Ticket | None:
    """The key's reservation in flight, if any (the partial unique index allows one)."""
    return session.scalar(
        select(Ticket).where(
            Ticket.entry == entry, Ticket.dedup_key == dedup_key, Ticket.state == TICKET_PENDING
        )
    )


def related_open(session: Session, entry: str, surface_id: str | None) -> list[Ticket]:
    """Open filed tickets of the *other* entry on the same surface: the cross-link targets."""
    if surface_id is None:
        return []
    other = ENTRY_ALERT if entry == ENTRY_STATUS else ENTRY_STATUS
    query = (
        select(Ticket)
        .where(
            Ticket.entry == other,
            Ticket.surface_id == surface_id,
            Ticket.state == TICKET_FILED,
            not_known_closed(),
        )
        .order_by(Ticket.filed_at.desc())
        .limit(5)
    )
    return list(session.scalars(query))


def as_related(ticket: Ticket) -> render.RelatedTicket:
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

    None when the key already has a reservation in flight (``pending_for`` finds it). The caller
    commits; the worker (or, with ``lease_for``, the caller itself via ``outbox.deliver``) files it.
    """
    related = [as_related(t) for t in related_open(session, request.entry, request.surface_id)]
    ticket = Ticket(**_ticket_row(settings, request, new_ref(), related, clock.now()))
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
    except IntegrityError:
        return None
    item = outbox.enqueue(
        session,
        clock,
        kind=CREATE_KIND,
        dedup_key=f"ticket:{ticket.id}",
        ticket_id=ticket.id,
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
        "body_html": request.build_body(ref, related),
        "tags": list(request.tags),
        "mailbox_id": settings.FREESCOUT_OPERATIONS_MAILBOX_ID,
        "requested_by": request.requested_by,
        "created_at": now,
        "expires_at": request.expires_at,
        "tags_applied": False,
    }


def reserve_many(
    session: Session, clock: Clock, settings: Settings, requests: Sequence[TicketRequest]
) -> list[tuple[int, str] | None]:
    """``reserve`` for many keys at once (entry B's new fires): ``(ticket pk, ref)`` per request.

    One ``INSERT … ON CONFLICT DO NOTHING`` for the Tickets, one ``enqueue_many`` for their
    ``freescout.create`` items. None for a request that was not reserved here — its key already
    has a reservation in flight, or (rarely) its random ref clashed — which the caller files
    one by one the ordinary way (``reserve`` adopts or retries).
    """
    if not requests:
        return []
    now = clock.now()
    surfaces = {r.surface_id for r in requests if r.surface_id is not None}
    related = {s: [as_related(t) for t in related_open(session, requests[0].entry, s)] for s in surfaces}
    rows = [_ticket_row(settings, r, new_ref(), related.get(r.surface_id or "", []), now) for r in requests]
    added = insert_rows(
        session, cast(Table, Ticket.__table__), rows, on_conflict="DO NOTHING", returning="id, ref"
    )
    reserved = {row[1]: row[0] for row in added}
    outbox.enqueue_many(
        session,
        clock,
        [
            outbox.NewItem(
                CREATE_KIND,
                f"ticket:{reserved[row['ref']]}",
                {"selected_env": request.selected_env},
                ticket_id=reserved[row["ref"]],
            )
            for row, request in zip(rows, requests, strict=True)
            if row["ref"] in reserved
        ],
    )
    return [(reserved[row["ref"]], row["ref"]) if row["ref"] in reserved else None for row in rows]


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


# --- entry A: the Investigate click ------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the click answers (HTTP 200 in every case: FreeScout trouble is ``degraded``)."""

    ticket_id: int | None = None
    ticket_url: str | None = None
    idempotent: bool = False
    degraded: bool = False
    queued: bool = False
    reason: str | None = None
    message: str | None = None
    ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.ticket_id is not None:
            body.update(ticket_id=self.ticket_id, ticket_url=self.ticket_url, idempotent=self.idempotent)
        body["degraded"] = self.degraded
        if self.queued:
            body["queued"] = True
        for name in ("reason", "message", "ref"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body


def answer_for(ticket: Ticket, *, idempotent: bool) -> Answer:
    """The answer a reservation's current state gives: its ticket, queued, or why not."""
    if ticket.state == TICKET_FILED:
        return Answer(ticket.ticket_id, ticket.ticket_url, idempotent=idempotent, ref=ticket.ref)
    reason = ticket.last_reason or ("filing_in_progress" if ticket.state == TICKET_PENDING else ticket.state)
    message = explain(reason, entry=ticket.entry, detail=ticket.last_detail)
    if ticket.state == TICKET_PENDING:
        if reason != "filing_in_progress":
            message = f"{QUEUED_NOTE} {message}"
        return Answer(degraded=True, queued=True, reason=reason, message=message, ref=ticket.ref)
    return Answer(degraded=True, reason=reason, message=message, ref=ticket.ref)


@dataclass(frozen=True)
class _Reserved:
    ticket_id: int
    item_id: int


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
            outbox.deliver(console, step.item_id)
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
        is_open = fs_status in OPEN_FS_STATUSES
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
            return answer_for(ticket, idempotent=True)
        log.info("investigate not reusing ticket_id=%s key=%s fs_status=%s", ticket.ticket_id, key, fs_status)
    return None


def _reuse(console: Console, ticket: Ticket, *, actor: str, env: str) -> Answer:
    with console.db.session() as session:
        audit_filed(session, console.clock, ticket, idempotent=True, actor=actor, env=env)
    log.info("investigate reused ticket_id=%s key=%s ref=%s", ticket.ticket_id, ticket.dedup_key, ticket.ref)
    return answer_for(ticket, idempotent=True)


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
        tags=tags_for(ENTRY_STATUS, surface_id),
        requested_by=actor,
        selected_env=env,
        build_body=lambda ref, related: render.status_body(
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
        return _Reserved(reservation.ticket.id, reservation.item.id)


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


# --- what the grid shows -------------------------------------------------------------------


@dataclass(frozen=True)
class TicketView:
    """A reservation or ticket as a tile shows it: ``queued``, the link, or the reason."""

    entry: str
    state: str
    ref: str
    ticket_id: int | None
    ticket_url: str | None
    reason: str | None
    message: str | None

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        shown = "queued" if ticket.state == TICKET_PENDING else ticket.state
        answer = answer_for(ticket, idempotent=False)
        return cls(
            entry=ENTRIES[ticket.entry].label,
            state=shown,
            ref=ticket.ref,
            ticket_id=ticket.ticket_id,
            ticket_url=ticket.ticket_url,
            reason=answer.reason,
            message=answer.message,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "state": self.state,
            "ref": self.ref,
            "ticket_id": self.ticket_id,
            "ticket_url": self.ticket_url,
            "reason": self.reason,
            "message": self.message,
        }


def latest_investigations(session: Session, keys: Iterable[str], since: datetime) -> dict[str, TicketView]:
    """Per entry-A key, the newest reservation made since ``since`` (any state). No FreeScout call."""
    wanted = list(keys)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Ticket)
        .where(Ticket.entry == ENTRY_STATUS, Ticket.dedup_key.in_(wanted), Ticket.created_at >= since)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    latest: dict[str, TicketView] = {}
    for ticket in rows:
        latest.setdefault(ticket.dedup_key, TicketView.of(ticket))
    return latest


def open_tickets(session: Session, surface_ids: Iterable[str]) -> dict[str, TicketView]:
    """Per surface, its newest filed ticket (either entry) not known to be closed. Our table only."""
    wanted = list(surface_ids)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Ticket)
        .where(Ticket.surface_id.in_(wanted), Ticket.state == TICKET_FILED, not_known_closed())
        .order_by(Ticket.filed_at.desc(), Ticket.id.desc())
    )
    found: dict[str, TicketView] = {}
    for ticket in rows:
        found.setdefault(ticket.surface_id or "", TicketView.of(ticket))
    return found
