"""Entry B's ticket: the reservation (via ``tickets.service.reserve``) and what it says.

Shared by the auto-ticket hook (first fire, escalation from P3, a failed or cancelled earlier
try) and the re-fire handler (a new lifetime after a human closed the last ticket). Both call it
with the alert row locked, in the transaction that changes the alert, so the Ticket, its
``freescout.create`` item and the alert's pointer to it commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from raxx_console.alerts.emission import Decision, alert_page_url
from raxx_console.alerts.models import Alert
from raxx_console.tickets import render
from raxx_console.tickets import service as tickets
from raxx_console.tickets.models import ENTRY_ALERT

if TYPE_CHECKING:
    from raxx_console.context import Console

REQUESTED_BY = "system:alert_aggregator"


def ticket_title(alert: Alert) -> str:
    """Severity, source and what is wrong: ``[P2] status_poller: API (prod) is degraded``."""
    return f"[{alert.severity}] {alert.source}: {alert.title}"


def alert_body(
    alert: Alert, ref: str, related: Sequence[render.RelatedTicket], console_url: str | None
) -> str:
    """The ticket body: details, labels and a link to the alert's page on the console."""
    labels = ", ".join(f"{key}={value}" for key, value in sorted(alert.labels.items()))
    page = alert_page_url(console_url, alert.alert_key)
    return render.body(
        ticket_title(alert),
        [
            ("Severity", alert.severity),
            ("Source", alert.source),
            ("Check", alert.check),
            ("Firing since", render.when(alert.fired_at)),
            ("Details", alert.details),
            ("Labels", labels),
            ("Surface", alert.surface_id),
            ("Alert key", alert.alert_key),
            ("Lifetime", alert.lifetime),
            ("Alert page", render.link(page, "open in the console") if page else None),
        ],
        ref=ref,
        related=related,
        footer="Filed by the Raxx Console alerts pipeline (entry point B).",
    )


@dataclass(frozen=True)
class TicketPlan:
    """A reservation to make for an alert, and why: ``file_ticket`` makes it at once, a batch's
    first fires make theirs together (``tickets.reserve_many``)."""

    request: tickets.TicketRequest
    why: str

    def reserved(self, ticket_pk: int, ref: str) -> Decision:
        return Decision(
            "ticket_reserved", f"{self.why}: ticket {ref} reserved, freescout.create queued", ticket_pk
        )


def plan_ticket(console: Console, alert: Alert, why: str) -> TicketPlan:
    """What the alert's ticket says (title, tags, body), ready to reserve."""
    settings = console.settings
    request = tickets.TicketRequest(
        entry=ENTRY_ALERT,
        dedup_key=alert.alert_key,
        title=ticket_title(alert),
        tags=tickets.tags_for(ENTRY_ALERT, alert.source),
        requested_by=REQUESTED_BY,
        selected_env=console.env,
        build_body=lambda ref, related: alert_body(alert, ref, related, settings.CONSOLE_BASE_URL),
        surface_id=alert.surface_id,
        severity=alert.severity,
    )
    return TicketPlan(request, why)


def file_ticket(session: Session, console: Console, alert: Alert, why: str) -> Decision:
    """Reserve the lifetime's ticket and point the alert at it; adopts a reservation already in flight."""
    plan = plan_ticket(console, alert, why)
    for _attempt in range(2):  # a second try only if the random ref clashed
        reservation = tickets.reserve(session, console.clock, console.settings, plan.request)
        ticket = (
            reservation.ticket if reservation else tickets.pending_for(session, ENTRY_ALERT, alert.alert_key)
        )
        if ticket is not None:
            break
    else:
        raise RuntimeError(f"could not reserve a ticket for {alert.alert_key}")
    alert.ticket_pk, alert.ticket_lifetime = ticket.id, alert.lifetime
    if reservation is None:
        return Decision(
            "ticket_pending", f"{why}: adopted reservation {ticket.ref} already in flight", ticket.id
        )
    return plan.reserved(ticket.id, ticket.ref)
