"""Password login: one generic failure message, audited failures, a shared rate limit, safe redirects."""

from __future__ import annotations

import pytest

from raxx_console import create_app
from raxx_console.auth.service import LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW
from raxx_console.auth.views import FAILED_LOGIN_MESSAGE
from tests.support.accounts import PASSWORD, csrf_token, login, make_user
from tests.support.rows import audit_rows


def _post_login(client, email, password, **kwargs):
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs)


def test_wrong_password_is_refused_with_the_generic_message_and_audited(client, console):
    make_user(console, "op@raxx.app", "operator")
    response = _post_login(client, "op@raxx.app", "not the password")
    assert response.status_code == 401
    assert FAILED_LOGIN_MESSAGE in response.get_data(as_text=True)
    [row] = audit_rows(console, "console.auth.login_failed")
    assert row.payload == {"email": "op@raxx.app", "ip": "127.0.0.1"}
    assert "not the password" not in str(row.payload)
    assert client.get("/console/flags").status_code == 302  # still not logged in


def test_an_unknown_email_gets_the_very_same_answer(client, console):
    make_user(console, "op@raxx.app", "operator")
    wrong_password = _post_login(client, "op@raxx.app", "nope-nope-nope")
    unknown_email = _post_login(client, "nobody@raxx.app", "nope-nope-nope")
    assert unknown_email.status_code == wrong_password.status_code == 401
    assert FAILED_LOGIN_MESSAGE in unknown_email.get_data(as_text=True)
    assert "nobody@raxx.app" in [row.actor for row in audit_rows(console, "console.auth.login_failed")]


def test_a_disabled_user_cannot_log_in(client, console):
    from raxx_console.auth.service import find_user

    make_user(console, "gone@raxx.app", "operator")
    with console.db.session() as session:
        find_user(session, "gone@raxx.app").disabled = True
    assert login(client, "gone@raxx.app").status_code == 401


def test_five_failures_lock_the_email_until_the_window_has_passed(client, console, clock):
    make_user(console, "op@raxx.app", "operator")
    for _ in range(LOGIN_FAILURE_LIMIT):
        assert _post_login(client, "op@raxx.app", "wrong-guess-123").status_code == 401
    refused = login(client, "op@raxx.app")  # even the right password
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.get_data(as_text=True)
    assert len(audit_rows(console, "console.auth.login_failed")) == LOGIN_FAILURE_LIMIT
    assert not audit_rows(console, "console.auth.login")

    clock.advance(LOGIN_FAILURE_WINDOW.total_seconds() - 1)
    assert login(client, "op@raxx.app").status_code == 429
    clock.advance(1)
    assert login(client, "op@raxx.app").status_code == 302


def test_failures_from_one_address_lock_it_whatever_the_email(client, console):
    make_user(console, "op@raxx.app", "operator")
    for n in range(LOGIN_FAILURE_LIMIT):
        _post_login(client, f"guess{n}@raxx.app", "wrong-guess-123")
    assert login(client, "op@raxx.app").status_code == 429
    other_address = _post_login(client, "op@raxx.app", PASSWORD, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    # the email is not locked (its own failures: none), and 10.1.2.3 has none either
    assert other_address.status_code == 302


def test_login_follows_next_back_to_the_page_asked_for(client, console):
    make_user(console, "op@raxx.app", "operator")
    bounce = client.get("/console/flags")
    assert bounce.status_code == 302
    assert bounce.headers["Location"] == "/login?next=/console/flags"
    response = client.post(
        "/login?next=/console/flags",
        data={"email": "op@raxx.app", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/flags"
    # once logged in, the login page itself sends you on
    assert client.get("/login?next=/console/flags").headers["Location"] == "/console/flags"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client, console, target):
    make_user(console, "op@raxx.app", "operator")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "op@raxx.app", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil" not in location and "\\" not in location


def test_logout_ends_the_session_and_is_audited(operator, console):
    response = operator.post("/logout", data={"csrf_token": csrf_token(operator, "/console/flags")})
    assert response.status_code == 302
    assert operator.get("/console/flags").status_code == 302
    assert [row.actor for row in audit_rows(console, "console.auth.logout")] == ["operator@raxx.app"]


@pytest.mark.parametrize(("env", "secure"), [("development", False), ("staging", True), ("production", True)])
def test_the_session_cookie_is_secure_outside_development(tmp_path, env, secure):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "test-secret-key-0123456789",
            "CONSOLE_ENV": env,
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_a_control_character_in_next_is_refused_before_login(client, console):
    make_user(console, "op@raxx.app", "operator")
    response = client.post(
        "/login",
        query_string={"next": "/\t/evil.example/"},
        data={"email": "op@raxx.app", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 422
    assert response.get_json()["field"] == "query parameter 'next'"
    assert not audit_rows(console, "console.auth.login")


def test_the_login_form_keeps_its_csrf_check_even_for_api_style_clients(client, console):
    make_user(console, "op@raxx.app", "operator")
    response = client.post(
        "/login", data={"email": "op@raxx.app", "password": PASSWORD}, headers={"Accept": "*/*"}
    )
    assert response.status_code == 400
    assert not audit_rows(console, "console.auth.login")
