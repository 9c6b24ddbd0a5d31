"""An alert ticket's life after filing: recovery notes, auto-close, and what a re-fire does.

Outbox handlers (each reads FreeScout before it writes, because "open" is FreeScout's word, not ours):

* ``freescout.recovery_note`` — a note saying the alert resolved (or the surface recovered), on a
  ticket that is still open; a ticket already closed is left alone.
* ``freescout.close`` — the recovery note, then ``update_conversation(status="closed")`` as the bot
  user, and ``Ticket.auto_closed_at`` set (FLAG_CONSOLE_ALERTS_AUTO_RESOLVE). A ticket a human
  closed first stays theirs: ``auto_closed_at`` stays empty, so a re-fire never reopens it.
* ``freescout.refire`` — a new lifetime whose last ticket was filed: still open → note on it;
  closed by us within ``ALERT_REOPEN_COOLDOWN`` of the re-fire → reopen (active) + note (a flapping
  alert keeps one ticket); closed by a human, auto-closed earlier, spam or deleted → a new ticket
  for the new lifetime.

Notes carry a marker line and are skipped when a thread already has it, so a retry after an
uncertain answer does not post twice. Decisions the handlers take are recorded on the alert
like the hooks' (hook ``auto_ticket``), so the alerts page tells the whole story.

The ``surface_recovery`` hook adds the recovery note to a surface's open Investigate (entry A)
tickets when the status_poller resolves it; resolving those stays the operator's act (runbook FM3).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from raxx_console.alerts import filing
from raxx_console.alerts.emission import (
    SEVERITY_RANK,
    Decision,
    Emission,
    duration_text,
)
from raxx_console.alerts.models import FIRING, RESOLVED, Alert
from raxx_console.alerts.store import lock_alert, record_decision
from raxx_console.clock import Clock
from raxx_console.flags.registry import AUTO_RESOLVE_FLAG, AUTO_TICKET_FLAG
from raxx_console.integrations import registry
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_outcomes import Conversation, Outcome, Reason
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import CLOSE_KIND, RECOVERY_NOTE_KIND, SUBJECT_KIND
from raxx_console.outbox.models import OutboxItem
from raxx_console.outbox.service import Result
from raxx_console.tickets import render
from raxx_console.tickets.models import ENTRY_STATUS, TICKET_FILED, TICKET_PENDING, Ticket
from raxx_console.tickets.service import ENTRIES, not_known_closed

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.alerts.lifecycle")

#: Decisions taken at delivery belong to the auto-ticket hook's story.
HOOK = "auto_ticket"
#: How long a handler waits before looking again at a ticket still being filed, or a close in flight.
WAIT_SECONDS = 10.0


def refire_key(alert: Alert) -> str:
    return f"{alert.alert_key}:{alert.lifetime}"


def _marker(alert_key: str, lifetime: int, event: str) -> str:
    return f"alert {alert_key}, lifetime {lifetime}: {event}"


def note_html(alert: Alert, text: str, event: str) -> str:
    """A note's HTML: the message, then the marker line naming the alert, lifetime and event."""
    marker = _marker(alert.alert_key, alert.lifetime, event)
    return str(Markup("<p>{}</p>\n<p><small>{}</small></p>").format(text, marker))


def severity_note(emission: Emission) -> str:
    """The note a severity change adds to the ticket, as HTML."""
    alert = emission.alert
    change = f"{emission.previous_severity} → {alert.severity}"
    worse = SEVERITY_RANK[alert.severity] < SEVERITY_RANK[emission.previous_severity or "P3"]
    verb = "Escalated" if worse else "De-escalated"
    text = f"{verb}: {change} at {render.when(emission.now)}. {alert.details}"
    return note_html(alert, text, f"severity {change}")


def _resolution_text(alert: Alert, now: datetime) -> str:
    return f"Resolved at {render.when(now)} after {duration_text(now - alert.fired_at)}. {alert.details}"


def queue_resolution(emission: Emission, ticket: Ticket, *, close: bool) -> None:
    """Queue the recovery note on the alert's ticket, and its close when ``close``."""
    alert = emission.alert
    outbox.enqueue(
        emission.session,
        emission.console.clock,
        kind=CLOSE_KIND if close else RECOVERY_NOTE_KIND,
        dedup_key=f"{ticket.id}:{alert.alert_key}:{alert.lifetime}",
        ticket_pk=ticket.id,
        payload={
            "text": note_html(alert, _resolution_text(alert, emission.now), "resolved"),
            "marker": _marker(alert.alert_key, alert.lifetime, "resolved"),
            "alert_key": alert.alert_key,
            "lifetime": alert.lifetime,
        },
    )


