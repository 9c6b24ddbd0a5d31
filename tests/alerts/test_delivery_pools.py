"""Outbox delivery under load and outage: separate pools, recovery after an outage, a dead deliverer.

Real HTTP to the FreeScout and Slack sandboxes; the clock is moved by hand, so "within 30 s of
recovery" is the injected clock's reading, not a timing.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from raxx_console.outbox import service as outbox
from raxx_console.tickets.models import Ticket
from tests.alerts.helpers import AUTO_TICKET_FLAG, deliver, fire, items, rows, set_flag, wait_for
from tests.support.sandboxes import SLACK_DM_USERS


@pytest.fixture
def console(alerts_console):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    return alerts_console


def _fire_many(console, count: int) -> None:
    for n in range(count):
        fire(console, "P2", check=f"check-{n}", title=f"check-{n} on db-1")


def test_a_slow_freescout_does_not_delay_slack_dms(console, freescout_sandbox, slack_sandbox):
    """FreeScout takes 2 s per call; the DM is sent while the ticket's create is still in flight."""
    freescout_sandbox.faults(mode="ok", latency_ms=2000)
    fire(console, "P2")
    delivering = threading.Thread(target=deliver, args=(console,))
    delivering.start()
    try:
        assert wait_for(lambda: slack_sandbox.app.messages()), "the DMs went out"
        [ticket] = rows(console, Ticket)
        assert ticket.state == "pending", "the DM did not wait for FreeScout's slow create"
    finally:
        delivering.join()
    [ticket] = rows(console, Ticket)
    assert ticket.state == "filed"


def test_after_an_outage_the_backlog_drains_within_30_s_of_recovery(
    console, freescout_sandbox, slack_sandbox
):
    """Items queued for 4 min back off up to minutes; once FreeScout and Slack answer again, a
    probe finds out and every waiting item becomes due at once: all delivered, none twice."""
    freescout_sandbox.faults(mode="down")
    slack_sandbox.faults("down")
    _fire_many(console, 30)
    deliver(console)
    for _ in range(8):
        console.clock.advance(30)
        deliver(console)
    waiting = [item for item in items(console, "freescout.create") if item.state == "pending"]
    assert len(waiting) == 30
    assert max(item.next_attempt_at for item in waiting) > console.clock.now()
    freescout_sandbox.faults(mode="ok")
    slack_sandbox.faults("ok")
    recovered_at = console.clock.now()
    while console.clock.now() - recovered_at <= timedelta(seconds=30):
        if all(ticket.state == "filed" for ticket in rows(console, Ticket)):
            break
        console.clock.advance(outbox.PROBE_SECONDS / 2)
        deliver(console)
    assert (console.clock.now() - recovered_at).total_seconds() <= 30
    assert [ticket.state for ticket in rows(console, Ticket)] == ["filed"] * 30
    subjects = [conversation.subject for conversation in freescout_sandbox.conversations()]
    assert len(subjects) == len(set(subjects)) == 30, "no duplicates"
    sent = slack_sandbox.app.messages()
    dms = [m for m in sent if "thread_ts" not in m]
    assert len(dms) == 30 * 2, "one DM per alert and user, none twice"
    links = [m["thread_ts"] for m in sent if "thread_ts" in m]
    assert len(links) == len(set(links)), "a ticket link at most once per DM"


def test_a_probe_while_the_service_is_still_down_retries_one_item_only(console, freescout_sandbox):
    freescout_sandbox.faults(mode="down")
    _fire_many(console, 5)
    deliver(console)
    console.clock.advance(outbox.PROBE_SECONDS + 1)
    before = len(freescout_sandbox.requests())
    deliver(console)
    probes = freescout_sandbox.requests()[before:]
    assert len([r for r in probes if r["method"] == "POST"]) <= 1, "one probe, not every item at once"
    assert all(ticket.state == "pending" for ticket in rows(console, Ticket))


def test_a_success_makes_the_items_waiting_on_that_service_due_at_once(console, freescout_sandbox, viewer):
    freescout_sandbox.faults(mode="down")
    _fire_many(console, 3)
    deliver(console)
    waiting = viewer.get("/console/health.json").get_json()["outbox"]
    # Three creates, and each DM's ticket-link follow-up waiting for its ticket.
    links = 3 * len(SLACK_DM_USERS)
    assert (waiting["pending"], waiting["delivered_last_minute"].get("freescout.create")) == (3 + links, None)
    freescout_sandbox.faults(mode="ok")
    fire(console, "P2", check="fresh", title="fresh on db-1")
    deliver(console)
    assert [ticket.state for ticket in rows(console, Ticket)] == ["filed"] * 4, "no clock moved"
    drained = viewer.get("/console/health.json").get_json()["outbox"]
    assert drained["delivered_last_minute"]["freescout.create"] == 4, "the panel shows the backlog draining"
    assert "Delivered in the last minute: " in viewer.get("/console/health").get_data(as_text=True)


def test_a_worker_killed_mid_claim_loses_nothing(console, freescout_sandbox):
    """Items a dead deliverer leased are delivered once its leases run out, each exactly once."""
    _fire_many(console, 4)
    claimed = outbox.claim_due(console, where=outbox.of_component("freescout"))
    assert len(claimed) == 4
    assert deliver(console) >= 0
    assert [ticket.state for ticket in rows(console, Ticket)] == ["pending"] * 4, "leased: not touched"
    console.clock.advance(outbox.LEASE_SECONDS + 1)
    deliver(console)
    assert [ticket.state for ticket in rows(console, Ticket)] == ["filed"] * 4
    assert len(freescout_sandbox.conversations()) == 4


def test_a_filed_ticket_settles_its_outbox_item_in_the_same_transaction(console):
    fire(console, "P2")
    deliver(console)
    [create] = items(console, "freescout.create")
    [ticket] = rows(console, Ticket)
    assert (create.state, create.finished_at) == ("done", ticket.filed_at)
    assert create.last_detail == f"conversation {ticket.ticket_id}"
