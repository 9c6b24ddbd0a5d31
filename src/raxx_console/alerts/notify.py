"""The Slack side of entry B: a DM at every severity, whatever the ticket flag says.

The hook queues one ``slack.dm`` outbox item per recipient per event — fire, severity change,
resolve, and a reminder every ``SLACK_REPEAT_INTERVAL`` while firing, never once per poll. The
event is decided under the alert's row lock, so a restart or a second worker cannot decide it
twice, and the item's dedup key (alert, event sequence, user) keeps a replay harmless. The
outbox delivers DMs as items of their own: they never wait on FreeScout, and a Slack outage only
delays them (rate limits honour ``Retry-After``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from raxx_console.alerts.emission import (
    TICKET_THRESHOLD,
    AlertSnapshot,
    Decision,
    Emission,
    alert_page_url,
    at_least,
    duration_text,
)
from raxx_console.alerts.models import RESOLVED, Alert
from raxx_console.flags.registry import AUTO_TICKET_FLAG
from raxx_console.integrations import registry
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import SLACK_DM_KIND, SLACK_TICKET_LINK_KIND
from raxx_console.outbox.models import OUTBOX_DONE, OUTBOX_PENDING, OutboxItem
from raxx_console.tickets.models import TICKET_FILED, TICKET_PENDING, Ticket

if TYPE_CHECKING:
    from raxx_console.context import Console

#: A DM Slack could not take for a day is news nobody needs any more.
DM_TTL = timedelta(hours=24)
#: A DM whose older sibling (same alert, same user) still waits looks again this soon.
ORDER_WAIT = 1.0


def slack_hook(emission: Emission) -> Decision | None:
    """Queue the event's DMs, or say why none were sent (a reminder not due yet, nobody to DM)."""
    if emission.event == "repeat":
        quiet = _reminder_not_due(emission.console, emission.alert.slack_notified_at, emission.now)
        if quiet is not None:
            return quiet
    decision, dms = plan_dms(emission)
    for dm in dms:
        outbox.enqueue(
            emission.session,
            emission.console.clock,
            kind=dm.kind,
            dedup_key=dm.dedup_key,
            payload=dm.payload,
            expires_at=dm.expires_at,
            waits=dm.waits,
        )
    return decision


def quiet_repeat(console: Console, alert: AlertSnapshot, now: datetime) -> Decision | None:
    """A repeat's decision when it writes nothing (no reminder due, or nobody to DM); else None."""
    quiet = _reminder_not_due(console, alert.slack_notified_at, now)
    if quiet is None and not console.settings.SLACK_ALERT_DM_USER_IDS:
        return _nobody_to_dm()
    return quiet


def plan_dms(emission: Emission) -> tuple[Decision, list[outbox.NewItem]]:
    """The event's DMs, one per recipient, to enqueue (and, when the alert's ticket is about to be
    filed, each DM's ``slack.ticket_link`` follow-up); moves the alert's DM sequence on.

    The hook enqueues them one by one; the set-based path of a batch's first fires with
    ``outbox.enqueue_many``.
    """
    alert, now = emission.alert, emission.now
    recipients = emission.console.settings.SLACK_ALERT_DM_USER_IDS
    if not recipients:
        return _nobody_to_dm(), []
    alert.slack_seq += 1
    alert.slack_notified_at = now
    text = message(emission)
    linked = _ticket_expected(emission)
    dms, links = [], []
    for user in recipients:
        dm_key = _dedup_key(alert.alert_key, alert.slack_seq, user)
        payload = {"user": user, "text": text, "alert_key": alert.alert_key, "event": emission.event}
        if linked:
            link_key = f"link:{alert.alert_key}:{alert.lifetime}:{user}"
            payload = outbox.followed_by(payload, SLACK_TICKET_LINK_KIND, link_key)
            links.append(
                outbox.NewItem(
                    SLACK_TICKET_LINK_KIND,
                    link_key,
                    {"user": user, "alert_key": alert.alert_key, "dm_key": dm_key},
                    expires_at=now + DM_TTL,
                    waits=True,  # due when its DM ends
                )
            )
        dms.append(outbox.NewItem(SLACK_DM_KIND, dm_key, payload, expires_at=now + DM_TTL))
    dms += links
    what = "reminder" if emission.event == "repeat" else emission.event.replace("_", " ")
    return Decision("notified", f"{what} DM queued for {len(recipients)} recipient(s)"), dms


def _reminder_not_due(console: Console, notified_at: datetime | None, now: datetime) -> Decision | None:
    if notified_at is None:
        return None
    due = notified_at + timedelta(seconds=console.settings.SLACK_REPEAT_INTERVAL)
    if now < due:
        return Decision("suppressed", f"repeat: next reminder at {due:%Y-%m-%d %H:%M} UTC")
    return None


def _nobody_to_dm() -> Decision:
    return Decision("no_recipients", "SLACK_ALERT_DM_USER_IDS is empty: nobody to DM")


def _ticket_expected(emission: Emission) -> bool:
    """This DM goes out before the ticket the auto-ticket hook is about to file for the alert."""
    alert = emission.alert
    return (
        emission.event in ("fire", "severity_change")
        and at_least(alert.severity, TICKET_THRESHOLD)
        and (alert.ticket_pk is None or alert.ticket_lifetime != alert.lifetime)
        and emission.console.flags.is_enabled(AUTO_TICKET_FLAG)
    )


