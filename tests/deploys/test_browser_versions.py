"""Console versions in Chromium on two consoles and one GitHub sandbox: enrol, look, promote, in sync."""

from __future__ import annotations

import httpx
import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from raxx_console.deploys import service, versions
from raxx_console.deploys.models import KIND_PROMOTION, Deploy
from raxx_console.flags import registry as flag_names
from tests.deploys.versions_consoles import enrol
from tests.peer_consoles import STAGING_HOST, serve_tls
from tests.support.accounts import browser_login, make_user
from tests.support.rows import audit_rows, detached_rows
from tests.tickets.helpers import set_flag

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("versions_settings"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


@pytest.fixture
def staging_url(app, console):
    make_user(console, "root@raxx.app", "admin")
    set_flag(console, flag_names.DEPLOY_CHIP_FLAG)
    with serve_tls(app) as port:
        yield f"https://{STAGING_HOST}:{port}"


def test_enrol_see_both_shas_promote_with_a_code_and_prod_comes_in_sync(
    staging_url, console, prod, github_sandbox, clock, tls_page
):
    page = tls_page
    first, staging_sha = github_sandbox.state.commits[0]["sha"], github_sandbox.state.resolve("main")
    browser_login(page, staging_url, "root@raxx.app")

    page.click("text=Versions")
    expect(page.locator("[data-field=enrol-first]")).to_contain_text("Enrol first")
    page.click("text=Set up two-factor codes")
    uri = page.locator("[data-field=otpauth-uri]").inner_text()
    totp = pyotp.parse_uri(uri)
    page.fill("input[name=code]", totp.at(clock.now()))
    page.click("button[data-action=confirm-totp]")
    expect(page.locator("[data-totp=enrolled]")).to_be_visible()
    clock.advance(30)  # the enrolment used this step's code up

    page.goto(f"{staging_url}/admin/console-versions")
    expect(page.locator("[data-console=console-staging] [data-field=sha]")).to_have_text(staging_sha)
    expect(page.locator("[data-console=console-prod] [data-field=sha]")).to_have_text(first)
    commits = page.locator("[data-table=commits] tbody tr")
    expect(commits).to_have_count(2)
    expect(commits.nth(0)).to_contain_text("Status grid and Investigate")
    expect(commits.nth(0)).to_contain_text("Dana Whitfield")
    expect(commits.nth(1)).to_contain_text("Deploys from the cockpit")
    expect(commits.nth(1)).to_contain_text("Lee Okafor")
    expect(page.locator("[data-field=in-sync]")).to_have_count(0)

    page.get_by_role("button", name="Promote staging → prod").click()
    dialog = page.locator("dialog#promote-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("input[name=word]").fill("PROMOTE")
    dialog.locator("input[name=code]").fill(totp.at(clock.now()))
    dialog.get_by_role("button", name="Promote").click()
    expect(page.locator(".notice-success")).to_contain_text(f"Promoting {staging_sha[:7]} to console-prod")

    [sent] = github_sandbox.dispatches()
    assert sent["path"] == ".github/workflows/deploy-console.yml" and sent["head_branch"] == "main"
    assert sent["inputs"] == {"environment": "production", "ref": staging_sha}
    [deploy] = detached_rows(console, select(Deploy))
    assert (deploy.surface_id, deploy.kind) == ("console-prod", KIND_PROMOTION)
    expect(page.locator("[data-deploy-chip]")).to_contain_text("Deploying console-prod")
    expect(page.locator("[data-recent-deploys] tbody tr").first).to_contain_text("console-prod")
    expect(page.locator("[data-field=in-flight]")).to_be_visible()
    assert httpx.get(f"{prod.url}/version").json()["sha"] == first, "not before the run completes"

    clock.advance(30)
    service.follow(console)
    assert httpx.get(f"{prod.url}/version").json()["sha"] == staging_sha
    page.reload()
    expect(page.locator("[data-console=console-prod] [data-field=sha]")).to_have_text(staging_sha)
    expect(page.locator("[data-field=in-sync]")).to_contain_text("In sync")
    expect(page.locator("[data-recent-deploys] tbody tr").first).to_contain_text("completed: success")
    [promoted] = audit_rows(console, versions.PROMOTED)
    assert promoted.payload["from_sha"] == first and promoted.payload["to_sha"] == staging_sha


def test_a_wrong_code_in_the_modal_is_refused_on_the_page(
    staging_url, console, github_sandbox, clock, tls_page
):
    page = tls_page
    enrolled = enrol(console, "root@raxx.app")
    clock.advance(30)
    browser_login(page, staging_url, "root@raxx.app")
    page.goto(f"{staging_url}/admin/console-versions")
    page.get_by_role("button", name="Promote staging → prod").click()
    dialog = page.locator("dialog#promote-dialog")
    dialog.locator("input[name=word]").fill("PROMOTE")
    right = pyotp.TOTP(enrolled).at(clock.now())
    dialog.locator("input[name=code]").fill(f"{(int(right) + 1) % 1_000_000:06d}")
    dialog.get_by_role("button", name="Promote").click()
    expect(page.locator("[data-error]")).to_contain_text("Not promoted: that code does not match")
    assert github_sandbox.dispatches() == []
    assert audit_rows(console, versions.PROMOTE_REFUSED)[0].payload["reason"] == "bad_code"
