"""The foundation in a real browser: log in, the env banner by host, the flags page, CSRF."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.support.accounts import browser_login, make_user

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

PURPLE = "rgb(123, 63, 191)"
RED = "rgb(198, 40, 40)"


@pytest.fixture
def tls_port(app):
    """The app over HTTPS (a throwaway self-signed certificate) on a free port.

    ``.app`` is on Chromium's HSTS preload list, so http://console-staging.raxx.app:PORT is
    upgraded to https before a byte is sent: the mapped hosts can only be visited over TLS.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context="adhoc")
    thread = threading.Thread(target=server.serve_forever, name="console-tls", daemon=True)
    thread.start()
    yield server.socket.getsockname()[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def banner_colour(page):
    return page.locator(".env-banner").evaluate("el => getComputedStyle(el).backgroundColor")


def test_an_operator_on_staging_flips_flags_under_a_purple_banner(console, tls_port, tls_page):
    page = tls_page
    make_user(console, "op@raxx.app", "operator")
    staging = f"https://console-staging.raxx.app:{tls_port}"
    browser_login(page, staging, "op@raxx.app")
    expect(page.locator(".env-banner")).to_have_text("STAGING")
    assert banner_colour(page) == PURPLE
    expect(page.locator(".tile")).to_have_count(6)

    page.goto(f"{staging}/console/flags")
    chip = page.locator("#flag-FLAG_CONSOLE_DEPLOY_CHIP")
    expect(chip.locator("[data-field=source]")).to_have_text("default")
    chip.locator("button[data-action=toggle]").click()
    expect(chip.locator("[data-field=source]")).to_have_text("db")
    expect(chip.locator("[data-field=value]")).to_have_text("ON")
    expect(page.locator(".notice-success")).to_contain_text("FLAG_CONSOLE_DEPLOY_CHIP set to on")

    # rollout Step 1, with the prerequisites still missing: a second, explicit step
    investigate = page.locator("#flag-FLAG_CONSOLE_INVESTIGATE_FROM_STATUS")
    investigate.locator("button[data-action=toggle]").click()
    expect(page.locator("[data-missing]")).to_contain_text("FREESCOUT_OPERATIONS_MAILBOX_ID")
    page.check("input[name=confirm]")
    page.click("button.danger")
    expect(investigate.locator("[data-field=source]")).to_have_text("db")
    expect(investigate.locator("[data-field=value]")).to_have_text("ON")

    page.goto(f"https://console.raxx.app:{tls_port}/login")
    expect(page.locator(".env-banner")).to_have_text("PRODUCTION")
    assert banner_colour(page) == RED


def test_posts_without_the_csrf_token_are_refused_in_the_browser(console, live_server, page):
    make_user(console, "op@raxx.app", "operator")
    browser_login(page, live_server, "op@raxx.app")
    expect(page.locator(".env-banner")).to_have_text("DEVELOPMENT")
    flag = f"{live_server}/console/flags/FLAG_CONSOLE_DEPLOY_UI"

    assert page.request.post(flag, form={"value": "on"}, max_redirects=0).status == 400
    page.goto(f"{live_server}/console/flags")
    fetch = """([url, token]) => fetch(url, {
        method: "POST",
        headers: Object.assign({"Content-Type": "application/json"}, token ? {"X-CSRFToken": token} : {}),
        body: JSON.stringify({value: true}),
    }).then(r => r.status)"""
    assert page.evaluate(fetch, [flag, None]) == 400
    page.reload()
    expect(page.locator("#flag-FLAG_CONSOLE_DEPLOY_UI [data-field=source]")).to_have_text("default")

    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert page.evaluate(fetch, [flag, token]) == 200
    page.reload()
    expect(page.locator("#flag-FLAG_CONSOLE_DEPLOY_UI [data-field=source]")).to_have_text("db")
