"""The alerts and customer-tickets pages, as an operator sees them in Chromium."""

import pytest

from raxx_console.alerts import alert_aggregator
from raxx_console.alerts.emission import AlertSignal
from raxx_console.customers import service as customers
from raxx_console.integrations import registry
from tests.support.accounts import browser_login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


def test_the_alerts_page_says_why_a_p3_alert_filed_no_ticket(alerts_console, live_server, page):
    make_user(alerts_console, "op@raxx.app", "operator")
    alert_aggregator.emit(
        alerts_console,
        AlertSignal(
            source="status_poller",
            check="api-prod",
            severity="P3",
            title="API (production) is slow",
            labels={"surface_id": "api-prod"},
        ),
    )
    browser_login(page, live_server, "op@raxx.app")
    page.goto(f"{live_server}/console/alerts")
    row = page.locator("text=API (production) is slow")
    assert row.count() >= 1
    assert page.locator("text=below_threshold").count() >= 1, "the P3 decision is shown with its reason"


def test_a_customers_open_ticket_links_to_freescout(
    freescout_settings, console, freescout_sandbox, live_server, page
):
    make_user(console, "op@raxx.app", "operator")
    with console.db.session() as session:
        customers.upsert(
            session,
            console.clock,
            [customers.CustomerRow(line=2, id=None, email="dana@example.com", name="Dana")],
            actor="test",
            env="development",
            source="test",
        )
    created = (
        registry.freescout(console)
        .create_conversation(
            mailbox_id=1, subject="Cannot export my trades", customer_email="dana@example.com", body_html="x"
        )
        .unwrap()
    )
    browser_login(page, live_server, "op@raxx.app")
    page.goto(f"{live_server}/console/customers")
    page.click("text=Open and recent tickets")
    link = page.locator("tr", has_text="Cannot export my trades").locator("a")
    assert link.get_attribute("href") == f"{freescout_sandbox.url}/conversation/{created.id}"
