"""The health page in a real browser: the banner an operator sees when tickets cannot be filed."""

import pytest

from tests.health.rows import turn_on
from tests.support.accounts import browser_login, make_user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_missing_prerequisites_are_the_banner(console, live_server, page):
    turn_on(console, "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS")
    make_user(console, "viewer@raxx.app", "viewer")
    browser_login(page, live_server, "viewer@raxx.app")
    page.click("nav >> text=Health")
    banner = page.locator("[data-health-banner]")
    assert banner.get_attribute("data-health-banner") == "stop"
    assert banner.inner_text().startswith("Tickets are not being filed: FREESCOUT_API_URL, ")
    assert "FREESCOUT_API_KEY" in banner.inner_text()
    assert page.locator("[data-action=run-checks]").count() == 0, "a viewer cannot run the live checks"
