"""The flags JSON API: GET /console/flags.json and POST /console/flags/<name>."""

from __future__ import annotations

import pytest

from raxx_console.flags.registry import FLAGS
from tests.support.accounts import csrf_token
from tests.support.rows import audit_rows

FLAG = "FLAG_CONSOLE_DEPLOY_ASYNC"
TICKETING = "FLAG_CONSOLE_ALERTS_AUTO_TICKET"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_flags_json_lists_every_resolution(client, operator_token, monkeypatch):
    monkeypatch.setenv("FLAG_CONSOLE_DEPLOY_UI", "true")
    body = client.get("/console/flags.json", headers=bearer(operator_token)).get_json()
    flags = {flag["name"]: flag for flag in body["flags"]}
    assert list(flags) == [spec.name for spec in FLAGS]
    assert flags["FLAG_CONSOLE_DEPLOY_UI"] | {"description": None} == {
        "name": "FLAG_CONSOLE_DEPLOY_UI",
        "description": None,
        "value": True,
        "source": "env",
        "default": False,
        "db_value": None,
        "env_value": "true",
        "env_invalid": False,
        "pinned_by_env": True,
        "needs_ticketing": False,
        "updated_by": None,
        "updated_at": None,
    }
    assert flags[TICKETING]["needs_ticketing"] is True
    assert "FREESCOUT_API_KEY" in body["ticketing_prerequisites_missing"]
    assert body["cache_ttl_seconds"] == 30


def test_a_json_toggle_answers_the_new_resolution_and_is_seen_at_once(client, console, operator_token):
    response = client.post(f"/console/flags/{FLAG}", json={"value": True}, headers=bearer(operator_token))
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["value"], body["source"], body["db_value"]) == (FLAG, True, "db", True)
    assert body["updated_by"] == "bot@raxx.app"
    assert body["updated_at"] == "2026-11-23T12:00:00Z"
    assert body["before"] == {"value": False, "source": "default", "db": None}
    listed = client.get("/console/flags.json", headers=bearer(operator_token)).get_json()["flags"]
    assert next(f for f in listed if f["name"] == FLAG)["value"] is True
    [row] = audit_rows(console, "console.flags.toggled")
    assert (row.actor, row.payload["after"]) == ("bot@raxx.app", {"value": True, "source": "db", "db": True})


def test_an_unknown_flag_is_a_json_404(client, console, operator_token):
    response = client.post("/console/flags/FLAG_NOPE", json={"value": True}, headers=bearer(operator_token))
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_flag"
    assert not audit_rows(console, "console.flags.toggled")


@pytest.mark.parametrize(
    ("body", "content_type", "error", "names"),
    [
        ("{not json", "application/json", "invalid_json", "not valid JSON"),
        ("value=true", "text/plain", "invalid_json", "not valid JSON"),
        ('{"value": false, "value": true}', "application/json", "invalid_json", 'repeats the key "value"'),
        ("[true]", "application/json", "invalid_body", "JSON object"),
        ("{}", "application/json", "invalid_value", '"value" is required'),
        ('{"value": "true"}', "application/json", "invalid_value", '"value" must be true or false'),
        ('{"value": 1}', "application/json", "invalid_value", '"value" must be true or false'),
        ('{"value": null}', "application/json", "invalid_value", '"value" must be true or false'),
        ('{"value": true, "confirm": "yes"}', "application/json", "invalid_confirm", '"confirm" must be'),
    ],
)
def test_a_bad_body_is_a_400_naming_the_problem_and_writes_nothing(
    client, console, operator_token, body, content_type, error, names
):
    response = client.post(
        f"/console/flags/{FLAG}", data=body, content_type=content_type, headers=bearer(operator_token)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert names in response.get_json()["message"]
    assert not audit_rows(console, "console.flags.toggled")
    assert console.flags.resolve(FLAG).source == "default"


def test_a_ticketing_flag_answers_409_with_the_missing_names_until_confirmed(client, console, operator_token):
    refused = client.post(f"/console/flags/{TICKETING}", json={"value": True}, headers=bearer(operator_token))
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"] == "prerequisites_missing"
    assert body["flag"] == TICKETING
    assert body["missing"][:2] == ["FREESCOUT_API_URL", "FREESCOUT_INSTANCE_URL"]
    assert "FREESCOUT_BOT_USER_ID" in body["missing"]
    assert not audit_rows(console, "console.flags.toggled")

    confirmed = client.post(
        f"/console/flags/{TICKETING}", json={"value": True, "confirm": True}, headers=bearer(operator_token)
    )
    assert confirmed.status_code == 200
    assert confirmed.get_json()["value"] is True
    assert confirmed.get_json()["prerequisites_missing"] == body["missing"]


def test_a_pinned_flag_takes_the_db_write_and_says_so(client, operator_token, monkeypatch):
    monkeypatch.setenv(FLAG, "off")
    body = client.post(
        f"/console/flags/{FLAG}", json={"value": True}, headers=bearer(operator_token)
    ).get_json()
    assert (body["value"], body["source"], body["db_value"], body["pinned_by_env"]) == (
        False,
        "env",
        True,
        True,
    )


def test_the_session_and_csrf_header_path_works_like_a_token(operator):
    token = csrf_token(operator, "/console/flags")
    response = operator.post(f"/console/flags/{FLAG}", json={"value": True}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert response.get_json()["updated_by"] == "operator@raxx.app"