def incident_names(tickets: list[Ticket]) -> str:
    """ "#4 (alert P2), #5 (Investigate degraded), #6 (Investigate down)": one incident's tickets."""
    return ", ".join(
        f"#{t.ticket_id} ({ENTRIES[t.entry].label} "
        f"{t.surface_status if t.entry == ENTRY_STATUS else t.severity})"
        for t in tickets
    )


def surface_recovery_hook(emission: Emission) -> Decision | None:
    """The poller resolved a surface: a note on each of its Investigate tickets not known to be closed."""
    alert = emission.alert
    if emission.event != "resolve" or alert.source != "status_poller" or not alert.surface_id:
        return None
    incident = list(
        emission.session.scalars(
            select(Ticket)
            .where(
                Ticket.surface_id == alert.surface_id,
                Ticket.state == TICKET_FILED,
                not_known_closed(),
            )
            .order_by(Ticket.filed_at, Ticket.id)
        )
    )
    investigations = [ticket for ticket in incident if ticket.entry == ENTRY_STATUS]
    if not investigations:
        return None
    text = (
        f"Surface {alert.surface_id} recovered at {render.when(emission.now)} "
        f"(status_poller: {alert.details}). "
        f"Open tickets of this incident: {incident_names(incident)}. "
        "Resolving them stays the operator's call (runbook failure mode 3)."
    )
    for ticket in investigations:
        outbox.enqueue(
            emission.session,
            emission.console.clock,
            kind=RECOVERY_NOTE_KIND,
            dedup_key=f"{ticket.id}:{alert.alert_key}:{alert.lifetime}",
            ticket_pk=ticket.id,
            payload={
                "text": note_html(alert, text, "surface recovered"),
                "marker": _marker(alert.alert_key, alert.lifetime, "surface recovered"),
            },
        )
    names = ", ".join(f"#{t.ticket_id}" for t in investigations)
    return Decision("noted", f"surface recovered: note queued on Investigate ticket(s) {names}")


# --- delivery ---------------------------------------------------------------------------------


def _failure(outcome: Outcome[Any]) -> Result:
    reason = outcome.reason.value if outcome.reason is not None else Reason.UNEXPECTED.value
    if outcome.retryable:
        return Result.retry(reason, outcome.detail or None)
    return Result.failed(reason, outcome.detail or None)


def _filed_ticket(console: Console, item: OutboxItem) -> Ticket | Result:
    """The item's Ticket once filed; a Result when it is still being filed or never will be."""
    with console.db.session() as session:
        ticket = session.get(Ticket, item.ticket_pk) if item.ticket_pk is not None else None
        if ticket is not None:
            session.expunge(ticket)
    if ticket is None:
        return Result.cancelled("ticket_gone")
    if ticket.state == TICKET_PENDING:
        return Result.retry("ticket_not_filed", "waiting for the ticket to be filed", WAIT_SECONDS)
    if ticket.state != TICKET_FILED or ticket.ticket_id is None:
        return Result.cancelled("ticket_not_filed", f"the ticket ended {ticket.state}")
    return ticket


def _read(client: FreeScoutClient, ticket: Ticket) -> Conversation | Result | None:
    """The conversation with its threads; None when FreeScout no longer has it."""
    outcome = client.get_conversation(ticket.ticket_id)  # type: ignore[arg-type]
    if outcome.ok:
        return outcome.value
    if outcome.reason is Reason.NOT_FOUND:
        return None
    return _failure(outcome)


def _note_once(
    client: FreeScoutClient, ticket: Ticket, conversation: Conversation, text: str, marker: str
) -> Result | None:
    """Add the note unless a thread already carries its marker; a Result only on failure."""
    if any(marker in thread.body for thread in conversation.threads):
        return None
    outcome = client.add_note(ticket.ticket_id, text)  # type: ignore[arg-type]
    return None if outcome.ok else _failure(outcome)


def _update_ticket(
    session: Session, ticket_pk: int, fs_status: str, now: datetime, **changes: object
) -> None:
    """What FreeScout last said about the ticket (and what we changed on it), in one UPDATE."""
    session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_pk)
        .values(fs_status=fs_status, fs_checked_at=now, **changes)
        .execution_options(synchronize_session=False)
    )


def _remember(console: Console, ticket_pk: int, fs_status: str) -> None:
    with console.db.session() as session:
        _update_ticket(session, ticket_pk, fs_status, console.clock.now())


