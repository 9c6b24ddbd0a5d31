"""The runbooks' SQL, verbatim, on PostgreSQL against our schema: it returns what the runbooks say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from raxx_console.audit import service as audit
from raxx_console.clock import ManualClock, SystemClock

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

# 002 overview, "To query for recent ticket-filing events"
OVERVIEW_RECENT = """SELECT created_at, action, payload
FROM audit_log
WHERE action IN ('console.status.ticket_filed', 'console.alerts.ticket_filed')
ORDER BY created_at DESC
LIMIT 50;"""

# 000 rollout, Step 2 (alerts auto-ticket, item 4)
ROLLOUT_STEP_2 = (
    "SELECT * FROM audit_log WHERE action = 'console.alerts.ticket_filed' ORDER BY created_at DESC LIMIT 5;"
)

# 000 rollout, Step 5
ROLLOUT_STEP_5 = """SELECT created_at, action, payload
FROM audit_log
WHERE action IN ('console.status.ticket_filed', 'console.alerts.ticket_filed')
  AND created_at > NOW() - INTERVAL '1 hour'
ORDER BY created_at DESC;"""

# 001 incident runbook, failure mode 1 (ticket flood)
FM1_FLOOD = """SELECT created_at, payload->>'alert_key' AS alert_key, payload->>'severity' AS severity
FROM audit_log
WHERE action = 'console.alerts.ticket_filed'
AND created_at > NOW() - INTERVAL '2 hours'
ORDER BY created_at DESC
LIMIT 20;"""


def test_the_queries_here_are_the_runbooks_own(backend):
    """Guards the "verbatim": each query is found, character for character, in its seed."""
    if not SEEDS.is_dir():
        pytest.skip("the seed runbooks (shared/seeds) are not beside this checkout")
    seeds = {path.name[:3]: path.read_text() for path in SEEDS.glob("*.txt")}
    assert OVERVIEW_RECENT in seeds["002"]
    assert ROLLOUT_STEP_2 in seeds["000"]
    assert ROLLOUT_STEP_5 in seeds["000"]
    assert FM1_FLOOD in seeds["001"]


def alert_filed(database, clock, n, *, severity="P2"):
    with database.session() as session:
        audit.record(
            session,
            clock,
            action="console.alerts.ticket_filed",
            actor="system:alert_aggregator",
            selected_env="production",
            payload={
                "alert_key": f"status_poller:a3f9b812{n:08x}",
                "severity": severity,
                "ticket_id": 400 + n,
                "ticket_url": f"https://tickets.raxx.app/conversation/{400 + n}",
            },
        )


def status_filed(database, clock, surface_id="api-prod"):
    with database.session() as session:
        audit.record(
            session,
            clock,
            action="console.status.ticket_filed",
            actor="op@raxx.app",
            selected_env="production",
            payload={
                "surface_id": surface_id,
                "status": "degraded",
                "ticket_id": 300,
                "ticket_url": "https://tickets.raxx.app/conversation/300",
                "idempotent": False,
            },
        )


def noise(database, clock):
    with database.session() as session:
        audit.record(
            session, clock, action="console.flags.toggled", actor="op@raxx.app", selected_env="production"
        )


def ago(**delta):
    """A clock standing that long before the real now: NOW() in these queries is the database's."""
    return ManualClock(datetime.now(UTC) - timedelta(**delta))


def run(database, sql):
    with database.engine.connect() as conn:
        result = conn.execute(text(sql))
        return list(result.keys()), result.mappings().all()


def test_the_sessions_are_utc_as_the_overview_promises(database):
    with database.engine.connect() as conn:
        assert conn.execute(text("SHOW TIME ZONE")).scalar() == "UTC"


def test_overview_recent_ticket_filings_newest_first(database):
    clock = ManualClock()
    status_filed(database, clock)
    clock.advance(60)
    noise(database, clock)
    clock.advance(60)
    alert_filed(database, clock, 1)
    columns, rows = run(database, OVERVIEW_RECENT)
    assert columns == ["created_at", "action", "payload"]
    assert [row["action"] for row in rows] == ["console.alerts.ticket_filed", "console.status.ticket_filed"]
    newest = rows[0]
    assert newest["created_at"] == clock.now() and newest["created_at"].utcoffset() == timedelta(0)
    assert newest["payload"] == {
        "alert_key": "status_poller:a3f9b81200000001",
        "severity": "P2",
        "ticket_id": 401,
        "ticket_url": "https://tickets.raxx.app/conversation/401",
    }
    assert set(rows[1]["payload"]) == {"surface_id", "status", "ticket_id", "ticket_url", "idempotent"}


def test_rollout_step_2_shows_the_five_newest_alert_filings(database):
    clock = ManualClock()
    for n in range(7):
        alert_filed(database, clock, n)
        clock.advance(30)
    status_filed(database, clock)
    columns, rows = run(database, ROLLOUT_STEP_2)
    assert columns == ["id", "created_at", "action", "actor", "selected_env", "payload"]
    assert [row["payload"]["ticket_id"] for row in rows] == [406, 405, 404, 403, 402]
    assert {row["action"] for row in rows} == {"console.alerts.ticket_filed"}
    assert rows[0]["selected_env"] == "production"


def test_rollout_step_5_sees_only_the_last_hours_filings(database):
    status_filed(database, ago(minutes=10))
    alert_filed(database, SystemClock(), 1)
    alert_filed(database, ago(minutes=61), 2)
    noise(database, SystemClock())
    columns, rows = run(database, ROLLOUT_STEP_5)
    assert columns == ["created_at", "action", "payload"]
    assert [row["action"] for row in rows] == ["console.alerts.ticket_filed", "console.status.ticket_filed"]
    assert rows[0]["payload"]["ticket_id"] == 401


def test_fm1_lists_alert_keys_and_severities_of_the_last_two_hours(database):
    alert_filed(database, ago(hours=3), 1)
    alert_filed(database, ago(minutes=90), 2, severity="P1")
    alert_filed(database, ago(minutes=1), 3)
    status_filed(database, ago(minutes=5))
    columns, rows = run(database, FM1_FLOOD)
    assert columns == ["created_at", "alert_key", "severity"]
    assert [(row["alert_key"], row["severity"]) for row in rows] == [
        ("status_poller:a3f9b81200000003", "P2"),
        ("status_poller:a3f9b81200000002", "P1"),
    ]


def test_console_audit_log_is_the_same_rows_under_the_cockpit_runbooks_name(database):
    clock = ManualClock()
    alert_filed(database, clock, 1)
    status_filed(database, clock)
    noise(database, clock)
    assert run(database, "SELECT * FROM console_audit_log") == run(database, "SELECT * FROM audit_log")
    assert len(run(database, "SELECT * FROM console_audit_log")[1]) == 3
