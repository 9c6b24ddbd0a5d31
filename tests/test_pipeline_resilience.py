"""Entry B under faults: FreeScout or Slack down, workers SIGKILLed between cycles, two workers at once.

The outage tests run in-process on the test's clock. The process tests run the real
``raxx-console worker`` against the PostgreSQL test database and the sandboxes (a FreeScout
sandbox on the wall clock, as the workers are), kill it with SIGKILL, and judge by what
FreeScout, Slack and the audit log hold afterwards — and by the runbooks' own SQL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from raxx_console.alerts.alert_aggregator import alert_identity
from raxx_console.outbox.models import OUTBOX_PENDING, OutboxItem
from raxx_console.sandbox.freescout import create_freescout_sandbox
from raxx_console.sandbox.server import BackgroundServer
from raxx_console.status import poller
from tests.alerts.helpers import AUTO_TICKET_FLAG, FILED, items, poll, set_flag, tickets
from tests.support.rows import audit_rows
from tests.support.sandboxes import SANDBOX_API_KEY, SANDBOX_CF_ID, SANDBOX_CF_SECRET, FreeScoutSandbox

KEY = alert_identity("status_poller", "api-prod")[1]
RAXX_CONSOLE = str(Path(sys.executable).with_name("raxx-console"))

# The runbooks' SQL, verbatim.
FM1_QUERY = """SELECT created_at, payload->>'alert_key' AS alert_key, payload->>'severity' AS severity
FROM audit_log
WHERE action = 'console.alerts.ticket_filed'
AND created_at > NOW() - INTERVAL '2 hours'
ORDER BY created_at DESC
LIMIT 20;"""
OVERVIEW_QUERY = """SELECT created_at, action, payload
FROM audit_log
WHERE action IN ('console.status.ticket_filed', 'console.alerts.ticket_filed')
ORDER BY created_at DESC
LIMIT 50;"""


def dms(slack_sandbox, user: str = "U0ONCALL1") -> list[str]:
    """The DMs, without the ticket-link replies in their threads."""
    return [m["text"] for m in slack_sandbox.messages(user) if "thread_ts" not in m]


def thread_replies(slack_sandbox, user: str = "U0ONCALL1") -> list[str]:
    return [m["text"] for m in slack_sandbox.messages(user) if "thread_ts" in m]


# --- outages, in-process ---------------------------------------------------------------------


@pytest.fixture
def console(alerts_console, demo_surfaces):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    demo_surfaces.set("api-prod", "degraded")
    return alerts_console


def test_freescout_down_for_several_cycles(console, freescout_sandbox, slack_sandbox):
    """DMs go out during the outage; the ticket is filed once, after FreeScout returns."""
    freescout_sandbox.faults(mode="down")
    poll(console, 6)
    assert freescout_sandbox.conversations() == []
    assert len(dms(slack_sandbox)) == 1, "the fire DM did not wait for FreeScout"
    [ticket] = tickets(console)
    assert (ticket.state, ticket.last_reason) == ("pending", "freescout_unavailable")
    freescout_sandbox.faults(mode="ok")
    poll(console, 12)  # six minutes: past the outbox's capped backoff
    [conversation] = freescout_sandbox.conversations()
    assert len(audit_rows(console, FILED)) == 1
    assert tickets(console)[0].ticket_id == conversation.id
    assert len(dms(slack_sandbox)) == 1
    [reply] = thread_replies(slack_sandbox)
    assert f"Ticket #{conversation.id}:" in reply, "the DM got the ticket's link in its thread"


def test_slack_down_leaves_tickets_alone_and_dms_follow(console, freescout_sandbox, slack_sandbox):
    slack_sandbox.faults("down")
    poll(console, 3)
    assert len(freescout_sandbox.conversations()) == 1, "the ticket did not wait for Slack"
    assert dms(slack_sandbox) == []
    assert {i.last_reason for i in items(console, "slack.dm")} == {"slack_unavailable"}
    slack_sandbox.faults("ok")
    poll(console, 12)
    assert len(dms(slack_sandbox)) == 1 and len(dms(slack_sandbox, "U0ONCALL2")) == 1
    assert len(freescout_sandbox.conversations()) == 1


# --- real worker processes on PostgreSQL ---------------------------------------------------------


@pytest.fixture
def wall_clock_freescout() -> Iterator[FreeScoutSandbox]:
    """A FreeScout sandbox on the wall clock: the workers reconcile by ``createdSince`` on theirs."""
    app = create_freescout_sandbox(
        api_key=SANDBOX_API_KEY, cf_client_id=SANDBOX_CF_ID, cf_client_secret=SANDBOX_CF_SECRET
    )
    with BackgroundServer(app, name="freescout-sandbox") as server:
        sandbox = FreeScoutSandbox(server.url, app.extensions["freescout_sandbox"])
        yield sandbox
        sandbox.state.reset()


class Worker:
    """One ``raxx-console worker`` process; its log is kept in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [RAXX_CONSOLE, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def holder(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def workers(
    console, pg_database_url, tmp_path, wall_clock_freescout, slack_sandbox, demo_surfaces
) -> Iterator[Callable[[], Worker]]:
    """Start worker processes wired like a dyno: PostgreSQL, the sandboxes, a 0.5 s poll interval."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLAG_")}
    env.update(
        {
            key: str(value)
            for key, value in {
                "DATABASE_URL": pg_database_url,
                "INSTANCE_PATH": str(tmp_path / "worker-instance"),
                "SECRET_KEY": "worker-secret-key-0123456789",
                "CONSOLE_ENV": "development",
                "LOG_LEVEL": "INFO",
                "POLL_INTERVAL_SECONDS": "0.5",
                "CONSOLE_BASE_URL": "https://console.raxx.app",
                **wall_clock_freescout.settings(),
                **slack_sandbox.settings(),
                **demo_surfaces.settings(),
            }.items()
        }
    )
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def heartbeat(console) -> tuple[str | None, object]:
    with console.db.session() as session:
        beat = poller.heartbeat(session)
        return (beat.holder, beat.last_cycle_at) if beat else (None, None)


def outbox_idle(console) -> bool:
    """Nothing held by a deliverer right now: a kill here is a kill between deliveries."""
    with console.db.session() as session:
        held = session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.state == OUTBOX_PENDING, OutboxItem.lease_until.is_not(None)
            )
        )
    return held is None


def a_cycle_by(console, worker: Worker, after: object) -> Callable[[], bool]:
    def done() -> bool:
        holder, at = heartbeat(console)
        return holder == worker.holder and at != after

    return done


pg_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.mark.slow
@pg_only
def test_sigkill_between_cycles_ten_times_files_one_ticket(
    console, workers, wall_clock_freescout, slack_sandbox
):
    for _ in range(10):
        worker = workers()
        _holder, last = heartbeat(console)
        wait_until(a_cycle_by(console, worker, last), "a poll cycle by the new worker")
        wait_until(lambda: outbox_idle(console), "the outbox between deliveries")
        worker.kill()
    final = workers()
    wait_until(lambda: len(wall_clock_freescout.conversations()) == 1, "the ticket")
    wait_until(lambda: len(dms(slack_sandbox)) + len(dms(slack_sandbox, "U0ONCALL2")) >= 2, "the fire DMs")
    wait_until(
        lambda: "auto_ticket cache hit alert_key=" + KEY in final.output(), "repeats answered from the cache"
    )
    final.stop()
    assert len(wall_clock_freescout.conversations()) == 1
    assert len(dms(slack_sandbox)) == 1 and len(dms(slack_sandbox, "U0ONCALL2")) == 1
    [filed] = audit_rows(console, FILED)
    assert filed.payload["alert_key"] == KEY
    assert "alert_aggregator emit alert_key=" + KEY in final.output()

    # The runbooks' SQL finds what they say: one filing for the alert (FM1 verification), with its payload.
    with console.db.engine.connect() as conn:
        fm1 = conn.execute(text(FM1_QUERY)).all()
        overview = conn.execute(text(OVERVIEW_QUERY)).all()
    assert [(row.alert_key, row.severity) for row in fm1] == [(KEY, "P2")]
    [(created_at, action, payload)] = overview
    assert action == "console.alerts.ticket_filed"
    conversation = wall_clock_freescout.conversations()[0]
    assert payload == {
        "alert_key": KEY,
        "severity": "P2",
        "ticket_id": conversation.id,
        "ticket_url": f"{wall_clock_freescout.url}/conversation/{conversation.id}",
    }
    assert created_at.tzinfo is not None


@pytest.mark.slow
@pg_only
def test_two_workers_one_ticket_one_dm_one_leader_and_a_takeover(
    console, workers, wall_clock_freescout, slack_sandbox
):
    first, second = workers(), workers()
    wait_until(lambda: len(wall_clock_freescout.conversations()) == 1, "the ticket")
    wait_until(lambda: len(dms(slack_sandbox)) + len(dms(slack_sandbox, "U0ONCALL2")) >= 2, "the fire DMs")
    by_holder = {first.holder: first, second.holder: second}
    leader = by_holder[heartbeat(console)[0]]
    standby = second if leader is first else first
    _holder, last = heartbeat(console)
    wait_until(a_cycle_by(console, leader, last), "another cycle by the leader")
    assert "status_poller leader" in leader.output()
    assert "status_poller leader" not in standby.output()

    leader.kill()
    _holder, last = heartbeat(console)
    wait_until(a_cycle_by(console, standby, last), "the standby taking over", timeout=15)
    _holder, last = heartbeat(console)
    wait_until(a_cycle_by(console, standby, last), "a cycle under the new leader")
    assert len(wall_clock_freescout.conversations()) == 1
    assert len(dms(slack_sandbox)) == 1 and len(dms(slack_sandbox, "U0ONCALL2")) == 1
    assert len(audit_rows(console, FILED)) == 1
