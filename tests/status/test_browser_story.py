"""One incident reads as one story on the tile: degraded → Investigate → down → Investigate."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.alerts.helpers import AUTO_TICKET_FLAG, deliver, fire, tickets
from tests.support.accounts import browser_login, make_user
from tests.tickets.helpers import INVESTIGATE_FLAG, SURFACE, set_flag, set_status

pytestmark = pytest.mark.browser

LINKED_FLAG = "FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET"


def _alert_ticket(console) -> int:
    """A P2 alert about the surface, emitted until entry B files its ticket."""
    for _ in range(30):
        fire(console, labels={"host": "db-1", "surface_id": SURFACE})
        deliver(console)
        filed = [t for t in tickets(console) if t.entry == "alert" and t.ticket_id]
        if filed:
            return filed[0].ticket_id
        console.clock.advance(30)
    raise AssertionError("the alert never filed a ticket")


def _click_investigate(page, tile) -> dict:
    with page.expect_response(lambda r: "/console/status/investigate/" in r.url) as answer:
        tile.get_by_role("button", name="Investigate").click()
    return answer.value.json()


def _listed(tile) -> list[int]:
    items = tile.locator('[data-field="open_tickets"] li')
    return sorted(int(items.nth(i).get_attribute("data-ticket-id")) for i in range(items.count()))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_tile_keeps_every_ticket_of_the_incident(alerts_console, live_server, page, freescout_sandbox):
    console = alerts_console
    for flag in (INVESTIGATE_FLAG, LINKED_FLAG, AUTO_TICKET_FLAG):
        set_flag(console, flag)
    make_user(console, "op@raxx.app", "operator")
    set_status(console, SURFACE, "degraded")
    alert_id = _alert_ticket(console)

    browser_login(page, live_server, "op@raxx.app")
    tile = page.locator(f'[data-surface="{SURFACE}"]')
    expect(tile.locator('[data-field="surface_id"]')).to_have_text(SURFACE)
    assert _listed(tile) == [alert_id], "the alert's ticket shows before any click"

    degraded = _click_investigate(page, tile)
    assert degraded["idempotent"] is False
    again = _click_investigate(page, tile)
    assert again["idempotent"] is True
    expect(tile.locator('[data-field="investigation"]')).to_contain_text(
        f"already filed just now — #{degraded['ticket_id']}"
    )

    set_status(console, SURFACE, "down")
    page.reload()
    tile = page.locator(f'[data-surface="{SURFACE}"]')
    expect(tile.locator('[data-field="open_tickets"]')).to_contain_text("degraded")
    assert _listed(tile) == sorted([alert_id, degraded["ticket_id"]]), "DOWN keeps #5 and the alert's"

    down = _click_investigate(page, tile)
    assert down["idempotent"] is False and down["ticket_id"] not in (alert_id, degraded["ticket_id"])
    page.reload()
    tile = page.locator(f'[data-surface="{SURFACE}"]')
    assert _listed(tile) == sorted([alert_id, degraded["ticket_id"], down["ticket_id"]])
    expect(tile.locator(f'[data-ticket-id="{down["ticket_id"]}"]')).to_contain_text("down")

    [conversation] = [c for c in freescout_sandbox.conversations() if c.id == down["ticket_id"]]
    body = conversation.threads[-1].body
    assert f"#{degraded['ticket_id']}" in body and f"#{alert_id}" in body, "the down ticket shows both"
