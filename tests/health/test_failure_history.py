"""The health panel says which ticketing flag is off, and keeps a day of failures after recovery."""

from __future__ import annotations

import pytest

from raxx_console.health import doctor, panel
from raxx_console.outbox.service import Result
from tests.health.rows import ALL_PREREQS, enqueue, finish, turn_on

ALERTS = "FLAG_CONSOLE_ALERTS_AUTO_TICKET"
INVESTIGATE = "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS"


@pytest.fixture
def configured(settings_overrides):
    settings_overrides.update(ALL_PREREQS)
    return settings_overrides


def _problems(client):
    body = client.get("/console/health.json").get_json()
    return {p["code"]: p for p in body["problems"]}


def test_each_ticketing_flag_that_is_off_is_named_with_what_it_means(configured, console, viewer):
    turn_on(console, INVESTIGATE)
    problems = _problems(viewer)
    assert problems[f"flag_off:{ALERTS}"]["message"] == (
        f"{ALERTS} is off: alerts will be Slack-only: no P1/P2 alert files a ticket."
    )
    assert f"flag_off:{INVESTIGATE}" not in problems
    page = viewer.get("/console/health").get_data(as_text=True)
    assert 'data-health-banner="partial"' in page
    assert "Nothing is stopping tickets." not in page
    assert "alerts will be Slack-only" in page

    turn_on(console, ALERTS)
    problems = _problems(viewer)
    assert not [code for code in problems if code.startswith("flag_off:")]


def test_with_both_flags_off_the_banner_names_both(configured, console, viewer):
    problems = _problems(viewer)
    assert {f"flag_off:{ALERTS}", f"flag_off:{INVESTIGATE}"} <= set(problems)
    page = viewer.get("/console/health").get_data(as_text=True)
    assert 'data-health-banner="off"' in page
    assert "Investigate files no ticket" in page and "alerts will be Slack-only" in page


def _three_503s_then_success(console):
    item_id = enqueue(console, "alert:status_poller:abc")
    for _ in range(3):
        finish(console, item_id, Result.retry("freescout_unavailable", "HTTP 503", retry_after=30))
        console.clock.advance(30)
    finish(console, item_id, Result.done("ticket #7"))
    console.clock.advance(60)


def test_failures_stay_visible_after_recovery(configured, console, viewer):
    turn_on(console)
    _three_503s_then_success(console)
    body = viewer.get("/console/health.json").get_json()
    assert "freescout" not in body["last_errors"]  # nothing is wrong now
    [group] = body["failure_history"]
    assert (group["component"], group["reason"], group["count"]) == ("freescout", "freescout_unavailable", 3)
    assert group["recovered"] is True
    assert group["kinds"] == ["freescout.create"]
    page = viewer.get("/console/health").get_data(as_text=True)
    assert 'data-failure="freescout:freescout_unavailable" data-recovered="yes"' in page

    console.clock.advance(24 * 3600)  # read directly: a day later the browser session has expired
    with console.db.session() as session:
        assert panel.collect(console, session).failure_history == []


def test_waits_for_another_item_are_not_failures(configured, console, viewer):
    item_id = enqueue(console, "note:1", kind="freescout.note")
    finish(console, item_id, Result.retry("ticket_not_filed", "waiting for the ticket to be filed", 5))
    assert viewer.get("/console/health.json").get_json()["failure_history"] == []


def test_doctor_step_5_reads_the_same_history(configured, console):
    turn_on(console)
    _three_503s_then_success(console)
    with console.db.session() as session:
        snapshot = panel.collect(console, session)
    result = doctor.step_5(snapshot)
    assert result.verdict == "warn"
    assert "freescout_unavailable x3 (last 1 minute ago, recovered)" in result.summary
