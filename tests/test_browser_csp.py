"""Every page works under the Content-Security-Policy: no inline script or style, no console error."""

from __future__ import annotations

import pytest

from raxx_console.alerts import alert_aggregator
from raxx_console.alerts.emission import AlertSignal
from raxx_console.customers import service as customers
from tests.support.accounts import browser_login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


#: Failing loads that are not the pages' fault: the 404 page itself, the browser's favicon probe.
EXPECTED_404 = ("/no-such-page", "/favicon.ico")


def _collect_errors(page) -> list[str]:
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith(EXPECTED_404):
            errors.append(f"{message.location.get('url')}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_every_page_renders_under_the_csp_without_console_errors(console, live_server, page):
    make_user(console, "admin@raxx.app", "admin")
    result = alert_aggregator.emit(
        console, AlertSignal(source="ci", check="disk", severity="P2", title="db-1 disk full")
    )
    with console.db.session() as session:
        customers.upsert(
            session,
            console.clock,
            [customers.CustomerRow(line=2, id=None, email="dana@example.com", name="Dana")],
            actor="test",
            env="development",
            source="test",
        )
    errors = _collect_errors(page)
    page.goto(f"{live_server}/login")
    browser_login(page, live_server, "admin@raxx.app")
    paths = [
        "/console/status",
        "/console/flags",
        "/console/alerts",
        f"/console/alerts/{result.alert_key}",
        "/console/customers",
        "/console/health",
        "/console/audit",
        "/console/flags/promotions",
        "/secrets",
        "/account/totp",
        "/admin/console-versions",
        "/no-such-page",
    ]
    for path in paths:
        response = page.goto(f"{live_server}{path}")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.locator(".env-banner").is_visible(), path
    # The stylesheets apply (console.css and the alerts page's own, both from /static).
    page.goto(f"{live_server}/console/alerts")
    assert page.eval_on_selector(".env-banner", "e => getComputedStyle(e).display") != "inline"
    assert errors == [], errors


def test_the_policy_really_blocks_inline_script(console, live_server, page):
    """The check above could not fail if no policy were enforced: an inline script must be refused."""
    errors = _collect_errors(page)
    page.goto(f"{live_server}/login")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("() => window.ran") is None
    assert any("Content Security Policy" in error for error in errors), errors
