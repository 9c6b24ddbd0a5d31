"""status_poller: real probes of the demo surfaces, hysteresis kept in the database, alerts through emit."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from raxx_console.alerts.alert_aggregator import alert_identity
from raxx_console.context import build_console
from raxx_console.status import poller
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from tests.alerts.helpers import (
    AUTO_TICKET_FLAG,
    FILED,
    alert,
    decided,
    deliver,
    lines,
    poll,
    rows,
    set_flag,
)
from tests.support.rows import audit_rows

KEY = alert_identity("status_poller", "api-prod")[1]


@pytest.fixture
def console(alerts_console):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    return alerts_console


def status_row(console, surface_id="api-prod") -> SurfaceStatus:
    [row] = rows(console, SurfaceStatus, SurfaceStatus.surface_id == surface_id)
    return row


def test_a_cycle_records_every_surface(console, demo_surfaces):
    demo_surfaces.set("web-prod", "down")
    report = poller.poll_once(console)
    assert (report.surfaces, report.counts) == (2, {"operational": 1, "down": 1})
    api, web = status_row(console, "api-prod"), status_row(console, "web-prod")
    assert (api.status, web.status) == ("operational", "down")
    assert web.detail == "HTTP 503"
    assert web.hysteresis["consecutive_failures"] == 1
    assert web.changed_at == console.clock.now()
    with console.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SurfaceCheck)) == 2


def test_a_persistent_p2_over_20_cycles_is_one_ticket_and_one_dm(
    console, demo_surfaces, freescout_sandbox, slack_sandbox, caplog
):
    caplog.set_level(logging.INFO)
    demo_surfaces.set("api-prod", "degraded")
    poll(console, 20)
    [conversation] = freescout_sandbox.conversations()
    assert conversation.tags == ["auto:alert", "auto:alert:status_poller"]
    assert conversation.subject.endswith("[P2] status_poller: api-prod (demo) is degraded")
    assert len([m for m in slack_sandbox.messages("U0ONCALL1") if "thread_ts" not in m]) == 1
    [row] = audit_rows(console, FILED)
    assert row.payload["alert_key"] == KEY
    emits = lines(caplog, f"alert_aggregator emit alert_key={KEY}")
    assert len(emits) == 19, "fires on the 2nd failing cycle (fail_threshold 2), then every cycle"
    assert len(lines(caplog, f"auto_ticket cache hit alert_key={KEY}")) == 17
    assert decided(console, KEY, "auto_ticket") == ["ticket_reserved", "deduped"]


def test_recovery_resolves_after_the_threshold(console, demo_surfaces, freescout_sandbox, slack_sandbox):
    demo_surfaces.set("api-prod", "down")
    poll(console, 2)
    assert alert(console, KEY).severity == "P1"
    demo_surfaces.set("api-prod", "operational")
    poll(console)
    assert alert(console, KEY).state == "firing", "one good probe is not enough (resolve_threshold 2)"
    poll(console)
    assert alert(console, KEY).state == "resolved"
    [conversation] = freescout_sandbox.conversations()
    assert any("Resolved at" in thread.body for thread in conversation.threads)
    texts = [m["text"] for m in slack_sandbox.messages("U0ONCALL1") if "thread_ts" not in m]
    assert [t.split(":")[0] for t in texts] == ["[P1] FIRING", "[P1] RESOLVED after 1 min 0 s"]
    assert status_row(console).hysteresis["firing"] is False


def test_the_hysteresis_survives_a_restart(console, demo_surfaces):
    demo_surfaces.set("api-prod", "degraded")
    poll(console)
    poller.release_leadership(console)  # the worker went away, and its lead with it
    restarted = build_console(console.settings, clock=console.clock)
    try:
        poll(restarted)
    finally:
        poller.release_leadership(restarted)
        restarted.db.dispose()
    assert alert(console, KEY).state == "firing", "the second failure counted on the first one's record"


def test_an_unreadable_hysteresis_state_starts_over(console, demo_surfaces, caplog):
    poll(console)
    with console.db.session() as session:
        session.get(SurfaceStatus, "api-prod").hysteresis = {"v": 99}
    with caplog.at_level(logging.WARNING):
        poll(console)
    assert "reset an unreadable hysteresis state surface=api-prod" in caplog.text
    assert status_row(console).hysteresis["v"] == 1


def test_only_the_last_50_checks_are_kept(console, demo_surfaces):
    with console.db.session() as session:
        session.add(SurfaceStatus(surface_id="api-prod", status="unknown", detail="", hysteresis={}))
        session.flush()
        for _ in range(60):
            session.add(
                SurfaceCheck(
                    surface_id="api-prod",
                    checked_at=console.clock.now(),
                    status="operational",
                    condition="operational",
                    detail="old",
                )
            )
    poll(console)
    checks = rows(console, SurfaceCheck, SurfaceCheck.surface_id == "api-prod")
    assert len(checks) == poller.HISTORY_KEEP
    assert checks[-1].detail.startswith("HTTP 200")


def test_the_cycle_is_recorded_for_the_health_panel(console, demo_surfaces):
    demo_surfaces.set("web-prod", "degraded")
    poller.poll_once(console)
    state = poller.poller_state(console)
    assert state.leader and state.last_counts == {"operational": 1, "degraded": 1}
    with console.db.session() as session:
        beat = poller.heartbeat(session)
        assert beat.holder == poller.holder_name()
        assert beat.last_cycle_at == console.clock.now()
        assert beat.last_cycle_seconds is not None and beat.last_cycle_seconds < 5
        assert beat.detail["counts"] == {"operational": 1, "degraded": 1}


def test_the_worker_runs_the_poller_job():
    from raxx_console.jobs import JOBS, OUTBOX_HANDLERS

    assert poller.JOB in JOBS
    kinds = {"slack.dm", "freescout.refire", "freescout.close", "freescout.recovery_note", "freescout.create"}
    assert kinds <= set(OUTBOX_HANDLERS)


def test_a_slow_surface_is_p3_and_slack_only(console, demo_surfaces, freescout_sandbox, slack_sandbox):
    demo_surfaces.app.slow_latency_ms = 1100  # just over the 1000 ms budget, under the 2 s timeout
    demo_surfaces.set("api-prod", "slow")
    poll(console, 2)
    deliver(console)
    assert alert(console, KEY).severity == "P3"
    assert freescout_sandbox.conversations() == []
    assert len([m for m in slack_sandbox.messages("U0ONCALL1") if "thread_ts" not in m]) == 1
    assert decided(console, KEY, "auto_ticket") == ["below_threshold"]
