"""Test degradations in a real browser: every tile opens the grid's one form, filled for that tile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.accounts import browser_login, make_user

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_tile_opens_the_shared_form_for_its_surface_and_the_simulation_shows_and_clears(
    console, live_server, page
):
    make_user(console, "op@raxx.app", "operator")
    browser_login(page, live_server, "op@raxx.app")
    page.goto(f"{live_server}/console/status")
    staging = page.locator('[data-surface="api-staging"]')
    page.locator('[data-surface="api-prod"]').get_by_role("button", name="Test degradation").click()
    dialog = page.get_by_role("dialog", name="Test degradation of api-prod")
    expect(dialog).to_contain_text("API (production)")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    staging.get_by_role("button", name="Test degradation").click()
    dialog = page.get_by_role("dialog", name="Test degradation of api-staging")
    dialog.get_by_label("Status").select_option("down")
    dialog.get_by_role("button", name="Simulate").click()

    staging = page.locator('[data-surface="api-staging"]')
    expect(staging).to_have_attribute("data-status", "down")
    expect(staging.locator('[data-field="simulated"]')).to_contain_text("SIMULATED until")
    expect(page.locator('[data-field="simulated"]')).to_have_count(1)
    staging.get_by_role("button", name="Clear simulation").click()
    expect(page.locator('[data-surface="api-staging"] [data-field="simulated"]')).to_have_count(0)
