"""The auto-ticket hook (entry B): one FreeScout ticket per alert lifetime, at P2+, while the flag is on.

The durable ``alert_key → ticket`` mapping is the alert row itself (``ticket_pk`` and the
``ticket_lifetime`` it serves), read under the row lock, so restarts and extra workers never
file twice (incident runbook FM1). An in-process cache sits in front of the Ticket lookup for
the common case — a repeat of a firing alert whose ticket is filed — and is only trusted when it
agrees with the locked row: it can save a read, never stand in for one. Each lookup logs
``auto_ticket cache hit alert_key=…`` or ``auto_ticket cache miss alert_key=…`` at INFO, the
lines FM1's diagnosis greps for.

What each event does (``docs/decisions.md``, "Alert lifetimes and re-fires"):

* fire / repeat with no ticket for the lifetime → reserve one (``ticket_reserved``); with one →
  ``deduped`` (filed) or ``ticket_pending`` (create not delivered yet);
* fire of a new lifetime whose previous ticket was filed → ``freescout.refire`` reads FreeScout and
  notes, reopens or files anew (``lifecycle``);
* severity change → a note on the ticket (``noted``); P3 → P2 with no ticket yet files one;
* resolve → a pending create is cancelled (``alert_resolved``); a filed ticket gets a recovery
  note, and is closed when ``FLAG_CONSOLE_ALERTS_AUTO_RESOLVE`` is on;
* P3 → ``below_threshold``, flag off → ``flag_off``: Slack-only, and said so.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from raxx_console.alerts import filing, lifecycle
from raxx_console.alerts.emission import (
    TICKET_THRESHOLD,
    AlertSnapshot,
    Decision,
    Emission,
    at_least,
)
from raxx_console.alerts.models import Alert
from raxx_console.flags.registry import AUTO_RESOLVE_FLAG, AUTO_TICKET_FLAG
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import CLOSE_KIND, CREATE_KIND, NOTE_KIND, REFIRE_KIND
from raxx_console.outbox.models import OUTBOX_FAILED, OUTBOX_PENDING
from raxx_console.tickets.models import (
    TICKET_CANCELLED,
    TICKET_FAILED,
    TICKET_FILED,
    TICKET_PENDING,
    Ticket,
)

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.alerts.auto_ticket")

CACHE_KEY = "auto_ticket_cache"
#: A create or re-fire check that failed for good (rejected, not configured) is tried again at
#: most this often while the alert keeps firing: fixed configuration is picked up, and a broken
#: one does not queue a doomed create every poll.
FAILED_RETRY = timedelta(minutes=15)


@dataclass(frozen=True)
class CachedTicket:
    """A filed ticket as the cache remembers it: which Ticket row, for which lifetime."""

    ticket_pk: int
    lifetime: int
    ticket_id: int | None


class TicketCache:
    """A bounded, thread-safe ``alert_key → CachedTicket`` map (oldest entries fall out first)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, CachedTicket] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, alert_key: str) -> CachedTicket | None:
        with self._lock:
            entry = self._entries.get(alert_key)
            if entry is not None:
                self._entries.move_to_end(alert_key)
            return entry

    def put(self, alert_key: str, entry: CachedTicket) -> None:
        with self._lock:
            self._entries[alert_key] = entry
            self._entries.move_to_end(alert_key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def drop(self, alert_key: str) -> None:
        with self._lock:
            self._entries.pop(alert_key, None)


def ticket_cache(console: Console) -> TicketCache:
    """This process's cache (one per Console, so each test app starts cold)."""
    return console.components.setdefault(CACHE_KEY, TicketCache())


def auto_ticket_hook(emission: Emission) -> Decision | None:
    if emission.event == "resolve":
        return _on_resolve(emission)
    alert = emission.alert
    slack_only = _slack_only(emission.console, alert.severity)
    if slack_only is not None:
        return slack_only
    found = _lookup(emission)
    if isinstance(found, CachedTicket):
        return _on_filed(emission, found.ticket_pk, found.ticket_id)
    if found is None:
        return filing.file_ticket(emission.session, emission.console, alert, _why_new(emission))
    this_lifetime = alert.ticket_lifetime == alert.lifetime
    if found.state == TICKET_PENDING:
        alert.ticket_lifetime = (
            alert.lifetime
        )  # a create from the last lifetime still in flight serves this one
        if emission.event == "severity_change":
            _queue_severity_note(emission, found.id)
        return _pending(found.ref, found.last_reason, found.id)
    if found.state == TICKET_FILED:
        if this_lifetime:
            return _on_filed(emission, found.id, found.ticket_id)
        return _refire(emission, found)
    retry_at = found.created_at + FAILED_RETRY
    if found.state == TICKET_FAILED and emission.event == "repeat" and emission.now < retry_at:
        return Decision(
            "ticket_failed",
            f"ticket {found.ref} failed ({found.last_reason}); trying again after {retry_at:%H:%M} UTC",
            found.id,
        )
    return filing.file_ticket(
        emission.session, emission.console, alert, f"the last ticket {found.ref} ended {found.state}"
    )


def quiet_repeat(console: Console, alert: AlertSnapshot, now: datetime) -> Decision | None:
    """A repeat's decision when it writes nothing: Slack-only, or this lifetime's ticket already
    reserved or filed. None when the repeat has work to do (file, re-fire, retry a failure)."""
    slack_only = _slack_only(console, alert.severity)
    if slack_only is not None:
        return slack_only
    if alert.ticket_pk is None or alert.ticket_lifetime != alert.lifetime:
        return None
    if alert.ticket_state == TICKET_FILED:
        cached = _cached(console, alert)
        if cached is None:
            ticket_cache(console).put(
                alert.alert_key, CachedTicket(alert.ticket_pk, alert.lifetime, alert.ticket_id)
            )
        return _deduped(alert.ticket_pk, alert.ticket_id)
    if alert.ticket_state == TICKET_PENDING:
        log.info("auto_ticket cache miss alert_key=%s", alert.alert_key)
        return _pending(alert.ticket_ref, alert.ticket_last_reason, alert.ticket_pk)
    return None


def first_fire(emission: Emission) -> Decision | filing.TicketPlan:
    """A brand-new alert's first fire: Slack-only (said why), or the reservation to make."""
    slack_only = _slack_only(emission.console, emission.alert.severity)
    if slack_only is not None:
        return slack_only
    return filing.plan_ticket(emission.console, emission.alert, _why_new(emission))


def _slack_only(console: Console, severity: str) -> Decision | None:
    if not at_least(severity, TICKET_THRESHOLD):
        return Decision("below_threshold", f"{severity} is below the P2 ticket threshold: Slack-only")
    if not console.flags.is_enabled(AUTO_TICKET_FLAG):
        return Decision("flag_off", f"{AUTO_TICKET_FLAG} is off: Slack-only")
    return None


def _pending(ref: str | None, last_reason: str | None, ticket_pk: int) -> Decision:
    detail = f" (last try: {last_reason})" if last_reason else ""
    return Decision("ticket_pending", f"ticket {ref} is reserved, not filed yet{detail}", ticket_pk)


def _deduped(ticket_pk: int, ticket_id: int | None) -> Decision:
    return Decision("deduped", f"deduped to ticket #{ticket_id}", ticket_pk)


def _cached(console: Console, alert: Alert | AlertSnapshot) -> CachedTicket | None:
    """The cache's entry when it agrees with the locked row; logs the hit or miss (FM1's grep)."""
    cached = ticket_cache(console).get(alert.alert_key)
    if (
        cached is not None
        and cached.ticket_pk == alert.ticket_pk
        and cached.lifetime == alert.lifetime == alert.ticket_lifetime
    ):
        log.info("auto_ticket cache hit alert_key=%s ticket_id=%s", alert.alert_key, cached.ticket_id)
        return cached
    log.info("auto_ticket cache miss alert_key=%s", alert.alert_key)
    return None


def _lookup(emission: Emission) -> CachedTicket | Ticket | None:
    """The alert's current Ticket: from the cache when it agrees with the locked row, else the DB."""
    alert = emission.alert
    if alert.ticket_pk is None:
        return None
    cached = _cached(emission.console, alert)
    if cached is not None:
        return cached
    ticket = emission.session.get(Ticket, alert.ticket_pk)
    if ticket is not None and ticket.state == TICKET_FILED and alert.ticket_lifetime == alert.lifetime:
        ticket_cache(emission.console).put(
            alert.alert_key, CachedTicket(ticket.id, alert.lifetime, ticket.ticket_id)
        )
    return ticket


def _why_new(emission: Emission) -> str:
    if emission.event == "severity_change":
        return f"escalated {emission.previous_severity} → {emission.alert.severity} with no ticket yet"
    if emission.event == "fire":
        return (
            "first fire"
            if emission.is_first_lifetime
            else f"fired again (lifetime {emission.alert.lifetime})"
        )
    return "still firing with no ticket yet (the flag was off or the severity below P2 until now)"


def _on_filed(emission: Emission, ticket_pk: int, ticket_id: int | None) -> Decision:
    if emission.event == "severity_change":
        _queue_severity_note(emission, ticket_pk)
        change = f"{emission.previous_severity} → {emission.alert.severity}"
        return Decision("noted", f"severity {change}: note queued on ticket #{ticket_id}", ticket_pk)
    return _deduped(ticket_pk, ticket_id)


def _queue_severity_note(emission: Emission, ticket_pk: int) -> None:
    alert = emission.alert
    outbox.enqueue(
        emission.session,
        emission.console.clock,
        kind=NOTE_KIND,
        dedup_key=f"severity:{alert.alert_key}:{alert.lifetime}:{alert.emit_count}",
        ticket_pk=ticket_pk,
        payload={"text": lifecycle.severity_note(emission)},
    )
    lifecycle.queue_subject(emission.session, emission.console.clock, alert, ticket_pk)


def _refire(emission: Emission, previous: Ticket) -> Decision:
    """A new lifetime whose last ticket was filed: let ``freescout.refire`` read FreeScout and decide."""
    alert, session, now = emission.alert, emission.session, emission.now
    key = lifecycle.refire_key(alert)
    last = outbox.latest(session, REFIRE_KIND, key)
    if last is not None and last.state == OUTBOX_PENDING:
        return Decision(
            "ticket_pending", f"re-fire check of ticket #{previous.ticket_id} pending", previous.id
        )
    if (
        last is not None
        and last.state == OUTBOX_FAILED
        and last.finished_at
        and now < last.finished_at + FAILED_RETRY
    ):
        return Decision(
            "ticket_failed",
            f"re-fire check of ticket #{previous.ticket_id} failed ({last.last_reason})",
            previous.id,
        )
    outbox.cancel_pending(session, now, kind=CLOSE_KIND, reason="alert_refired", ticket_pk=previous.id)
    outbox.enqueue(
        session,
        emission.console.clock,
        kind=REFIRE_KIND,
        dedup_key=key,
        ticket_pk=previous.id,
        payload={
            "alert_key": alert.alert_key,
            "lifetime": alert.lifetime,
            "fired_at": alert.fired_at.isoformat(),
        },
    )
    return Decision(
        "refire_check",
        f"fired again: checking ticket #{previous.ticket_id} in FreeScout (open → note; auto-closed "
        "within ALERT_REOPEN_COOLDOWN → reopen; otherwise a new ticket)",
        previous.id,
    )


def _on_resolve(emission: Emission) -> Decision | None:
    alert, session, now = emission.alert, emission.session, emission.now
    ticket_cache(emission.console).drop(alert.alert_key)
    if alert.ticket_pk is None:
        return None
    if alert.ticket_lifetime != alert.lifetime:
        cancelled = outbox.cancel_pending(
            session,
            now,
            kind=REFIRE_KIND,
            reason="alert_resolved",
            dedup_key=lifecycle.refire_key(alert),
        )
        return (
            Decision("cancelled", "resolved before the re-fire check ran: check cancelled")
            if cancelled
            else None
        )
    ticket = session.get(Ticket, alert.ticket_pk)
    if ticket is None or ticket.state not in (TICKET_PENDING, TICKET_FILED):
        return None
    if ticket.state == TICKET_PENDING and outbox.cancel_pending(
        session, now, kind=CREATE_KIND, reason="alert_resolved", ticket_pk=ticket.id
    ):
        ticket.state, ticket.last_reason = TICKET_CANCELLED, "alert_resolved"
        ticket.last_detail = "the alert resolved before FreeScout had the ticket"
        return Decision(
            "cancelled", f"resolved before filing: {ticket.ref} cancelled (alert_resolved)", ticket.id
        )
    # Filed, or a create in flight right now (its note and close wait for it to be filed).
    label = f"#{ticket.ticket_id}" if ticket.ticket_id else ticket.ref
    if not emission.console.flags.is_enabled(AUTO_TICKET_FLAG):
        return Decision(
            "flag_off", f"resolved: {AUTO_TICKET_FLAG} is off, ticket {label} left as it is", ticket.id
        )
    if emission.console.flags.is_enabled(AUTO_RESOLVE_FLAG):
        lifecycle.queue_resolution(emission, ticket, close=True)
        return Decision(
            "closing", f"resolved: note and close queued on ticket {label} ({AUTO_RESOLVE_FLAG})", ticket.id
        )
    lifecycle.queue_resolution(emission, ticket, close=False)
    return Decision(
        "resolve_noted",
        f"resolved: note queued on ticket {label}; closing it is the operator's call",
        ticket.id,
    )
