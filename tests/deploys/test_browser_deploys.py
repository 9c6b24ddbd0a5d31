"""Deploys in a real browser: the tile's modal, the chip, Recent deploys, and the kill switch."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from raxx_console.deploys import service
from raxx_console.deploys.models import Deploy
from raxx_console.flags import registry as flag_names
from tests.support.accounts import browser_login, make_user
from tests.support.rows import detached_rows
from tests.tickets.helpers import set_flag

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("github_settings")]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_deploy_from_a_tile_then_the_chip_and_recent_deploys_follow_it_to_completed(
    console, live_server, page, github_sandbox, clock
):
    make_user(console, "op@raxx.app", "operator")
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    set_flag(console, flag_names.DEPLOY_CHIP_FLAG)
    browser_login(page, live_server, "op@raxx.app")
    page.goto(f"{live_server}/console/status")
    tile = page.locator('[data-surface="api-staging"]')
    expect(page.locator('[data-surface="console-prod"]').get_by_role("button", name="Deploy")).to_have_count(
        0
    )
    tile.get_by_role("button", name="Deploy").click()
    dialog = page.get_by_role("dialog", name="Deploy api-staging")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-field="workflow"]')).to_have_text("deploy-heroku.yml")
    expect(dialog.locator('[data-field="target_env"]')).to_have_text("staging")
    expect(dialog.locator("input[name=ref]")).to_have_value("main")
    submit = dialog.get_by_role("button", name="Deploy")
    with page.expect_response(lambda r: "/console/deploys/api-staging" in r.url) as answer:
        submit.dblclick()  # a double click dispatches once
    assert answer.value.status == 200
    expect(dialog.locator('[data-field="deploy_result"]')).to_contain_text("still running (queued)")
    assert len(github_sandbox.dispatches()) == 1
    dialog.get_by_role("button", name="Cancel").click()

    chip = page.locator("[data-deploy-chip]")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text("Deploying api-staging (main)")
    run_url = github_sandbox.dispatches()[0]["html_url"]
    expect(chip).to_have_attribute("href", run_url)
    row = page.locator("[data-recent-deploys] tbody tr").first
    expect(row).to_contain_text("api-staging")
    expect(row).to_contain_text("still running")
    expect(tile.locator('[data-field="deploy_badge"]')).to_contain_text("by op@raxx.app")

    page.goto(f"{live_server}/console/flags")  # the chip is in every page's header
    expect(page.locator("[data-deploy-chip]")).to_contain_text("Deploying api-staging")
    page.goto(f"{live_server}/console/status")

    clock.advance(30)
    service.follow(console)
    service.follow(console)
    expect(page.locator("[data-recent-deploys] tbody tr").first).to_contain_text("completed: success")
    expect(page.locator("[data-deploy-chip]")).to_be_hidden()
    [deploy] = detached_rows(console, select(Deploy))
    assert (deploy.status, deploy.conclusion) == ("completed", "success")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_deploy_ui_off_shows_no_button_answers_404_and_says_break_glass(console, live_server, page):
    make_user(console, "op@raxx.app", "operator")
    browser_login(page, live_server, "op@raxx.app")
    page.goto(f"{live_server}/console/status")
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    expect(page.locator('[data-surface="api-staging"] [data-field="deploy_off"]')).to_have_text(
        "deploys: break-glass only"
    )
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    answer = page.request.post(
        f"{live_server}/console/deploys/api-staging",
        data={"ref": "main"},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert answer.status == 404


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_viewer_sees_no_deploy_button(console, live_server, page):
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    make_user(console, "viewer@raxx.app", "viewer")
    browser_login(page, live_server, "viewer@raxx.app")
    page.goto(f"{live_server}/console/status")
    expect(page.locator("[data-recent-deploys]")).to_be_visible()
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_production_target_without_the_typed_id_is_refused(console, live_server, page, github_sandbox):
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    make_user(console, "op@raxx.app", "operator")
    browser_login(page, live_server, "op@raxx.app")
    page.goto(f"{live_server}/console/status")
    page.locator('[data-surface="api-staging"]').get_by_role("button", name="Deploy").click()
    staging = page.get_by_role("dialog", name="Deploy api-staging")
    expect(staging.locator("input[name=confirm]")).to_be_hidden()
    staging.get_by_role("button", name="Cancel").click()
    page.locator('[data-surface="api-prod"]').get_by_role("button", name="Deploy").click()
    dialog = page.get_by_role("dialog", name="Deploy api-prod")  # the same dialog, filled for api-prod
    expect(dialog.locator('[data-field="target_env"]')).to_have_text("production")
    expect(dialog).to_contain_text("Type api-prod to confirm")
    dialog.locator("input[name=confirm]").fill("api-pro")
    with page.expect_response(lambda r: "/console/deploys/api-prod" in r.url) as answer:
        dialog.get_by_role("button", name="Deploy").click()
    assert answer.value.status == 400
    expect(dialog.locator('[data-field="deploy_result"]')).to_contain_text("type 'api-prod' to confirm")
    assert github_sandbox.dispatches() == []
    assert detached_rows(console, select(Deploy)) == []
