"""Proxy trust is configuration: forwarded headers count only from the proxies configured.

The env is decided by the host (cockpit runbook: "the host you visit determines the env"), so
``X-Forwarded-Host`` from anyone must not change it; only a deployment that says a proxy sets
it (``PROXY_X_HOST_HOPS``) trusts it. Every combination of ``Host`` and ``X-Forwarded-Host``
is tried on a production deployment, with and without that trust.
"""

from __future__ import annotations

import itertools

import pytest

from tests.support.accounts import csrf_token
from tests.support.rows import audit_rows

HOSTS = {"console.raxx.app": "production", "console-staging.raxx.app": "staging", "evil.example": None}
FORWARDED = [None, *HOSTS]
BANNER = {"production": "PRODUCTION", "staging": "STAGING"}


@pytest.fixture
def production(settings_overrides):
    settings_overrides["CONSOLE_ENV"] = "production"
    return settings_overrides


def _banner_env(page: str) -> str:
    start = page.index('data-env="') + len('data-env="')
    return page[start : page.index('"', start)]


@pytest.mark.parametrize("trust_forwarded_host", [False, True])
def test_every_combination_of_host_and_forwarded_host(production, request, trust_forwarded_host):
    production["PROXY_X_HOST_HOPS"] = 1 if trust_forwarded_host else 0
    client = request.getfixturevalue("client")
    console = request.getfixturevalue("console")
    for number, (host, forwarded) in enumerate(itertools.product(HOSTS, FORWARDED)):
        seen_host = forwarded if (trust_forwarded_host and forwarded) else host
        expected_env = HOSTS[seen_host]
        headers = {"X-Forwarded-Host": forwarded} if forwarded else {}
        base_url = f"http://{host}"
        case = f"Host={host} X-Forwarded-Host={forwarded}"

        page = client.get("/login", base_url=base_url, headers=headers)
        if expected_env is None:
            assert page.status_code == 421, case
            assert f"does not answer for {seen_host}" in page.get_data(as_text=True), case
            continue
        assert page.status_code == 200, case
        html = page.get_data(as_text=True)
        assert _banner_env(html) == expected_env, case
        assert f">{BANNER[expected_env]}</div>" in html, case

        email = f"probe{number}@raxx.app"
        token = _csrf(html)
        failed = client.post(
            "/login",
            base_url=base_url,
            headers=headers,
            data={"email": email, "password": "wrong-password-1", "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"10.9.0.{number}"},
        )
        assert failed.status_code == 401, case
        rows = [r for r in audit_rows(console, "console.auth.login_failed") if r.payload["email"] == email]
        assert [row.selected_env for row in rows] == [expected_env], case


def _csrf(html: str) -> str:
    start = html.index('name="csrf-token" content="') + len('name="csrf-token" content="')
    return html[start : html.index('"', start)]


@pytest.mark.parametrize(
    ("hops", "forwarded_for", "seen"),
    [
        (0, "203.0.113.9, 198.51.100.1", "10.0.0.2"),  # trusted by no one: the socket's peer
        (1, "203.0.113.9, 198.51.100.1", "198.51.100.1"),  # one proxy: the address it saw
        # Cloudflare → Heroku: the client, then Cloudflare's edge appended by Heroku's router.
        (2, "6.6.6.6, 203.0.113.9, 198.51.100.1", "203.0.113.9"),
        (2, "198.51.100.1", "10.0.0.2"),  # fewer entries than hops: not believed
    ],
)
def test_the_client_address_is_read_through_the_trusted_hops_only(
    settings_overrides, request, hops, forwarded_for, seen
):
    settings_overrides["PROXY_X_FOR_HOPS"] = hops
    client = request.getfixturevalue("client")
    console = request.getfixturevalue("console")
    client.post(
        "/login",
        data={"email": "who@raxx.app", "password": "wrong-password-1", "csrf_token": csrf_token(client)},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert [row.payload["ip"] for row in audit_rows(console, "console.auth.login_failed")] == [seen]


def test_the_scheme_comes_from_x_forwarded_proto_only_when_trusted(settings_overrides, request):
    settings_overrides["PROXY_X_PROTO_HOPS"] = 0
    app = request.getfixturevalue("app")
    with app.test_request_context("/", headers={"X-Forwarded-Proto": "https"}):
        from flask import request as current

        assert current.scheme == "http"