def message(emission: Emission) -> str:
    """The DM text: severity and state first, then what is wrong and where to look."""
    alert = emission.alert
    if emission.event == "fire":
        headline = "FIRING"
    elif emission.event == "severity_change":
        headline = f"SEVERITY {emission.previous_severity} → {alert.severity}"
    elif emission.event == "resolve":
        headline = f"RESOLVED after {duration_text(emission.now - alert.fired_at)}"
    else:
        headline = f"STILL FIRING since {alert.fired_at:%Y-%m-%d %H:%M} UTC"
    lines = [f"[{alert.severity}] {headline}: {alert.title}"]
    if alert.details:
        lines.append(alert.details[:1500])
    lines.append(f"source {alert.source} · alert {alert.alert_key}")
    url = alert_page_url(emission.console.settings.CONSOLE_BASE_URL, alert.alert_key)
    if url:
        lines.append(url)
    return "\n".join(lines)


def _dedup_key(alert_key: str, seq: int, user: str) -> str:
    return f"{alert_key}:{seq}:{user}"


def _earlier_dm_pending(session: Session, item: OutboxItem) -> bool:
    """True while an older DM about the same alert to the same user still waits (after an outage)."""
    alert_key, user = item.payload["alert_key"], item.payload["user"]
    return outbox.earlier_pending(session, item, key_prefix=f"{alert_key}:", key_suffix=f":{user}")


def deliver_dm(console: Console, item: OutboxItem) -> outbox.Result:
    """Send one DM, in order per alert and user; rate limits and outages are retried, refusals final."""
    with console.db.session() as session:
        if _earlier_dm_pending(session, item):
            return outbox.Result.retry(
                "waiting_for_earlier_dm", "an older DM about this alert goes first", ORDER_WAIT
            )
        about = _alert_and_ticket(session, item.payload["alert_key"])
    text = item.payload["text"]
    filed_id = about.ticket_id if about is not None and about.ticket_state == TICKET_FILED else None
    if about is not None and filed_id is not None:
        text += "\n" + ticket_line(about)
    outcome = registry.slack(console).send_dm(item.payload["user"], text)
    if outcome.ok:
        return outbox.Result.done(
            f"ts={outcome.ts}" + (f" ticket={filed_id}" if filed_id is not None else "")
        )
    return _failed(outcome)


def _failed(outcome: Any) -> outbox.Result:
    if outcome.retryable:
        return outbox.Result.retry(outcome.reason or "slack_unavailable", outcome.error, outcome.retry_after)
    return outbox.Result.failed(outcome.reason or "slack_rejected", outcome.error)


def ticket_line(ticket: AlertTicket) -> str:
    return f"Ticket #{ticket.ticket_id}: {ticket.ticket_url}"


class AlertTicket(NamedTuple):
    """What a DM or its link needs of an alert and its current ticket (one row, no ticket body)."""

    state: str
    severity: str
    title: str
    ticket_pk: int | None
    ticket_state: str | None
    ticket_id: int | None
    ticket_url: str | None


def _alert_and_ticket(session: Session, alert_key: str) -> AlertTicket | None:
    row = session.execute(
        select(
            Alert.state,
            Alert.severity,
            Alert.title,
            Ticket.id,
            Ticket.state,
            Ticket.ticket_id,
            Ticket.ticket_url,
        )
        .outerjoin(Ticket, Ticket.id == Alert.ticket_pk)
        .where(Alert.alert_key == alert_key)
    ).one_or_none()
    return AlertTicket(*row) if row is not None else None


def _sent(detail: str | None) -> dict[str, str]:
    """What ``deliver_dm`` recorded: ``ts=<slack ts>`` and, when the DM carried it, ``ticket=<id>``."""
    return dict(part.split("=", 1) for part in (detail or "").split() if "=" in part)


def deliver_ticket_link(console: Console, item: OutboxItem) -> outbox.Result:
    """Once the alert's ticket is filed, reply in the thread of the DM that went out without it."""
    with console.db.session() as session:
        about = _alert_and_ticket(session, item.payload["alert_key"])
        dm = outbox.latest(session, SLACK_DM_KIND, item.payload["dm_key"])
        dm_state, sent = (dm.state, _sent(dm.last_detail)) if dm is not None else (None, {})
    if about is None:
        return outbox.Result.cancelled("alert_gone")
    if about.ticket_state is None or about.ticket_state == TICKET_PENDING:
        if about.state == RESOLVED:
            return outbox.Result.cancelled("no_ticket", "the alert resolved before a ticket was filed")
        return outbox.Result.wait_for_ticket(about.ticket_pk, "waiting for the ticket to be filed")
    if about.ticket_state != TICKET_FILED or about.ticket_id is None:
        return outbox.Result.cancelled("no_ticket", f"the ticket ended {about.ticket_state}")
    if dm_state == OUTBOX_PENDING:
        return outbox.Result.wait_for_item(SLACK_DM_KIND, item.payload["dm_key"], "the DM goes first")
    if sent.get("ticket") == str(about.ticket_id):
        return outbox.Result.done("the DM carried the link")
    thread_ts = sent.get("ts") if dm_state == OUTBOX_DONE else None
    text = f"[{about.severity}] {about.title}: filed. " + ticket_line(about)
    outcome = registry.slack(console).send_dm(item.payload["user"], text, thread_ts=thread_ts)
    if outcome.ok:
        return outbox.Result.done(f"ts={outcome.ts} thread={thread_ts or '-'}")
    return _failed(outcome)
