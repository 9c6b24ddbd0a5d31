"""/secrets in a real browser: rotate with Mode A, the manual SOP, the flags' gates, admins only."""

from __future__ import annotations

import pytest

from raxx_console.secrets.fingerprint import fingerprint
from tests.secrets.conftest import ADMIN, MODE_A, NAME, OLD_VALUE, ROTATE_UI, set_flag
from tests.support.accounts import browser_login, make_user

pytestmark = pytest.mark.browser
ROW = f"tr[data-secret={NAME}]"


def open_secrets(page, live_server, email=ADMIN, role="admin", console=None):
    make_user(console, email, role)
    browser_login(page, live_server, email)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_rotate_with_mode_a_changes_the_vault_and_every_app(console, live_server, page, sandboxes, flags_on):
    open_secrets(page, live_server, console=console)
    page.click("nav >> text=Secrets")
    assert page.locator(f"{ROW} [data-field=mode]").inner_text().startswith("Mode A handler")

    page.click(f"{ROW} [data-action=rotate]")

    notice = page.locator(".notice-success")
    assert "SECRET_KEY rotated" in notice.inner_text()
    new = sandboxes.vault_value()
    assert new != OLD_VALUE
    assert set(sandboxes.app_values().values()) == {new}
    assert page.locator(f"{ROW} [data-field=fingerprint]").inner_text() == fingerprint(new)
    recent = page.locator(f"[data-section=recent-rotations] tr[data-rotation={NAME}]")
    assert recent.count() == 1 and fingerprint(new) in recent.inner_text()
    assert OLD_VALUE not in page.content() and new not in page.content()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_failed_rotation_shows_its_step_and_retry_finishes_it(
    console, live_server, page, sandboxes, flags_on
):
    open_secrets(page, live_server, console=console)
    sandboxes.heroku.set_faults("down", apps=["raxx-console-prod"])
    page.goto(f"{live_server}/secrets")
    page.click(f"{ROW} [data-action=rotate]")
    assert "incomplete at step app:raxx-console-prod" in page.locator(".notice-warning").inner_text()
    assert page.locator(ROW).get_attribute("data-state") == "incomplete"

    sandboxes.heroku.set_faults("ok")
    button = page.locator(f"{ROW} [data-action=rotate]")
    assert button.inner_text() == "Retry"
    button.click()

    assert "SECRET_KEY rotated" in page.locator(".notice-success").inner_text()
    assert sandboxes.vault_versions() == 3  # seeded, planted, and the rotation's one value
    assert set(sandboxes.app_values().values()) == {sandboxes.vault_value()}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_mode_a_off_shows_the_sop_and_records_a_manual_rotation(console, live_server, page, sandboxes):
    set_flag(console, ROTATE_UI, True)
    set_flag(console, MODE_A, False)
    open_secrets(page, live_server, console=console)
    page.goto(f"{live_server}/secrets")
    assert page.locator(f"{ROW} [data-action=rotate]").count() == 0
    page.click(f"tr[data-sop={NAME}] summary")
    assert "heroku config:set SECRET_KEY" in page.locator(f"tr[data-sop={NAME}] ol").inner_text()

    page.click(f"{ROW} [data-action=record-manual]")

    assert "Manual rotation of SECRET_KEY recorded" in page.locator(".notice-success").inner_text()
    recent = page.locator(f"[data-section=recent-rotations] tr[data-rotation={NAME}]")
    assert "manual rotation recorded" in recent.inner_text()
    assert sandboxes.app_values() == {"raxx-console-staging": OLD_VALUE, "raxx-console-prod": OLD_VALUE}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_rotate_ui_off_shows_no_button_and_the_actions_404(console, live_server, page, sandboxes):
    set_flag(console, MODE_A, True)
    open_secrets(page, live_server, console=console)
    page.goto(f"{live_server}/secrets")
    assert page.locator("[data-action=rotate]").count() == 0
    assert page.locator("[data-action=record-manual]").count() == 0
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    for action in ("rotate", "manual"):
        answer = page.request.post(f"{live_server}/secrets/{NAME}/{action}", headers={"X-CSRFToken": token})
        assert answer.status == 404


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_non_admin_sees_no_secrets(console, live_server, page, sandboxes, flags_on):
    open_secrets(page, live_server, email="operator@raxx.app", role="operator", console=console)
    assert page.locator("nav >> text=Secrets").count() == 0
    answer = page.goto(f"{live_server}/secrets")
    assert answer.status == 403
