"""New work wakes the outbox's deliverers at once: the idle waiter and a delivery loop that is busy.

Real HTTP to the FreeScout and Slack sandboxes, slowed down so the first alert's calls are still
in flight when the second alert commits.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

from raxx_console.outbox import service as outbox
from raxx_console.tickets.models import Ticket
from tests.alerts.helpers import AUTO_TICKET_FLAG, deliver, fire, items, rows, set_flag, wait_for


@pytest.fixture
def console(alerts_console):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    return alerts_console


def test_a_busy_delivery_loop_claims_work_committed_meanwhile_at_once(
    console, freescout_sandbox, slack_sandbox, monkeypatch
):
    """The second alert's create is claimed while everything the loop holds is still in flight
    (the first alert's create and DMs): the loop did not wait for one of them to finish, nor for
    its next look."""
    monkeypatch.setattr(outbox, "CLAIM_POLL_SECONDS", 600.0)
    freescout_sandbox.faults(mode="ok", latency_ms=1500)
    slack_sandbox.faults("ok", latency_ms=6000)
    fire(console, "P2", check="first", title="first on db-1")
    delivering = threading.Thread(target=deliver, args=(console,))
    delivering.start()
    try:
        assert wait_for(lambda: all(i.lease_until for i in items(console, "freescout.create")))
        fire(console, "P2", check="second", title="second on db-1")
        assert wait_for(
            lambda: all(i.lease_until or i.state == "done" for i in items(console, "freescout.create"))
        )
        assert [t.state for t in rows(console, Ticket)] == ["pending", "pending"], (
            "claimed while the first was in flight"
        )
        assert slack_sandbox.app.messages() == []
    finally:
        delivering.join()
    assert [t.state for t in rows(console, Ticket)] == ["filed", "filed"]
    assert len(freescout_sandbox.conversations()) == 2


def test_a_notify_from_another_process_wakes_the_waiter(console):
    if not console.db.is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    outbox.local_wakeup.clear()
    outbox.listen(console)
    try:
        assert outbox.local_wakeup.wait(30), "the listener rings once it listens"
        outbox.local_wakeup.clear()
        woke = threading.Event()
        waiting = threading.Thread(
            target=lambda: (outbox.wait_for_work(console, 600, threading.Event()), woke.set())
        )
        waiting.start()
        url = console.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(f"NOTIFY {outbox.NOTIFY_CHANNEL}")
        assert woke.wait(30), "a NOTIFY from another connection wakes the outbox's waiter"
        waiting.join()
    finally:
        outbox.stop_delivering(console)
