"""The peer API a console rotates its service token through: enrol the next one, retire the rest."""

from __future__ import annotations

import pytest

from raxx_console.auth import service
from raxx_console.auth.service import hash_token, new_service_token
from tests.support.accounts import make_token, make_user
from tests.support.rows import audit_rows

ENROL, RETIRE, VERSION = "/api/peer/service-tokens", "/api/peer/service-tokens/retire", "/api/peer/version"


def issue(console, service_name: str = "console-prod") -> str:
    with console.db.session() as session:
        return service.create_service_token(
            session, console.clock, service=service_name, actor="test", env="development"
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enrol_body(token: str) -> dict[str, str]:
    return {"token_hash": hash_token(token), "prefix": token[:10]}


def test_enrol_then_retire_leaves_only_the_new_token(client, console):
    old, new = issue(console), new_service_token()

    enrolled = client.post(ENROL, json=enrol_body(new), headers=bearer(old))
    assert enrolled.status_code == 201 and enrolled.get_json()["service"] == "console-prod"
    again = client.post(ENROL, json=enrol_body(new), headers=bearer(new))
    assert again.status_code == 201, "enrolling again (a resumed rotation) is answered alike"
    assert client.get(VERSION, headers=bearer(old)).status_code == 200

    retired = client.post(RETIRE, json={}, headers=bearer(new))
    assert retired.status_code == 200 and retired.get_json()["revoked"] == [old[:10]]
    assert client.get(VERSION, headers=bearer(old)).status_code == 401
    assert client.get(VERSION, headers=bearer(new)).status_code == 200
    [created] = [r for r in audit_rows(console, "console.token.created") if r.actor.startswith("service:")]
    assert created.payload["prefix"] == new[:10] and new not in repr(created.payload)


def test_retire_leaves_other_services_alone(client, console):
    mine, theirs = issue(console), issue(console, "console-other")
    assert client.post(RETIRE, json={}, headers=bearer(mine)).get_json()["revoked"] == []
    assert client.get(VERSION, headers=bearer(theirs)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [None, [], {"token_hash": 5, "prefix": "rxs_abcdef"}, {"prefix": "rxs_abcdef"}],
)
def test_a_malformed_enrol_is_400(client, console, body):
    response = client.post(ENROL, json=body, headers=bearer(issue(console)))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_body"


@pytest.mark.parametrize(
    ("token_hash", "prefix"),
    [("not-hex" * 9 + "z", "rxs_abcdef"), ("a" * 64, "rxc_abcdef"), ("a" * 64, "rxs_ab")],
)
def test_a_bad_hash_or_prefix_is_refused_and_nothing_is_enrolled(client, console, token_hash, prefix):
    caller = issue(console)
    response = client.post(ENROL, json={"token_hash": token_hash, "prefix": prefix}, headers=bearer(caller))
    assert response.status_code == 409 and response.get_json()["error"] == "token_not_enrolled"
    assert len(audit_rows(console, "console.token.created")) == 1


def test_another_services_or_a_revoked_token_cannot_be_enrolled(client, console):
    mine, theirs = issue(console), issue(console, "console-other")
    assert client.post(ENROL, json=enrol_body(theirs), headers=bearer(mine)).status_code == 409
    new = new_service_token()
    client.post(ENROL, json=enrol_body(new), headers=bearer(mine))
    client.post(RETIRE, json={}, headers=bearer(new))  # retires ``mine``
    assert client.post(ENROL, json=enrol_body(mine), headers=bearer(new)).status_code == 409


def test_only_a_service_token_may_enrol_or_retire(client, console):
    make_user(console, "admin@raxx.app", "admin")
    user = bearer(make_token(console, "admin@raxx.app"))
    for path in (ENROL, RETIRE):
        assert client.post(path, json=enrol_body(new_service_token())).status_code == 401
        assert client.post(path, json=enrol_body(new_service_token()), headers=user).status_code == 403
