"""env_guard: the env comes from the host; production refuses hosts it cannot name an env for."""

from __future__ import annotations

import re

import pytest

from raxx_console.middleware.env_guard import host_name, selected_env
from tests.support.accounts import login, make_user
from tests.support.rows import audit_rows

STAGING = "http://console-staging.raxx.app"
PRODUCTION = "http://console.raxx.app"


def banner(response):
    page = response.get_data(as_text=True)
    start = page.index('<div class="env-banner')
    return page[start : page.index("</div>", start)]


@pytest.mark.parametrize(
    ("base_url", "label", "css"),
    [
        (STAGING, "STAGING", "banner-staging"),
        (PRODUCTION, "PRODUCTION", "banner-production"),
        ("http://localhost:5000", "DEVELOPMENT", "banner-development"),
    ],
)
def test_the_banner_follows_the_host(client, base_url, label, css):
    html = banner(client.get("/login", base_url=base_url))
    assert html.endswith(f">{label}") and css in html


def test_audit_rows_carry_the_env_of_the_host(client, console):
    make_user(console, "op@raxx.app", "operator")
    client.get("/login", base_url=STAGING)
    assert login(client, "op@raxx.app").status_code == 302  # the test client's default host
    client.post(
        "/login",
        base_url=STAGING,
        data={"email": "op@raxx.app", "password": "wrong-password-1", "csrf_token": _csrf(client, STAGING)},
    )
    assert [row.selected_env for row in audit_rows(console, "console.auth.login")] == ["development"]
    assert [row.selected_env for row in audit_rows(console, "console.auth.login_failed")] == ["staging"]


def _csrf(client, base_url):
    page = client.get("/login", base_url=base_url).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


@pytest.fixture
def staging_deployment(settings_overrides):
    settings_overrides["CONSOLE_ENV"] = "staging"


def test_rows_written_outside_a_request_carry_console_env(staging_deployment, app):
    with app.app_context():
        assert selected_env() == "staging"


@pytest.fixture
def production(settings_overrides):
    settings_overrides["CONSOLE_ENV"] = "production"


def test_production_refuses_an_unknown_host_with_a_clear_page(production, client):
    response = client.get("/console/status", base_url="http://raxx-console-prod.herokuapp.com")
    assert response.status_code == 421
    page = response.get_data(as_text=True)
    assert "This console does not answer for raxx-console-prod.herokuapp.com" in page
    assert "CONSOLE_HOST_ENV_MAP" in page
    assert "banner-production" in banner(response)


def test_production_refuses_an_unknown_host_in_json_for_json_clients(production, client):
    response = client.get("/console/status.json", base_url="http://evil.example:8443")
    assert response.status_code == 421
    assert response.get_json() | {"message": None} == {
        "error": "unknown_host",
        "host": "evil.example",
        "message": None,
    }
    api = client.get("/console/flags", base_url="http://evil.example", headers={"Accept": "application/json"})
    assert api.status_code == 421 and api.is_json


def test_production_still_answers_healthz_on_any_host(production, client):
    assert client.get("/healthz", base_url="http://10.1.2.3:8000").status_code == 200


def test_production_answers_its_own_hosts(production, client):
    assert client.get("/login", base_url=PRODUCTION).status_code == 200
    assert client.get("/login", base_url=STAGING).status_code == 200


def test_development_shows_any_host_as_development(client):
    response = client.get("/login", base_url="http://my-laptop.local:5000")
    assert response.status_code == 200
    assert "banner-development" in banner(response)


@pytest.mark.parametrize(
    ("host", "name"),
    [("Console.Raxx.App:443", "console.raxx.app"), ("[::1]:8000", "[::1]"), ("localhost", "localhost")],
)
def test_host_names_lose_their_port(host, name):
    assert host_name(host) == name
