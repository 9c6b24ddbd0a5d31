"""Every open ticket of a surface, from either entry and for any status: the tile's story.

One incident can hold several tickets (the alert's, Investigate's on ``degraded``, then on
``down``): the tile lists them all, each with the status or severity it was filed for and its
age, so a status change never drops a link (FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET). Our table
only; FreeScout is never called here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raxx_console.clock import ago
from raxx_console.tickets.models import TICKET_FILED, Ticket
from raxx_console.tickets.service import ENTRIES, ENTRY_STATUS, not_known_closed


@dataclass(frozen=True)
class OpenTicket:
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
            "filed_at": self.filed_at.isoformat().replace("+00:00", "Z"),
            "age_seconds": self.age_seconds,
        }


def _filed_for(ticket: Ticket) -> str:
    primary = ticket.surface_status if ticket.entry == ENTRY_STATUS else ticket.severity
    return primary or ticket.surface_status or ticket.severity or ""


def by_surface(session: Session, surface_ids: Iterable[str], now: datetime) -> dict[str, list[OpenTicket]]:
    """Per surface, its filed tickets not known to be closed, newest first."""
    wanted = list(surface_ids)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Ticket)
        .where(Ticket.surface_id.in_(wanted), Ticket.state == TICKET_FILED, not_known_closed())
        .order_by(Ticket.filed_at.desc(), Ticket.id.desc())
    )
    found: dict[str, list[OpenTicket]] = {}
    for ticket in rows:
        if ticket.ticket_id is None:
            continue
        filed_at = ticket.filed_at or ticket.created_at
        found.setdefault(ticket.surface_id or "", []).append(
            OpenTicket(
                entry=ENTRIES[ticket.entry].label,
                ticket_id=ticket.ticket_id,
                ticket_url=ticket.ticket_url,
                ref=ticket.ref,
                filed_for=_filed_for(ticket),
                filed_at=filed_at,
                age=ago(now, filed_at),
                age_seconds=max(0, int((now - filed_at).total_seconds())),
            )
        )
    return found
