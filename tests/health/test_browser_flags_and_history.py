"""The health page in a real browser: each ticketing flag that is off, and failures after recovery."""

import pytest
from playwright.sync_api import expect

from raxx_console.outbox.service import Result
from tests.health.rows import ALL_PREREQS, enqueue, finish, turn_on
from tests.support.accounts import browser_login, make_user

pytestmark = pytest.mark.browser

ALERTS = "FLAG_CONSOLE_ALERTS_AUTO_TICKET"
INVESTIGATE = "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS"


@pytest.fixture
def configured(settings_overrides):
    settings_overrides.update(ALL_PREREQS)
    return settings_overrides


def _health(page, live_server):
    browser_login(page, live_server, "viewer@raxx.app")
    page.goto(f"{live_server}/console/health")
    return page.locator("[data-health-banner]")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("on", "off", "banner", "meaning"),
    [
        ((INVESTIGATE,), ALERTS, "partial", "alerts will be Slack-only"),
        ((ALERTS,), INVESTIGATE, "partial", "Investigate files no ticket"),
        ((), ALERTS, "off", "alerts will be Slack-only"),
    ],
)
def test_the_banner_names_each_ticketing_flag_that_is_off(
    configured, console, live_server, page, on, off, banner, meaning
):
    for flag in on:
        turn_on(console, flag)
    make_user(console, "viewer@raxx.app", "viewer")
    shown = _health(page, live_server)
    expect(shown).to_have_attribute("data-health-banner", banner)
    item = shown.locator(f'[data-problem="flag_off:{off}"]')
    expect(item).to_contain_text(f"{off} is off: {meaning}")
    expect(page.get_by_text("Nothing is stopping tickets.")).to_have_count(0)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_all_flags_on_and_nothing_failing_is_the_green_banner(configured, console, live_server, page):
    turn_on(console, ALERTS)
    turn_on(console, INVESTIGATE)
    make_user(console, "viewer@raxx.app", "viewer")
    shown = _health(page, live_server)
    expect(shown).to_have_attribute("data-health-banner", "ok")
    expect(shown).to_have_text("Nothing is stopping tickets.")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_failures_stay_listed_after_recovery(configured, console, live_server, page):
    turn_on(console, ALERTS)
    item_id = enqueue(console, "alert:status_poller:abc")
    for _ in range(3):
        finish(console, item_id, Result.retry("freescout_unavailable", "HTTP 503", retry_after=30))
        console.clock.advance(30)
    finish(console, item_id, Result.done("ticket #7"))
    console.clock.advance(60)
    make_user(console, "viewer@raxx.app", "viewer")
    _health(page, live_server)
    row = page.locator('[data-failure="freescout:freescout_unavailable"]')
    expect(row).to_have_attribute("data-recovered", "yes")
    expect(row).to_contain_text("3")
    expect(row).to_contain_text("recovered: calls have succeeded since")
    expect(page.locator('[data-error="freescout"]')).to_contain_text("none recorded")
