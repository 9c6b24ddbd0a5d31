"""Exactly one status_poller: the PostgreSQL advisory lock, and a takeover when the leader dies.

Two Consoles in one process stand in for two workers (each has its own engine and leader
connection); tests/test_pipeline_resilience.py does the same with real worker processes.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from raxx_console.context import build_console
from raxx_console.status import poller


@pytest.fixture
def second(alerts_console):
    """Another worker on the same database."""
    other = build_console(alerts_console.settings, clock=alerts_console.clock)
    poller.poller_state(other).holder = "worker-2:4242"
    yield other
    poller.release_leadership(other)
    other.db.dispose()


def leader_backend_pid(console) -> int:
    return console.components[poller.LEADERSHIP_KEY]._conn.info.backend_pid


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_one_poller_leads_and_the_other_stands_by(alerts_console, second):
    assert poller.poll_once(alerts_console) is not None
    assert poller.poll_once(second) is None, "the lock is taken: no probes, no writes"
    assert poller.poll_once(alerts_console) is not None, "the leader keeps its lock across cycles"
    assert (poller.poller_state(alerts_console).leader, poller.poller_state(second).leader) == (True, False)
    with alerts_console.db.session() as session:
        assert poller.heartbeat(session).holder == poller.holder_name()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_standby_takes_over_when_the_leader_dies(alerts_console, second, caplog):
    poller.poll_once(alerts_console)
    with alerts_console.db.engine.connect() as conn:  # the leader's connection drops, as a dead dyno's does
        # with a timeout, the call returns once the backend is gone (and its lock with it), not
        # merely signalled: under load the standby's next try could otherwise come first
        leader = leader_backend_pid(alerts_console)
        conn.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": leader})
    assert poller.poll_once(second) is not None, "the lock went with the connection"
    with caplog.at_level(logging.WARNING):
        assert poller.poll_once(alerts_console) is None
    assert "status_poller lost its leader connection" in caplog.text
    with second.db.session() as session:
        beat = poller.heartbeat(session)
        assert (beat.holder, beat.since) == ("worker-2:4242", second.clock.now())


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_releasing_the_lead_hands_it_over(alerts_console, second):
    poller.poll_once(alerts_console)
    poller.release_leadership(alerts_console)
    assert poller.poll_once(second) is not None
    assert poller.poll_once(alerts_console) is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_is_one_process_and_always_leads(alerts_console):
    assert poller.poll_once(alerts_console) is not None
    assert poller.poller_state(alerts_console).leader
