"""The Slack side of entry B: a DM at every severity, whatever the ticket flag says.

The hook queues one ``slack.dm`` outbox item per recipient per event — fire, severity change,
resolve, and a reminder every ``SLACK_REPEAT_INTERVAL`` while firing, never once per poll. The
event is decided under the alert's row lock, so a restart or a second worker cannot decide it
twice, and the item's dedup key (alert, event sequence, user) keeps a replay harmless. The
outbox delivers DMs as items of their own: they never wait on FreeScout, and a Slack outage only
delays them (rate limits honour ``Retry-After``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from raxx_console.alerts.emission import Decision, Emission, alert_page_url, duration_text
from raxx_console.integrations import registry
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import SLACK_DM_KIND
from raxx_console.outbox.models import OutboxItem

if TYPE_CHECKING:
    from raxx_console.context import Console

#: A DM Slack could not take for a day is news nobody needs any more.
DM_TTL = timedelta(hours=24)
#: A DM whose older sibling (same alert, same user) still waits looks again this soon.
ORDER_WAIT = 1.0


def slack_hook(emission: Emission) -> Decision | None:
    """Queue the event's DMs, or say why none were sent (a reminder not due yet, nobody to DM)."""
    alert, now = emission.alert, emission.now
    settings = emission.console.settings
    interval = timedelta(seconds=settings.SLACK_REPEAT_INTERVAL)
    if emission.event == "repeat" and alert.slack_notified_at is not None:
        due = alert.slack_notified_at + interval
        if now < due:
            return Decision("suppressed", f"repeat: next reminder at {due:%Y-%m-%d %H:%M} UTC")
    recipients = settings.SLACK_ALERT_DM_USER_IDS
    if not recipients:
        return Decision("no_recipients", "SLACK_ALERT_DM_USER_IDS is empty: nobody to DM")
    alert.slack_seq += 1
    alert.slack_notified_at = now
    text = message(emission)
    for user in recipients:
        outbox.enqueue(
            emission.session,
            emission.console.clock,
            kind=SLACK_DM_KIND,
            dedup_key=_dedup_key(alert.alert_key, alert.slack_seq, user),
            payload={"user": user, "text": text, "alert_key": alert.alert_key, "event": emission.event},
            expires_at=now + DM_TTL,
        )
    what = "reminder" if emission.event == "repeat" else emission.event.replace("_", " ")
    return Decision("notified", f"{what} DM queued for {len(recipients)} recipient(s)")


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


def _earlier_dm_pending(console: Console, item: OutboxItem) -> bool:
    """True while an older DM about the same alert to the same user still waits (after an outage)."""
    alert_key, user = item.payload["alert_key"], item.payload["user"]
    with console.db.session() as session:
        return outbox.earlier_pending(session, item, key_prefix=f"{alert_key}:", key_suffix=f":{user}")


def deliver_dm(console: Console, item: OutboxItem) -> outbox.Result:
    """Send one DM, in order per alert and user; rate limits and outages are retried, refusals final."""
    if _earlier_dm_pending(console, item):
        return outbox.Result.retry(
            "waiting_for_earlier_dm", "an older DM about this alert goes first", ORDER_WAIT
        )
    outcome = registry.slack(console).send_dm(item.payload["user"], item.payload["text"])
    if outcome.ok:
        return outbox.Result.done(f"ts={outcome.ts}")
    if outcome.retryable:
        return outbox.Result.retry(outcome.reason or "slack_unavailable", outcome.error, outcome.retry_after)
    return outbox.Result.failed(outcome.reason or "slack_rejected", outcome.error)
