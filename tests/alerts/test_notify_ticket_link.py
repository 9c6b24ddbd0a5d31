"""Slack DMs link the alert's ticket: in the DM when it is filed already, else in the DM's thread."""

from __future__ import annotations

import httpx
import pytest

from raxx_console.call_failures import CallFailure
from raxx_console.outbox import service as outbox
from tests.alerts.helpers import AUTO_TICKET_FLAG, deliver, fire, items, rows, set_flag, tickets


@pytest.fixture
def console(alerts_console):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    return alerts_console


def messages(slack_sandbox, user: str = "U0ONCALL1") -> list[dict]:
    return slack_sandbox.messages(user)


def test_a_ticket_filed_after_the_dm_is_linked_in_the_dms_thread(console, slack_sandbox, freescout_sandbox):
    freescout_sandbox.faults(mode="down")  # the DM goes out first; the ticket waits for FreeScout
    fire(console, "P2")
    deliver(console)
    [dm] = messages(slack_sandbox)
    assert "Ticket #" not in dm["text"]
    freescout_sandbox.faults(mode="ok")
    for _ in range(4):
        console.clock.advance(120)
        deliver(console)
    [ticket] = tickets(console)
    dm, reply = messages(slack_sandbox)
    assert reply["thread_ts"] == dm["ts"], "a threaded follow-up to the DM"
    assert reply["text"].endswith(f"Ticket #{ticket.ticket_id}: {ticket.ticket_url}")
    assert {item.state for item in items(console, "slack.ticket_link")} == {"done"}
    assert len(messages(slack_sandbox, "U0ONCALL2")) == 2


def test_a_dm_sent_after_filing_carries_the_link_and_no_follow_up_is_sent(
    console, slack_sandbox, freescout_sandbox
):
    slack_sandbox.faults("down")
    fire(console, "P2")
    deliver(console)  # the ticket is filed; the DM waits for Slack
    slack_sandbox.faults("ok")
    for _ in range(4):
        console.clock.advance(120)
        deliver(console)
    [ticket] = tickets(console)
    [dm] = messages(slack_sandbox)
    assert f"Ticket #{ticket.ticket_id}: {ticket.ticket_url}" in dm["text"]
    assert [i.last_detail for i in items(console, "slack.ticket_link")] == ["the DM carried the link"] * 2


def test_a_link_waits_for_its_queued_dm_and_is_no_failed_call(console, slack_sandbox, freescout_sandbox):
    slack_sandbox.faults("down")
    fire(console, "P2")
    deliver(console)  # the ticket is filed; the DMs wait for Slack, the links for their DMs
    [ticket] = tickets(console)
    assert ticket.state == "filed"
    links = items(console, "slack.ticket_link")
    assert {(link.state, link.last_reason) for link in links} == {("pending", "waiting_for_item")}
    failed = {failure.kind for failure in rows(console, CallFailure)}
    assert failed == {"slack.dm"}, "a link waiting for its DM is not a failed Slack call"
    slack_sandbox.faults("ok")
    console.clock.advance(outbox.BACKOFF_CAP_SECONDS)
    deliver(console)
    assert {link.state for link in items(console, "slack.ticket_link")} == {"done"}


def test_a_link_is_queued_waiting_for_its_dm_and_its_only_try_follows_the_dm(
    console, slack_sandbox, freescout_sandbox
):
    fire(console, "P2")
    links = items(console, "slack.ticket_link")
    assert links and {(link.attempts, link.last_reason) for link in links} == {(0, "waiting_for_item")}
    assert all(link.next_attempt_at > console.clock.now() for link in links), "not due before its DM"
    deliver(console)
    links = items(console, "slack.ticket_link")
    assert {(link.state, link.attempts) for link in links} == {("done", 1)}, "one try each, after the DM"


def test_a_link_whose_dm_ends_before_its_ticket_is_filed_is_still_tried_once(
    console, slack_sandbox, freescout_sandbox
):
    """Its DM's end finds the ticket pending: the link waits for the ticket, and that look is
    not counted as a try (it calls nobody)."""
    freescout_sandbox.faults(latency_ms=300)  # the DMs end well before the ticket is filed
    fire(console, "P2")
    deliver(console)
    links = items(console, "slack.ticket_link")
    assert {(link.state, link.attempts) for link in links} == {("done", 1)}
    assert len(messages(slack_sandbox)) == 2, "the DM, then the link in its thread"


def test_below_the_threshold_no_link_is_awaited(console, slack_sandbox):
    fire(console, "P3")
    deliver(console)
    assert items(console, "slack.ticket_link") == []


def test_the_sandbox_refuses_a_thread_that_does_not_exist_and_shows_readable_times(slack_sandbox):
    headers = {"Authorization": "Bearer xoxb-test-sandbox-token"}
    api = f"{slack_sandbox.url}/api/chat.postMessage"
    first = httpx.post(api, headers=headers, data={"channel": "U0ONCALL1", "text": "hello"}).json()
    assert first["ok"] is True
    reply = httpx.post(
        api, headers=headers, data={"channel": "U0ONCALL1", "text": "re", "thread_ts": first["ts"]}
    ).json()
    assert reply["ok"] is True and reply["message"]["thread_ts"] == first["ts"]
    lost = httpx.post(
        api, headers=headers, data={"channel": "U0ONCALL1", "text": "x", "thread_ts": "1.000001"}
    )
    assert lost.json() == {"ok": False, "error": "thread_not_found"}
    page = httpx.get(f"{slack_sandbox.url}/").text
    assert " UTC</td>" in page and "in the thread of" in page
    assert f">{first['ts']}<" not in page, "epoch seconds only in the tooltip"
