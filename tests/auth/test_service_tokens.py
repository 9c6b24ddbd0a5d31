"""Service tokens: the other console's key to the peer API, and to nothing else."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from raxx_console.auth import service
from raxx_console.auth.access import hash_token
from raxx_console.auth.models import ServiceToken
from raxx_console.cli import main
from tests.support.accounts import make_token, make_user
from tests.support.rows import audit_rows, detached_rows


@pytest.fixture
def service_token(console):
    with console.db.session() as session:
        return service.create_service_token(
            session, console.clock, service="console-prod", actor="test", env="development"
        )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_service_token_calls_the_peer_api(client, service_token):
    response = client.get("/api/peer/version", headers=bearer(service_token))
    assert response.status_code == 200
    assert set(response.get_json()) >= {"sha", "env"}
    marks = client.get("/api/peer/flags/marks", headers=bearer(service_token))
    assert marks.status_code == 200 and marks.get_json()["marks"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/flags.json"),
        ("GET", "/console/flags"),
        ("POST", "/console/flags/FLAG_CONSOLE_DEPLOY_CHIP"),
        ("GET", "/console/health.json"),
        ("POST", "/api/alerts"),
        ("GET", "/metrics"),
    ],
)
def test_a_service_token_calls_nothing_else(client, console, service_token, method, path):
    response = client.open(path, method=method, json={"value": True}, headers=bearer(service_token))
    assert response.status_code == 403
    assert "/api/peer/ only" in response.get_json()["message"]
    assert audit_rows(console, "console.flags.toggled") == []


def test_a_users_token_cannot_call_the_peer_api(client, console):
    make_user(console, "root@raxx.app", "admin")
    response = client.get("/api/peer/version", headers=bearer(make_token(console, "root@raxx.app")))
    assert response.status_code == 403
    assert "not a user's" in response.get_json()["message"]


def test_without_a_token_the_peer_api_answers_401(client):
    response = client.get("/api/peer/flags/marks")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_a_revoked_service_token_stops_at_once(client, console, service_token):
    with console.db.session() as session:
        row = service.revoke_token(session, console.clock, token=service_token, actor="t", env="development")
    assert isinstance(row, ServiceToken)
    assert client.get("/api/peer/version", headers=bearer(service_token)).status_code == 401
    [revoked] = audit_rows(console, "console.token.revoked")
    assert revoked.payload == {"token_id": row.id, "prefix": service_token[:10], "service": "console-prod"}


def test_token_create_service_prints_a_token_stored_hashed(console, settings_overrides):
    env = {name: str(value) for name, value in settings_overrides.items()}
    result = CliRunner().invoke(main, ["token", "create", "--service", "console-prod"], env=env)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("rxs_")
    [row] = detached_rows(console, select(ServiceToken))
    assert row.token_hash == hash_token(token) and row.service == "console-prod"
    [created] = audit_rows(console, "console.token.created")
    assert token not in str(created.payload) and created.payload["service"] == "console-prod"


@pytest.mark.parametrize("args", [[], ["--email", "a@raxx.app", "--service", "console-prod"]])
def test_token_create_needs_exactly_one_of_email_and_service(settings_overrides, args):
    env = {name: str(value) for name, value in settings_overrides.items()}
    result = CliRunner().invoke(main, ["token", "create", *args], env=env)
    assert result.exit_code == 2
    assert "either --email" in result.output
