"""Investigate in a real browser: click on a degraded tile, see the link stay on it, click again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.accounts import browser_login, make_user
from tests.tickets.helpers import INVESTIGATE_FLAG, SURFACE, set_flag, set_status

pytestmark = pytest.mark.browser


def opacity(locator) -> float:
    return float(locator.evaluate("element => getComputedStyle(element).opacity"))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_investigate_shows_the_ticket_link_on_the_tile_and_a_second_click_reuses_it(
    freescout_settings, console, live_server, page, freescout_sandbox
):
    make_user(console, "op@raxx.app", "operator")
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console, SURFACE, "degraded")
    browser_login(page, live_server, "op@raxx.app")
    tile = page.locator(f'[data-surface="{SURFACE}"]')
    button = tile.get_by_role("button", name="Investigate")
    assert page.get_by_role("button", name="Investigate").count() == 1, "only degraded tiles offer it"
    page.mouse.move(0, 0)
    assert 0.3 < opacity(button) < 1, "dimmed until the tile is hovered or focused, never hidden"
    tile.focus()
    expect(button).to_have_css("opacity", "1")  # keyboard focus shows it

    with page.expect_response(lambda r: "/console/status/investigate/" in r.url) as first:
        button.click()
    assert first.value.json()["idempotent"] is False
    [conversation] = freescout_sandbox.conversations()
    url = f"{freescout_sandbox.url}/conversation/{conversation.id}"
    link = tile.locator('[data-field="investigation"] a')
    expect(link).to_have_attribute("href", url)
    expect(link).to_have_attribute("target", "_blank")

    with page.expect_response(lambda r: "/console/status/investigate/" in r.url) as second:
        button.click()
    assert second.value.json()["idempotent"] is True
    expect(button).to_be_enabled()
    expect(link).to_have_attribute("href", url)

    page.reload()
    expect(page.locator(f'[data-surface="{SURFACE}"] [data-field="investigation"] a')).to_have_attribute(
        "href", url
    )
    assert len(freescout_sandbox.conversations()) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_script_the_tile_button_posts_the_shared_form_and_the_grid_shows_the_ticket(
    freescout_settings, console, live_server, chromium, freescout_sandbox
):
    make_user(console, "op@raxx.app", "operator")
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console, SURFACE, "degraded")
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        browser_login(page, live_server, "op@raxx.app")
        with page.expect_navigation():
            page.locator(f'[data-surface="{SURFACE}"]').get_by_role("button", name="Investigate").click()
        [conversation] = freescout_sandbox.conversations()
        assert page.url.endswith("/console/status"), "the post is answered with the grid"
        link = page.locator(f'[data-surface="{SURFACE}"] [data-field="investigation"] a')
        expect(link).to_have_text(f"#{conversation.id}")
    finally:
        context.close()
