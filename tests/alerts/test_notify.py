"""The Slack hook: a DM at every severity on fire, change and resolve, a reminder every 4 h, not per poll."""

from __future__ import annotations

import pytest

from tests.alerts.helpers import AUTO_TICKET_FLAG, decided, deliver, fire, items, set_flag


@pytest.fixture
def console(alerts_console):
    return alerts_console


def dms(slack_sandbox, user: str = "U0ONCALL1") -> list[str]:
    return [m["text"] for m in slack_sandbox.messages(user)]


def test_each_event_is_one_dm_per_recipient_and_repeats_are_quiet(console, slack_sandbox):
    key = fire(console, "P3").alert_key
    deliver(console)
    for _ in range(10):
        console.clock.advance(30)
        fire(console, "P3")
        deliver(console)
    fire(console, "P1")
    deliver(console)
    fire(console, "P1", status="resolved")
    deliver(console)
    texts = dms(slack_sandbox)
    assert len(texts) == 3
    assert texts[0].startswith("[P3] FIRING: disk-full on db-1")
    assert texts[1].startswith("[P1] SEVERITY P3 → P1: disk-full on db-1")
    assert texts[2].startswith("[P1] RESOLVED after 5 min 0 s: disk-full on db-1")
    assert texts[0].splitlines()[1:] == [
        "98% used",
        f"source ci · alert {key}",
        f"https://console.raxx.app/console/alerts/{key}",
    ]
    assert dms(slack_sandbox, "U0ONCALL2") == texts
    assert decided(console, key, "slack_dm") == ["notified", "suppressed", "notified", "notified"]


def test_dms_queued_together_arrive_in_order(console, slack_sandbox):
    """After a Slack outage the fire, change and resolve DMs wait together; they still arrive in order."""
    slack_sandbox.faults("down")
    fire(console, "P2")
    fire(console, "P1")
    fire(console, "P1", status="resolved")
    deliver(console)
    slack_sandbox.faults("ok")
    for _ in range(4):
        console.clock.advance(300)
        deliver(console)
    assert [text.split(":")[0] for text in dms(slack_sandbox)] == [
        "[P2] FIRING",
        "[P1] SEVERITY P2 → P1",
        "[P1] RESOLVED after 0 min 0 s",
    ]


def test_a_reminder_every_repeat_interval_while_firing(console, slack_sandbox):
    interval = console.settings.SLACK_REPEAT_INTERVAL
    fire(console)
    deliver(console)
    for _ in range(2):
        console.clock.advance(interval - 30)
        fire(console)
        console.clock.advance(30)
        fire(console)
        deliver(console)
    texts = dms(slack_sandbox)
    assert len(texts) == 3
    assert all(text.startswith("[P2] STILL FIRING since 2026-11-23 12:00 UTC") for text in texts[1:])


def test_dms_fire_whatever_the_ticket_flag_says(console, slack_sandbox):
    for flag in (False, True):
        set_flag(console, AUTO_TICKET_FLAG, flag)
        fire(console, "P1", check=f"flag-{flag}")
    deliver(console)
    sent = slack_sandbox.messages("U0ONCALL1")
    assert len([m for m in sent if "thread_ts" not in m]) == 2
    # Only the flag-on alert's ticket link reaches Slack: in its DM when the ticket was filed first,
    # else as a reply in the DM's thread (DMs and tickets are delivered by separate pools).
    linked = [m for m in sent if "Ticket #" in m["text"]]
    assert len(linked) == 1
    dm = next(m for m in sent if "thread_ts" not in m and "flag-True" in m["text"])
    assert linked[0] is dm or linked[0]["thread_ts"] == dm["ts"]


def test_rate_limits_are_retried_after_slack_says(console, slack_sandbox):
    slack_sandbox.faults("ratelimited", retry_after=120)
    fire(console)
    deliver(console)
    assert dms(slack_sandbox) == []
    pending = items(console, "slack.dm")
    assert {(i.state, i.last_reason) for i in pending} == {("pending", "slack_rate_limited")}
    assert all((i.next_attempt_at - console.clock.now()).total_seconds() == 120 for i in pending)
    slack_sandbox.faults("ok")
    console.clock.advance(120)
    deliver(console)
    assert len(dms(slack_sandbox)) == 1
    assert {i.state for i in items(console, "slack.dm")} == {"done"}


def test_a_refusal_is_final_and_visible(alerts_settings, request, slack_sandbox):
    alerts_settings["SLACK_ALERT_DM_USER_IDS"] = "U0NOBODY1"
    console = request.getfixturevalue("console")
    fire(console)
    deliver(console)
    [item] = items(console, "slack.dm")
    assert (item.state, item.last_reason, item.last_detail) == ("failed", "slack_rejected", "user_not_found")


def test_no_recipients_is_a_recorded_decision(alerts_settings, request):
    alerts_settings["SLACK_ALERT_DM_USER_IDS"] = ""
    console = request.getfixturevalue("console")
    key = fire(console).alert_key
    assert decided(console, key, "slack_dm") == ["no_recipients"]
    assert items(console, "slack.dm") == []
