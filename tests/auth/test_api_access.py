"""Bearer tokens, roles, CSRF and body limits: a clear 4xx and nothing written."""

from __future__ import annotations

import json

import pytest

from raxx_console.auth import service
from raxx_console.flags.models import FlagOverride
from tests.support.accounts import csrf_token, make_token, make_user
from tests.support.rows import audit_rows

FLAG = "FLAG_CONSOLE_DEPLOY_CHIP"


def _overrides(console):
    with console.db.session() as session:
        return session.query(FlagOverride).count()


def test_a_bearer_token_reaches_the_json_api(client, operator_token):
    response = client.get("/console/flags.json", headers={"Authorization": f"Bearer {operator_token}"})
    assert response.status_code == 200
    assert len(response.get_json()["flags"]) >= 8


@pytest.mark.parametrize("path", ["/console/flags.json", "/console/flags"])
def test_a_wrong_token_is_refused_in_json_even_on_a_page(client, operator_token, path):
    response = client.get(path, headers={"Authorization": "Bearer rxc_not-a-real-token"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_a_revoked_token_stops_working_at_once(client, console, operator_token):
    with console.db.session() as session:
        service.revoke_token(session, console.clock, token=operator_token, actor="test", env="development")
    response = client.post(
        f"/console/flags/{FLAG}", json={"value": True}, headers={"Authorization": f"Bearer {operator_token}"}
    )
    assert response.status_code == 401
    assert response.get_json()["message"] == "invalid or revoked API token"
    assert _overrides(console) == 0
    [revoked] = audit_rows(console, "console.token.revoked")
    assert revoked.payload["prefix"] == operator_token[:10]


def test_a_viewer_cannot_toggle_a_flag(viewer, console):
    page = viewer.post(
        f"/console/flags/{FLAG}", data={"value": "on", "csrf_token": csrf_token(viewer, "/console/flags")}
    )
    assert page.status_code == 403
    assert "operator role" in page.get_data(as_text=True)
    make_user(console, "viewer-bot@raxx.app", "viewer")
    api = viewer.post(
        f"/console/flags/{FLAG}",
        json={"value": True},
        headers={"Authorization": f"Bearer {make_token(console, 'viewer-bot@raxx.app')}"},
    )
    assert api.status_code == 403
    assert api.get_json()["error"] == "forbidden"
    assert _overrides(console) == 0


def test_a_form_post_without_csrf_is_refused_and_changes_nothing(operator, console):
    response = operator.post(f"/console/flags/{FLAG}", data={"value": "on"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert _overrides(console) == 0
    assert not audit_rows(console, "console.flags.toggled")


def test_a_session_json_post_needs_the_csrf_header(operator, console):
    refused = operator.post(f"/console/flags/{FLAG}", json={"value": True})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "bad_request"
    assert _overrides(console) == 0
    token = csrf_token(operator, "/console/flags")
    accepted = operator.post(f"/console/flags/{FLAG}", json={"value": True}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200
    assert accepted.get_json()["source"] == "db"


@pytest.fixture
def small_bodies(settings_overrides):
    settings_overrides["MAX_CONTENT_LENGTH"] = 1024


def test_an_oversized_body_is_refused_with_413_and_changes_nothing(
    small_bodies, client, console, operator_token
):
    body = json.dumps({"value": True, "padding": "x" * 4096})
    response = client.post(
        f"/console/flags/{FLAG}",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {operator_token}"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert _overrides(console) == 0
    assert not audit_rows(console, "console.flags.toggled")


def test_an_oversized_form_is_refused_too(small_bodies, operator, console):
    token = csrf_token(operator, "/console/flags")
    response = operator.post(
        f"/console/flags/{FLAG}", data={"value": "on", "csrf_token": token, "pad": "x" * 4096}
    )
    assert response.status_code == 413
    assert _overrides(console) == 0
