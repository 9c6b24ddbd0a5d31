"""Flag promotion in Chromium, on two consoles: mark on staging, promote on prod, and each refusal."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from raxx_console.flags import promotions
from raxx_console.flags.models import FlagOverride, FlagPromotionMark
from tests.peer_consoles import PROD_HOST, STAGING_HOST, serve_tls
from tests.support.accounts import browser_login, make_user
from tests.support.rows import audit_rows, detached_rows

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

FLAG = "FLAG_CONSOLE_DEPLOY_CHIP"


@pytest.fixture
def prod_url(peer_settings, app, console):
    make_user(console, "root@raxx.app", "admin")
    make_user(console, "op@raxx.app", "operator")
    with serve_tls(app) as port:
        yield f"https://{PROD_HOST}:{port}"


@pytest.fixture
def staging_url(staging):
    make_user(staging.console, "op@raxx.app", "operator")
    with serve_tls(staging.app) as port:
        yield f"https://{STAGING_HOST}:{port}"


def mark(staging):
    staging.console.flags.change(
        FLAG, True, settings=staging.console.settings, actor="op@raxx.app", env="staging"
    )
    staging.console.clock.advance(60)
    with staging.console.db.session() as session:
        return promotions.mark(
            session,
            staging.console.clock,
            staging.console.flags,
            flag=FLAG,
            note="soaked",
            actor="op@raxx.app",
            env="staging",
        ).id


def nothing_changed(console, staging):
    assert detached_rows(console, select(FlagOverride)) == []
    assert audit_rows(console, "console.flags.promoted") == []
    assert all(m.closed_at is None for m in detached_rows(staging.console, select(FlagPromotionMark)))


def test_mark_on_staging_then_promote_on_prod(prod_url, staging_url, console, staging, tls_page):
    page = tls_page
    browser_login(page, staging_url, "op@raxx.app")
    page.goto(f"{staging_url}/console/flags")
    page.locator(f"#flag-{FLAG} button[data-action=toggle]").click()
    page.goto(f"{staging_url}/console/flags/promotions")
    expect(page.locator(".env-banner")).to_have_text("STAGING")
    page.select_option("select[name=flag]", FLAG)
    page.fill("input[name=note]", "chip soaked 48 h on staging")
    page.click("button[data-action=mark]")
    expect(page.locator(".notice-success")).to_contain_text(f"{FLAG} marked for promotion (on)")
    expect(page.locator(f"[data-table=open-marks] tr[data-flag={FLAG}]")).to_have_attribute(
        "data-state", "open"
    )

    browser_login(page, prod_url, "root@raxx.app")
    page.goto(f"{prod_url}/console/flags/promotions")
    expect(page.locator(".env-banner")).to_have_text("PRODUCTION")
    row = page.locator(f"[data-table=marks] tr[data-flag={FLAG}]")
    expect(row.locator("[data-field=staging-value]")).to_have_text("ON")
    expect(row.locator("[data-field=prod-value]")).to_have_text("OFF")
    expect(row.locator("[data-field=prod-source]")).to_have_text("default")
    expect(row).to_contain_text("chip soaked 48 h on staging")
    row.locator("button[data-action=promote]").click()
    expect(page.locator(".notice-success")).to_contain_text(f"{FLAG} promoted: on on prod")
    expect(page.locator("[data-empty=marks]")).to_be_visible()
    expect(page.locator("[data-table=promoted] tr")).to_have_count(2)

    page.goto(f"{prod_url}/console/flags")
    expect(page.locator(f"#flag-{FLAG} [data-field=value]")).to_have_text("ON")
    expect(page.locator(f"#flag-{FLAG} [data-field=source]")).to_have_text("db")
    page.goto(f"{staging_url}/console/flags/promotions")
    expect(page.locator("[data-table=closed-marks] tr[data-closed-reason=promoted]")).to_contain_text(
        "root@raxx.app"
    )


def open_prod_promotions(page, prod_url, email):
    browser_login(page, prod_url, email)
    page.goto(f"{prod_url}/console/flags/promotions")
    return page.locator(f"[data-table=marks] tr[data-flag={FLAG}]")


def test_a_flag_pinned_on_prod_is_refused(prod_url, console, staging, tls_page):
    mark(staging)
    row = open_prod_promotions(tls_page, prod_url, "root@raxx.app")
    console.flags.environ = {FLAG: "0"}  # a break-glass pin lands while the page is open
    row.locator("button[data-action=promote]").click()
    message = f"pinned by {FLAG}; unset the config var first, then promote"
    expect(tls_page.locator("[data-error]")).to_contain_text(message)
    expect(row.locator("[data-field=refused]")).to_have_text(message)
    nothing_changed(console, staging)


def test_a_mark_gone_stale_is_refused(prod_url, console, staging, tls_page):
    mark(staging)
    row = open_prod_promotions(tls_page, prod_url, "root@raxx.app")
    staging.console.clock.advance(60)
    staging.console.flags.change(
        FLAG, False, settings=staging.console.settings, actor="op2@raxx.app", env="staging"
    )
    row.locator("button[data-action=promote]").click()
    expect(tls_page.locator("[data-error]")).to_contain_text("the mark is stale")
    expect(row).to_have_attribute("data-state", "stale")
    nothing_changed(console, staging)


def test_an_operator_sees_no_promote_button(prod_url, console, staging, tls_page):
    mark(staging)
    row = open_prod_promotions(tls_page, prod_url, "op@raxx.app")
    expect(row).to_have_attribute("data-state", "promotable")
    expect(row.locator("button[data-action=promote]")).to_have_count(0)
    expect(tls_page.get_by_text("Promoting needs the admin role.")).to_be_visible()
    nothing_changed(console, staging)


def test_staging_down_shows_a_banner_and_changes_nothing(prod_url, console, staging, tls_page):
    mark(staging)
    row = open_prod_promotions(tls_page, prod_url, "root@raxx.app")
    staging.stop()
    row.locator("button[data-action=promote]").click()
    expect(tls_page.locator("[data-peer-banner]")).to_contain_text("The staging console did not answer")
    expect(tls_page.locator("[data-peer-banner]")).to_contain_text("Nothing was changed on either side")
    nothing_changed(console, staging)
