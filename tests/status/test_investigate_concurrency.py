"""Fifty concurrent Investigate clicks on four gunicorn workers file exactly one ticket (PostgreSQL).

The web processes are real (gunicorn, 4 workers x 4 threads) and share nothing but the database;
the FreeScout sandbox answers each call after 100 ms, so the clicks really overlap.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from raxx_console.clock import SystemClock
from tests.support.accounts import make_token, make_user
from tests.support.gunicorn import start_gunicorn, stop
from tests.tickets.helpers import SURFACE, set_status, tickets

pytestmark = pytest.mark.slow

CLICKS = 50


@pytest.fixture
def clock():
    """Real time: the gunicorn workers run on the wall clock, and so must we and the sandbox."""
    return SystemClock()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_concurrent_clicks_on_four_workers_file_exactly_one_ticket(
    backend, database_url, console, freescout_sandbox, tmp_path
):
    make_user(console, "bot@raxx.app", "operator")
    token = make_token(console, "bot@raxx.app")
    set_status(console, SURFACE, "degraded")
    freescout_sandbox.faults(mode="ok", latency_ms=100)
    env = {key: str(value) for key, value in freescout_sandbox.settings().items()}
    env |= {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "concurrency-test-secret-key",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CONSOLE_ENV": "development",
        "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS": "1",
        "WEB_CONCURRENCY": "4",
        "LOG_LEVEL": "WARNING",
    }
    process, base = start_gunicorn(env, tmp_path / "gunicorn.log")
    try:
        start = threading.Barrier(CLICKS)

        def one_click(_: int) -> httpx.Response:
            with httpx.Client(timeout=30) as http:
                start.wait(timeout=30)
                return http.post(
                    f"{base}/console/status/investigate/{SURFACE}",
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )

        with ThreadPoolExecutor(max_workers=CLICKS) as pool:
            responses = list(pool.map(one_click, range(CLICKS)))
    finally:
        stop(process)

    assert [r.status_code for r in responses] == [200] * CLICKS
    [conversation] = freescout_sandbox.conversations()
    [ticket] = tickets(console)
    assert (ticket.state, ticket.ticket_id) == ("filed", conversation.id)
    answers = [r.json() for r in responses]
    for answer in answers:
        if "ticket_id" in answer:
            assert answer["ticket_id"] == conversation.id, answer
        else:
            assert (answer["queued"], answer["ref"]) == (True, ticket.ref), answer
    assert sum(1 for a in answers if a.get("idempotent") is False) == 1, "exactly one click filed it"
    assert sum(1 for a in answers if "ticket_id" in a) >= CLICKS // 2, "most clicks get the link at once"
