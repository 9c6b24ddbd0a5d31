"""Entry A's read-model: what a reservation or ticket answers to the click and shows on a tile.

Reads our ``tickets`` table only (no FreeScout call), so the grid stays cheap to render. A tile
also tells its surface's story: every open ticket from either entry and any status (one incident
can hold the alert's ticket and Investigate's on ``degraded`` then ``down``), each with the status
or severity it was filed for and its age, so a status change never drops a link.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from raxx_console.clock import ago, iso
from raxx_console.tickets.models import ENTRY_STATUS, TICKET_FILED, TICKET_PENDING, Ticket
from raxx_console.tickets.reasons import explain
from raxx_console.tickets.service import ENTRIES, not_known_closed

QUEUED_NOTE = "Queued — will file when FreeScout answers (once, within the Investigate window)."


def status_key(surface_id: str, status: str) -> str:
    """Entry A's dedup key: the surface and the status it showed."""
    return f"{surface_id}:{status}"


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


def answer_for(ticket: Ticket, *, idempotent: bool, now: datetime | None = None) -> Answer:
    """The answer a reservation's current state gives: its ticket, queued, or why not.

    A reused ticket given ``now`` says so: "already filed 12 minutes ago — #5".
    """
    if ticket.state == TICKET_FILED:
        reused = None
        if idempotent and now is not None and ticket.filed_at is not None:
            reused = f"already filed {ago(now, ticket.filed_at)} — #{ticket.ticket_id}"
        return Answer(
            ticket.ticket_id, ticket.ticket_url, idempotent=idempotent, ref=ticket.ref, message=reused
        )
    reason = ticket.last_reason or ("filing_in_progress" if ticket.state == TICKET_PENDING else ticket.state)
    message = explain(reason, entry=ticket.entry, detail=ticket.last_detail)
    if ticket.state == TICKET_PENDING:
        if reason != "filing_in_progress":
            message = f"{QUEUED_NOTE} {message}"
        return Answer(degraded=True, queued=True, reason=reason, message=message, ref=ticket.ref)
    return Answer(degraded=True, reason=reason, message=message, ref=ticket.ref)


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
        .options(defer(Ticket.body_html))
    )
    latest: dict[str, TicketView] = {}
    for ticket in rows:
        latest.setdefault(ticket.dedup_key, TicketView.of(ticket))
    return latest


@dataclass(frozen=True)
class OpenTicket:
    """One line of a tile's story: an open ticket of the surface, what it was filed for, its age."""

    entry: str
    ticket_id: int
    ticket_url: str | None
    ref: str
    #: What it was filed for: the surface's status (Investigate) or the alert's severity.
    filed_for: str
    filed_at: datetime
    age: str
    age_seconds: int

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "ticket_id": self.ticket_id,
            "ticket_url": self.ticket_url,
            "ref": self.ref,
            "filed_for": self.filed_for,
            "filed_at": iso(self.filed_at),
            "age_seconds": self.age_seconds,
        }


def _filed_for(ticket: Ticket) -> str:
    primary = ticket.surface_status if ticket.entry == ENTRY_STATUS else ticket.severity
    return primary or ticket.surface_status or ticket.severity or ""


@dataclass(frozen=True)
class SurfaceTickets:
    """A surface's open tickets: the newest is the tile's link, and all of them its story."""

    linked: TicketView
    story: tuple[OpenTicket, ...]


def open_tickets(session: Session, surface_ids: Iterable[str], now: datetime) -> dict[str, SurfaceTickets]:
    """Per surface, its filed tickets (either entry) not known to be closed, newest first. Our table only.

    One read of every open ticket, kept for the surfaces asked about: a list of 1,000 ids costs more
    to bind than the few open tickets cost to skip.
    """
    wanted = set(surface_ids)
    rows = session.scalars(
        select(Ticket)
        .where(Ticket.surface_id.is_not(None), Ticket.state == TICKET_FILED, not_known_closed())
        .order_by(Ticket.filed_at.desc(), Ticket.id.desc())
        .options(defer(Ticket.body_html))  # a tile never shows the body; it is the bulk of a row
    )
    grouped: dict[str, list[Ticket]] = {}
    for ticket in rows:
        if ticket.surface_id in wanted:
            grouped.setdefault(ticket.surface_id, []).append(ticket)
    return {
        surface_id: SurfaceTickets(
            TicketView.of(tickets[0]),
            tuple(_story_line(ticket, now) for ticket in tickets if ticket.ticket_id is not None),
        )
        for surface_id, tickets in grouped.items()
    }


def _story_line(ticket: Ticket, now: datetime) -> OpenTicket:
    assert ticket.ticket_id is not None
    filed_at = ticket.filed_at or ticket.created_at
    return OpenTicket(
        entry=ENTRIES[ticket.entry].label,
        ticket_id=ticket.ticket_id,
        ticket_url=ticket.ticket_url,
        ref=ticket.ref,
        filed_for=_filed_for(ticket),
        filed_at=filed_at,
        age=ago(now, filed_at),
        age_seconds=max(0, int((now - filed_at).total_seconds())),
    )