def _read_ticket(
    console: Console, item: OutboxItem
) -> tuple[FreeScoutClient, Ticket, Conversation | None] | Result:
    """The item's filed ticket and its conversation as FreeScout has it now (None: deleted)."""
    ticket = _filed_ticket(console, item)
    if isinstance(ticket, Result):
        return ticket
    client = registry.freescout(console)
    conversation = _read(client, ticket)
    if isinstance(conversation, Result):
        return conversation
    return client, ticket, conversation


def _open_ticket(
    console: Console, item: OutboxItem, closed_detail: str
) -> tuple[FreeScoutClient, Ticket, Conversation] | Result:
    """The item's filed ticket and its conversation while open in FreeScout; else the Result to record.

    A ticket closed (or deleted) in FreeScout is remembered as such and left alone.
    """
    found = _read_ticket(console, item)
    if isinstance(found, Result):
        return found
    client, ticket, conversation = found
    if conversation is None or not conversation.is_open:
        status = conversation.status if conversation else "deleted"
        _remember(console, ticket.id, status)
        return Result.done(closed_detail.format(ticket=ticket.ticket_id, status=status))
    return client, ticket, conversation


def deliver_recovery_note(console: Console, item: OutboxItem) -> Result:
    found = _open_ticket(console, item, "ticket #{ticket} is {status}: no note")
    if isinstance(found, Result):
        return found
    client, ticket, conversation = found
    failed = _note_once(client, ticket, conversation, item.payload["text"], item.payload["marker"])
    if failed is not None:
        return failed
    _remember(console, ticket.id, conversation.status)
    return Result.done(f"note on #{ticket.ticket_id}")


def queue_subject(session: Session, clock: Clock, alert: Alert, ticket_pk: int) -> None:
    """After a severity change: rewrite the ticket's subject to the alert's severity then."""
    outbox.enqueue(
        session,
        clock,
        kind=SUBJECT_KIND,
        dedup_key=f"subject:{alert.alert_key}:{alert.lifetime}:{alert.emit_count}",
        ticket_pk=ticket_pk,
        payload={"alert_key": alert.alert_key},
    )


def deliver_subject(console: Console, item: OutboxItem) -> Result:
    """``PUT /api/conversations/{id}`` with the subject the alert's *current* severity gives.

    Built at delivery, so two quick changes cannot land out of order; the ``[RX-…]`` reference
    stays first in it, which is what the reconcile search finds the ticket by.
    """
    ticket = _filed_ticket(console, item)
    if isinstance(ticket, Result):
        return ticket
    with console.db.session() as session:
        alert = session.scalar(select(Alert).where(Alert.alert_key == item.payload.get("alert_key")))
        subject = render.subject(ticket.ref, filing.ticket_title(alert)) if alert is not None else None
    if subject is None:
        return Result.cancelled("alert_gone")
    if subject == ticket.subject:
        return Result.done(f"subject of #{ticket.ticket_id} already current")
    outcome = registry.freescout(console).update_conversation(ticket.ticket_id, subject=subject)  # type: ignore[arg-type]
    if not outcome.ok:
        if outcome.reason is Reason.NOT_FOUND:
            return Result.cancelled("conversation_gone", "the conversation no longer exists")
        return _failure(outcome)
    with console.db.session() as session:
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(subject=subject))
    return Result.done(f"subject of #{ticket.ticket_id}: {subject}")


def _current_alert(console: Console, payload: dict[str, object]) -> Alert | None:
    with console.db.session() as session:
        alert = session.scalar(select(Alert).where(Alert.alert_key == payload.get("alert_key")))
        if alert is not None:
            session.expunge(alert)
    return alert


def deliver_close(console: Console, item: OutboxItem) -> Result:
    alert = _current_alert(console, item.payload)
    if alert is None or alert.lifetime != item.payload.get("lifetime") or alert.state != RESOLVED:
        return Result.cancelled("alert_refired", "the alert fired again before its ticket was closed")
    found = _open_ticket(console, item, "ticket #{ticket} is already {status}: left alone")
    if isinstance(found, Result):
        return found
    client, ticket, conversation = found
    failed = _note_once(client, ticket, conversation, item.payload["text"], item.payload["marker"])
    if failed is not None:
        return failed
    if not console.flags.is_enabled(AUTO_RESOLVE_FLAG):
        _remember(console, ticket.id, conversation.status)
        return Result.done(f"{AUTO_RESOLVE_FLAG} turned off: note only on #{ticket.ticket_id}")
    closed = client.update_conversation(ticket.ticket_id, status="closed")  # type: ignore[arg-type]
    if not closed.ok:
        return _failure(closed)
    now = console.clock.now()
    with console.db.session() as session:
        locked = lock_alert(session, alert.alert_id)  # the alert first: the order emit takes its locks in
        _update_ticket(session, ticket.id, "closed", now, auto_closed_at=now)
        if locked is not None:
            decision = Decision("closed", f"ticket #{ticket.ticket_id} closed", ticket.id)
            record_decision(session, now, locked, HOOK, "resolve", decision)
    return Result.done(f"closed #{ticket.ticket_id}")


