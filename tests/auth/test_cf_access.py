"""Cloudflare Access identity, checked against a JWKS served over real HTTP."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from raxx_console.auth.cf_access import HEADER
from raxx_console.sandbox.server import BackgroundServer
from tests.support.accounts import csrf_token, make_user

TEAM = "raxx-test.cloudflareaccess.com"
AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
KID = "access-key-1"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key():
    return _key()


class Jwks:
    """A Cloudflare-like ``/cdn-cgi/access/certs`` that counts its fetches."""

    def __init__(self, key) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.body = json.dumps({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}).encode()
        self.fetches = 0

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] != "/cdn-cgi/access/certs":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        self.fetches += 1
        start_response("200 OK", [("Content-Type", "application/json")])
        return [self.body]


@pytest.fixture(scope="module")
def jwks_server(signing_key):
    jwks = Jwks(signing_key)
    with BackgroundServer(jwks, name="jwks") as server:
        yield jwks, server.url


@pytest.fixture
def jwks(jwks_server, settings_overrides):
    jwks, url = jwks_server
    jwks.fetches = 0
    settings_overrides.update(
        CF_ACCESS_TEAM_DOMAIN=TEAM, CF_ACCESS_AUD=AUD, CF_ACCESS_CERTS_URL=f"{url}/cdn-cgi/access/certs"
    )
    return jwks


def access_jwt(key, *, kid=KID, **claims):
    now = int(time.time())
    body = {
        "aud": [AUD],
        "iss": f"https://{TEAM}",
        "email": "op@raxx.app",
        "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "type": "app",
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def _whoami(client, token):
    return client.get("/console/flags.json", headers={HEADER: token})


def test_a_valid_access_jwt_logs_the_user_in(jwks, signing_key, client, console):
    make_user(console, "op@raxx.app", "operator")
    response = _whoami(client, access_jwt(signing_key, email="Op@Raxx.app"))
    assert response.status_code == 200
    page = client.get("/console/flags", headers={HEADER: access_jwt(signing_key)}).get_data(as_text=True)
    assert "op@raxx.app" in page
    assert 'action="/console/flags/' in page  # an operator's toggles


def test_the_signing_keys_are_fetched_once_and_cached(jwks, signing_key, client, console):
    make_user(console, "op@raxx.app", "operator")
    for _ in range(3):
        assert _whoami(client, access_jwt(signing_key)).status_code == 200
    assert jwks.fetches == 1


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong_audience", "InvalidAudienceError"),
        ("wrong_issuer", "InvalidIssuerError"),
        ("expired", "ExpiredSignatureError"),
        ("not_yet_valid", "ImmatureSignatureError"),
        ("bad_signature", "InvalidSignatureError"),
        ("unknown_kid", "PyJWKClientError"),
        ("garbage", "DecodeError"),
    ],
)
def test_an_invalid_access_jwt_logs_no_one_in(jwks, signing_key, client, console, caplog, case, reason):
    make_user(console, "op@raxx.app", "operator")
    now = int(time.time())
    token = {
        "wrong_audience": lambda: access_jwt(signing_key, aud=["someone-elses-app"]),
        "wrong_issuer": lambda: access_jwt(signing_key, iss="https://evil.cloudflareaccess.com"),
        "expired": lambda: access_jwt(signing_key, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not_yet_valid": lambda: access_jwt(signing_key, nbf=now + 3600, exp=now + 7200),
        "bad_signature": lambda: access_jwt(_key()),
        "unknown_kid": lambda: access_jwt(signing_key, kid="retired-key"),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    with caplog.at_level(logging.WARNING, logger="raxx_console.auth"):
        response = _whoami(client, token)
    assert response.status_code == 401
    [line] = [r for r in caplog.records if r.name == "raxx_console.auth"]
    assert line.levelno == logging.WARNING
    assert f"cf_access_rejected reason={reason}" in line.getMessage()
    assert token not in caplog.text


def test_an_unknown_email_is_not_logged_in_and_is_logged(jwks, signing_key, client, console, caplog):
    make_user(console, "op@raxx.app", "operator")
    token = access_jwt(signing_key, email="stranger@raxx.app")
    with caplog.at_level(logging.WARNING, logger="raxx_console.auth"):
        assert _whoami(client, token).status_code == 401
    [line] = [r for r in caplog.records if r.name == "raxx_console.auth"]
    assert line.levelno == logging.WARNING
    assert "cf_access_unknown_user email=stranger@raxx.app" in line.getMessage()
    assert token not in caplog.text


def test_a_disabled_user_is_not_logged_in(jwks, signing_key, client, console):
    from raxx_console.auth.service import find_user

    make_user(console, "op@raxx.app", "operator")
    with console.db.session() as session:
        find_user(session, "op@raxx.app").disabled = True
    assert _whoami(client, access_jwt(signing_key)).status_code == 401


def test_access_identities_still_need_csrf_for_forms(jwks, signing_key, client, console):
    """The browser sends Access's cookie on its own, so a cross-site form would carry it too."""
    make_user(console, "op@raxx.app", "operator")
    headers = {HEADER: access_jwt(signing_key)}
    refused = client.post("/console/flags/FLAG_CONSOLE_DEPLOY_CHIP", data={"value": "on"}, headers=headers)
    assert refused.status_code == 400
    token = csrf_token(client)
    accepted = client.post(
        "/console/flags/FLAG_CONSOLE_DEPLOY_CHIP", data={"value": "on", "csrf_token": token}, headers=headers
    )
    assert accepted.status_code == 303


def test_without_team_and_audience_the_header_is_ignored(signing_key, client, console):
    make_user(console, "op@raxx.app", "operator")
    assert _whoami(client, access_jwt(signing_key)).status_code == 401
