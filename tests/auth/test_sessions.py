"""Sessions end: logout, a role change or the timeouts end them on the server, not just in a cookie."""

from __future__ import annotations

import pytest

from raxx_console.auth import service
from raxx_console.auth.service import find_user
from tests.support.accounts import csrf_token, login, make_user
from tests.support.rows import audit_rows

HOUR = 3600


def _copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie (saved before a logout, say)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _signed_in(client) -> bool:
    return client.get("/console/status.json").status_code == 200


def test_a_cookie_saved_before_logout_is_dead_after_it(app, operator, console):
    saved = _copy_of(app, operator)
    assert _signed_in(saved)
    operator.post("/logout", data={"csrf_token": csrf_token(operator, "/console/flags")})
    assert not _signed_in(saved)
    assert saved.get("/console/status.json").status_code == 401
    rows = audit_rows(console, "console.auth.sessions_ended")
    assert [(r.actor, r.payload["reason"]) for r in rows] == [("operator@raxx.app", "logout")]


def test_logout_ends_the_users_other_sessions_too(app, console):
    make_user(console, "op@raxx.app", "operator")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "op@raxx.app")
    login(phone, "op@raxx.app")
    assert _signed_in(laptop) and _signed_in(phone)
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/console/flags")})
    assert not _signed_in(phone)
    login(phone, "op@raxx.app")  # a new login starts a new session
    assert _signed_in(phone)


def test_a_role_change_ends_the_users_sessions(app, operator, console, clock):
    with console.db.session() as session:
        service.change_role(
            session,
            clock,
            user=find_user(session, "operator@raxx.app"),
            role="viewer",
            actor="admin",
            env="dev",
        )
    assert not _signed_in(operator)
    assert [r.payload["after"] for r in audit_rows(console, "console.user.role_changed")] == ["viewer"]
    assert [r.payload["reason"] for r in audit_rows(console, "console.auth.sessions_ended")] == [
        "role_changed"
    ]


def test_end_all_sessions_is_the_one_door_for_other_code(operator, console, clock):
    with console.db.session() as session:
        user = find_user(session, "operator@raxx.app")
        before = user.session_generation
        service.end_all_sessions(session, clock, user=user, reason="disabled", actor="admin", env="dev")
        assert user.session_generation == before + 1
    assert not _signed_in(operator)


def test_an_idle_session_ends_after_the_idle_timeout(operator, clock):
    clock.advance(11 * HOUR)
    assert _signed_in(operator)  # activity moves the idle clock
    clock.advance(11 * HOUR)
    assert _signed_in(operator)
    clock.advance(12 * HOUR)
    assert not _signed_in(operator)


def test_an_active_session_still_ends_after_the_absolute_limit(operator, clock):
    for _ in range(15):  # 15 times 11 h = 6 d 21 h: active all along
        clock.advance(11 * HOUR)
        assert _signed_in(operator)
    clock.advance(3 * HOUR)  # 7 d
    assert not _signed_in(operator)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_timeouts_are_configurable(settings_overrides, request, clock):
    settings_overrides["SESSION_IDLE_TIMEOUT"] = "30m"
    settings_overrides["SESSION_MAX_AGE"] = "2h"
    client = request.getfixturevalue("operator")
    clock.advance(29 * 60)
    assert _signed_in(client)
    clock.advance(30 * 60)
    assert not _signed_in(client)
    assert request.getfixturevalue("app").permanent_session_lifetime.total_seconds() == 2 * HOUR


def test_a_disabled_user_is_signed_out_on_the_next_request(operator, console):
    with console.db.session() as session:
        find_user(session, "operator@raxx.app").disabled = True
    assert not _signed_in(operator)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda s, c: service.set_password(
                s, c, email="operator@raxx.app", password="x" * 20, actor="admin", env="dev"
            ),
            "password_changed",
        ),
        (
            lambda s, c: service.disable_user(s, c, email="operator@raxx.app", actor="admin", env="dev"),
            "disabled",
        ),
    ],
)
def test_a_password_reset_or_disabling_ends_the_users_sessions_by_generation(
    app, operator, console, clock, change, reason
):
    with console.db.session() as session:
        before = find_user(session, "operator@raxx.app").session_generation
        change(session, clock)
    with console.db.session() as session:
        user = find_user(session, "operator@raxx.app")
        assert user.session_generation == before + 1
        user.disabled = False  # even re-enabled at once, the old cookie stays dead
    assert not _signed_in(operator)
    assert [r.payload["reason"] for r in audit_rows(console, "console.auth.sessions_ended")] == [reason]