def _close_in_flight(console: Console, ticket_pk: int) -> bool:
    with console.db.session() as session:
        return outbox.in_flight(session, CLOSE_KIND, ticket_pk, console.clock.now())


def deliver_refire(console: Console, item: OutboxItem) -> Result:
    """Read the last lifetime's ticket in FreeScout and note it, reopen it, or file a new one."""
    lifetime = item.payload.get("lifetime")
    alert = _current_alert(console, item.payload)
    if alert is None or alert.lifetime != lifetime or alert.state != FIRING:
        return Result.cancelled("alert_resolved", "the alert resolved before the re-fire check ran")
    if not console.flags.is_enabled(AUTO_TICKET_FLAG):
        return Result.cancelled("flag_off", f"{AUTO_TICKET_FLAG} is off")
    if item.ticket_pk is not None and _close_in_flight(console, item.ticket_pk):
        return Result.retry("close_in_flight", "the last lifetime's close is being delivered", WAIT_SECONDS)
    found = _read_ticket(console, item)
    if isinstance(found, Result):
        return found
    client, ticket, conversation = found
    status = conversation.status if conversation else "deleted"
    fired_at = datetime.fromisoformat(str(item.payload["fired_at"]))
    cooldown = timedelta(seconds=console.settings.ALERT_REOPEN_COOLDOWN)
    text = f"Fired again at {render.when(fired_at)} (lifetime {lifetime}): {alert.title}. {alert.details}"
    note, marker = (
        note_html(alert, text, "fired again"),
        _marker(alert.alert_key, alert.lifetime, "fired again"),
    )
    label = f"#{ticket.ticket_id}"
    if conversation is not None and conversation.is_open:
        failed = _note_once(client, ticket, conversation, note, marker)
        if failed is not None:
            return failed
        return _settle(
            console,
            alert,
            ticket,
            status,
            Decision("deduped", f"fired again: ticket {label} still open, note added", ticket.id),
        )
    auto_closed = ticket.auto_closed_at
    if (
        conversation is not None
        and status == "closed"
        and auto_closed is not None
        and fired_at - auto_closed <= cooldown
    ):
        reopened = client.update_conversation(ticket.ticket_id, status="active")  # type: ignore[arg-type]
        if not reopened.ok:
            return _failure(reopened)
        failed = _note_once(client, ticket, conversation, note, marker)
        if failed is not None:
            return failed
        after = duration_text(fired_at - auto_closed)
        why = f"fired again {after} after we auto-closed {label} (within ALERT_REOPEN_COOLDOWN): reopened"
        reopen = Decision("cooldown", why, ticket.id)
        return _settle(console, alert, ticket, "active", reopen, auto_closed_at=None)
    if status == "closed" and auto_closed is not None:
        after = duration_text(fired_at - auto_closed)
        why = f"ticket {label} was auto-closed {after} before the re-fire (over ALERT_REOPEN_COOLDOWN)"
    elif status == "closed":
        why = f"ticket {label} was closed by a person"
    else:
        why = f"ticket {label} is {status}"
    return _settle(console, alert, ticket, status, None, new_ticket_because=why)


def _settle(
    console: Console,
    alert: Alert,
    ticket: Ticket,
    fs_status: str,
    decision: Decision | None,
    *,
    new_ticket_because: str | None = None,
    **changes: object,
) -> Result:
    """Record what the re-fire check found, under the alert's lock, and point the alert at its ticket."""
    now = console.clock.now()
    with console.db.session() as session:
        locked = lock_alert(session, alert.alert_id)  # the alert first: the order emit takes its locks in
        _update_ticket(session, ticket.id, fs_status, now, **changes)
        if locked is None or locked.lifetime != alert.lifetime or locked.state != FIRING:
            return Result.cancelled("alert_resolved", "the alert resolved while the re-fire check ran")
        if new_ticket_because is not None:
            filed = filing.file_ticket(
                session, console, locked, f"{new_ticket_because}: new ticket for lifetime {locked.lifetime}"
            )
            decision = Decision("new_lifetime", filed.reason, filed.ticket_pk)
        else:
            locked.ticket_lifetime = locked.lifetime
        assert decision is not None
        record_decision(session, now, locked, HOOK, "fire", decision)
    log.info("auto_ticket refire alert_key=%s decision=%s", alert.alert_key, decision.decision)
    return Result.done(decision.reason)
