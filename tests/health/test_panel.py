"""The pipeline health panel (/console/health and .json) on both backends: what stops tickets shows."""

from __future__ import annotations

import pytest

from raxx_console.outbox.service import Result
from tests.health.rows import ALL_PREREQS, enqueue, filed, finish, heartbeat, turn_on
from tests.support.accounts import csrf_token


def _problems(client):
    body = client.get("/console/health.json").get_json()
    return body, {p["code"]: p for p in body["problems"]}


@pytest.fixture
def configured(settings_overrides):
    settings_overrides.update(ALL_PREREQS)
    return settings_overrides


@pytest.fixture
def no_api_key(configured):
    del configured["FREESCOUT_API_KEY"]


def test_a_missing_api_key_with_a_ticketing_flag_on_is_the_banner(no_api_key, console, viewer):
    turn_on(console)
    body, problems = _problems(viewer)
    assert body["tickets_blocked"] is True
    assert problems["prerequisites_missing"]["message"] == (
        "Tickets are not being filed: FREESCOUT_API_KEY is missing."
    )
    assert problems["prerequisites_missing"]["severity"] == "stop"
    page = viewer.get("/console/health").get_data(as_text=True)
    assert 'data-health-banner="stop"' in page
    assert "Tickets are not being filed: FREESCOUT_API_KEY is missing." in page


def test_with_ticketing_off_missing_prerequisites_only_warn(console, viewer):
    body, problems = _problems(viewer)
    assert body["tickets_blocked"] is False
    assert problems["prerequisites_missing"]["severity"] == "warn"
    assert problems["ticketing_off"]["severity"] == "warn"
    assert 'data-health-banner="off"' in viewer.get("/console/health").get_data(as_text=True)


def test_an_old_pending_ticket_is_shown_with_its_age(configured, console, viewer):
    turn_on(console)
    item_id = enqueue(console, "alert:status_poller:abc")
    finish(console, item_id, Result.retry("freescout_unavailable", retry_after=30))
    console.clock.advance(600)
    body, problems = _problems(viewer)
    (kind,) = body["outbox"]["by_kind"]
    assert kind["kind"] == "freescout.create"
    assert (kind["pending"], kind["retrying"], kind["last_reason"]) == (1, 1, "freescout_unavailable")
    assert kind["oldest_age_seconds"] == 600
    assert problems["tickets_waiting"]["message"] == (
        "1 ticket waiting for FreeScout since 12:00 UTC (freescout_unavailable)."
    )
    assert problems["worker_not_delivering"]["since"] == "2026-11-23T12:00:30Z"
    assert body["last_errors"]["freescout"]["reason"] == "freescout_unavailable"
    assert body["last_errors"]["freescout"]["at"] is None, "still retrying: no end time"
    page = viewer.get("/console/health").get_data(as_text=True)
    assert 'since 12:00:00 UTC<br><span class="muted">10 minutes ago</span>' in page


def test_a_cf_access_refusal_is_the_last_freescout_error(configured, console, viewer):
    turn_on(console)
    finish(console, enqueue(console, "queued"), Result.retry("freescout_unavailable", retry_after=30))
    item_id = enqueue(console, "status:api-prod:degraded")
    finish(console, item_id, Result.failed("cf_access_denied", "HTTP 403"))
    console.clock.advance(300)
    body, problems = _problems(viewer)
    error = body["last_errors"]["freescout"]
    assert (error["reason"], error["state"], error["current"]) == ("cf_access_denied", "failed", True)
    assert error["at"] == "2026-11-23T12:00:00Z"
    assert problems["cf_access_denied"]["severity"] == "stop"
    assert "refused the CF Access service token 5 minutes ago" in problems["cf_access_denied"]["message"]
    page = viewer.get("/console/health").get_data(as_text=True)
    assert "<code>cf_access_denied</code>" in page, "a failure nothing has fixed outranks an outage"


def test_a_delivery_after_the_error_takes_it_off_the_banner(configured, console, viewer):
    turn_on(console)
    finish(console, enqueue(console, "k1"), Result.failed("cf_access_denied"))
    console.clock.advance(60)
    finish(console, enqueue(console, "k2"), Result.done())
    body, problems = _problems(viewer)
    assert body["last_errors"]["freescout"]["current"] is False
    assert "cf_access_denied" not in problems


def test_a_stale_poller_is_shown(configured, console, viewer):
    turn_on(console)
    heartbeat(console, cycle_ago=180)
    body, problems = _problems(viewer)
    beat = body["heartbeats"]["status_poller"]
    assert (beat["stale"], beat["holder"], beat["age_seconds"]) == (True, "worker.1:4242", 180)
    assert problems["poller_stale"]["message"].startswith("No poll cycle for 3 minutes (last at 11:57:00 UTC")
    page = viewer.get("/console/health").get_data(as_text=True)
    assert "<strong>stale</strong>" in page


def test_a_fresh_poller_and_a_filed_ticket_leave_nothing_to_fix(configured, console, viewer):
    turn_on(console)
    turn_on(console, "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS")
    heartbeat(console, cycle_ago=10)
    filed(
        console,
        "console.alerts.ticket_filed",
        alert_key="status_poller:a3f9b812",
        severity="P2",
        ticket_id=412,
        ticket_url="http://fs/conversation/412",
    )
    filed(
        console,
        "console.status.ticket_filed",
        surface_id="api-prod",
        status="degraded",
        ticket_id=413,
        ticket_url="http://fs/conversation/413",
        idempotent=False,
    )
    console.clock.advance(5)
    filed(
        console,
        "console.status.ticket_filed",
        surface_id="api-prod",
        status="degraded",
        ticket_id=413,
        ticket_url="http://fs/conversation/413",
        idempotent=True,
    )
    body, problems = _problems(viewer)
    assert problems == {}
    assert body["tickets_blocked"] is False
    assert body["tickets_filed"] == {"status": 1, "alert": 1}
    assert body["last_ticket"]["ticket_id"] == 413 and body["last_ticket"]["entry"] == "status"
    page = viewer.get("/console/health").get_data(as_text=True)
    assert 'data-health-banner="ok"' in page
    assert '<a href="http://fs/conversation/413" rel="noopener">ticket #413</a>' in page


def test_the_panel_needs_a_login(client):
    assert client.get("/console/health").status_code == 302
    assert client.get("/console/health.json").status_code == 401


def test_running_checks_needs_an_operator_and_the_csrf_token(viewer):
    token = csrf_token(viewer, "/console/health")
    assert viewer.post("/console/health/checks", data={"csrf_token": token}).status_code == 403


def test_running_checks_without_the_csrf_token_is_refused(operator):
    assert operator.post("/console/health/checks").status_code == 400
