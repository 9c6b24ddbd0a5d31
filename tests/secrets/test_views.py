"""/secrets: who sees it, what the flags gate, the manual record, JSON answers, health and metrics."""

from __future__ import annotations

import pytest

from raxx_console.secrets.service import ROTATED, ROTATED_MANUALLY
from tests.secrets.conftest import ADMIN, MODE_A, NAME, ROTATE_UI, set_flag
from tests.support.accounts import csrf_token, login, make_token, make_user
from tests.support.rows import audit_rows

ROTATE = f"/secrets/{NAME}/rotate"
MANUAL = f"/secrets/{NAME}/manual"


@pytest.fixture
def admin_token(console):
    make_user(console, "robot@raxx.app", "admin")
    return {"Authorization": f"Bearer {make_token(console, 'robot@raxx.app')}"}


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_see_secrets(console, client, role):
    make_user(console, f"{role}@raxx.app", role)
    assert login(client, f"{role}@raxx.app").status_code == 302
    assert client.get("/secrets").status_code == 403
    assert client.get("/secrets.json").status_code == 403
    assert b'href="/secrets"' not in client.get("/console/flags").data


def test_the_registry_lists_names_apps_vault_and_mode_never_values(admin, sandboxes, flags_on):
    body = admin.get("/secrets.json").get_json()
    rows = {row["name"]: row for row in body["secrets"]}
    assert rows[NAME]["mode"] == "handler"
    assert rows[NAME]["apps"] == ["raxx-console-staging", "raxx-console-prod"]
    assert rows[NAME]["vault_path"] == "/MooseQuest/console/SECRET_KEY"
    assert rows["FREESCOUT_API_KEY"]["mode"] == "manual" and rows["FREESCOUT_API_KEY"]["sop"]
    assert rows[NAME]["last_rotated_at"] is None and rows[NAME]["overdue"] is False
    assert b'href="/secrets"' in admin.get("/console/flags").data


def test_rotate_ui_off_hides_the_buttons_and_the_actions_404(admin, console, admin_token):
    page = admin.get("/secrets").get_data(as_text=True)
    assert 'data-action="rotate"' not in page and 'data-action="record-manual"' not in page
    token = csrf_token(admin, "/secrets")
    assert admin.post(ROTATE, data={"csrf_token": token}).status_code == 404
    assert admin.post(MANUAL, data={"csrf_token": token}).status_code == 404
    assert admin.post(ROTATE, headers=admin_token).status_code == 404
    assert admin.post(MANUAL, headers=admin_token).status_code == 404
    assert audit_rows(console, ROTATED) == audit_rows(console, ROTATED_MANUALLY) == []


def test_mode_a_off_shows_the_sop_and_records_a_manual_rotation(admin, console, sandboxes, admin_token):
    set_flag(console, ROTATE_UI, True)
    page = admin.get("/secrets").get_data(as_text=True)
    assert f'data-sop="{NAME}"' in page and 'data-action="rotate"' not in page

    refused = admin.post(ROTATE, headers=admin_token)
    assert refused.status_code == 409 and refused.get_json()["error"] == "manual_rotation"
    assert MODE_A in refused.get_json()["message"]

    answer = admin.post(MANUAL, data={"csrf_token": csrf_token(admin, "/secrets")})
    assert answer.status_code == 303
    [row] = audit_rows(console, ROTATED_MANUALLY)
    assert (row.actor, row.payload["name"]) == (ADMIN, NAME)
    listed = {r["name"]: r for r in admin.get("/secrets.json").get_json()["secrets"]}
    assert listed[NAME]["last_rotated_by"] == ADMIN and listed[NAME]["age_days"] == 0
    assert sandboxes.vault_versions() == 2  # recording changes nothing outside the console


def test_rows_without_a_handler_never_rotate(admin, flags_on, admin_token):
    answer = admin.post("/secrets/SLACK_BOT_TOKEN/rotate", headers=admin_token)
    assert answer.status_code == 409 and "no Mode A handler" in answer.get_json()["message"]


def test_unknown_secret_is_a_clear_404(admin, flags_on, admin_token):
    answer = admin.post("/secrets/NOPE/rotate", headers=admin_token)
    assert answer.status_code == 404 and answer.get_json()["error"] == "unknown_secret"


def test_rotate_over_the_json_api(admin, flags_on, sandboxes, admin_token):
    answer = admin.post(ROTATE, headers=admin_token)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["state"] == "done" and body["apps"] == ["raxx-console-staging", "raxx-console-prod"]

    sandboxes.heroku.set_faults("down")
    failed = admin.post(ROTATE, headers=admin_token)
    assert failed.status_code == 502
    assert failed.get_json()["error"] == "rotation_incomplete"
    assert failed.get_json()["step"] == "app:raxx-console-staging"


def test_overdue_secrets_show_on_health_and_metrics(admin, console, clock, flags_on):
    admin.post(MANUAL, data={"csrf_token": csrf_token(admin, "/secrets")})
    make_user(console, "ops@raxx.app", "operator")
    assert "secret_overdue" not in admin.get("/console/health.json").get_data(as_text=True)

    clock.advance(91 * 86400)
    assert login(admin, ADMIN).status_code == 302  # sessions end after 7 days; the secret's age is 90

    health = admin.get("/console/health.json").get_json()
    assert health["secrets_overdue"] == [NAME]
    assert any(p["code"] == "secret_overdue" and NAME in p["message"] for p in health["problems"])
    metrics = admin.get("/metrics").get_data(as_text=True)
    assert f'raxx_console_secret_overdue{{name="{NAME}"}} 1.0' in metrics
