"""The login limit holds under concurrency and counts the client address through trusted proxies only."""

from __future__ import annotations

import re
import threading
from collections import Counter

import httpx
import pytest

from raxx_console.auth.service import LOGIN_FAILURE_LIMIT
from tests.support.accounts import PASSWORD, csrf_token, make_user
from tests.support.rows import audit_rows

PARALLEL = 30


def _form(base_url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base_url, timeout=60)
    page = client.get("/login").text
    return client, re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_parallel_wrong_passwords_for_one_email_stop_at_the_limit(live_server, console):
    make_user(console, "target@raxx.app", "operator")
    forms = [_form(live_server) for _ in range(PARALLEL)]
    start, statuses = threading.Barrier(PARALLEL), Counter()

    def attempt(client: httpx.Client, token: str) -> None:
        start.wait()
        response = client.post(
            "/login", data={"email": "target@raxx.app", "password": "wrong-guess-123", "csrf_token": token}
        )
        statuses[response.status_code] += 1

    threads = [threading.Thread(target=attempt, args=form) for form in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client, _ in forms:
        client.close()
    assert statuses == {401: LOGIN_FAILURE_LIMIT, 429: PARALLEL - LOGIN_FAILURE_LIMIT}
    assert len(audit_rows(console, "console.auth.login_failed")) == LOGIN_FAILURE_LIMIT


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(client, console):
    make_user(console, "op@raxx.app", "operator")
    for n in range(LOGIN_FAILURE_LIMIT):
        client.post(
            "/login",
            data={"email": f"guess{n}@raxx.app", "password": "wrong-1", "csrf_token": csrf_token(client)},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
    response = client.post(
        "/login",
        data={"email": "op@raxx.app", "password": "anything-1", "csrf_token": csrf_token(client)},
        headers={"X-Forwarded-For": "203.0.113.77"},
    )
    assert response.status_code == 429


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_behind_trusted_proxies_each_client_address_has_its_own_limit(settings_overrides, request):
    settings_overrides["PROXY_X_FOR_HOPS"] = 2  # Cloudflare → Heroku
    client, console = request.getfixturevalue("client"), request.getfixturevalue("console")
    make_user(console, "op@raxx.app", "operator")
    for n in range(LOGIN_FAILURE_LIMIT):
        client.post(
            "/login",
            data={"email": f"guess{n}@raxx.app", "password": "wrong-1", "csrf_token": csrf_token(client)},
            headers={"X-Forwarded-For": "203.0.113.5, 172.70.1.1"},
        )
    locked = client.post(
        "/login",
        data={"email": "op@raxx.app", "password": "x", "csrf_token": csrf_token(client)},
        headers={"X-Forwarded-For": "203.0.113.5, 172.70.2.2"},
    )
    assert locked.status_code == 429  # the same client through another Cloudflare edge
    other = client.post(
        "/login",
        data={"email": "op@raxx.app", "password": PASSWORD, "csrf_token": csrf_token(client)},
        headers={"X-Forwarded-For": "198.51.100.9, 172.70.1.1"},
    )
    assert other.status_code == 302
