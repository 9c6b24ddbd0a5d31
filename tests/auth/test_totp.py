"""Admin TOTP: enrolment page, ±1 step, replay, lockout — what a promote flow relies on."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from raxx_console.auth import totp
from raxx_console.auth.models import TotpEnrolment, User
from raxx_console.auth.totp import TotpResult
from tests.support.accounts import csrf_token, login, make_user
from tests.support.rows import audit_rows, detached_rows

ADMIN = "root@raxx.app"


@pytest.fixture
def admin(console, client):
    make_user(console, ADMIN, "admin")
    assert login(client, ADMIN).status_code == 302
    return client


def enrol(console):
    """An admin with a confirmed enrolment; returns their pyotp generator."""
    with console.db.session() as session:
        user = session.scalar(select(User).where(User.email == ADMIN))
        row = totp.start_enrolment(session, console.clock, user=user)
        generator = pyotp.TOTP(row.secret)
        code = generator.at(console.clock.now())
        assert (
            totp.confirm_enrolment(session, console.clock, user=user, code=code, env="staging")
            is TotpResult.OK
        )
    console.clock.advance(30)  # past the confirming code's step
    return generator


def verify(console, code):
    with console.db.session() as session:
        user = session.scalar(select(User).where(User.email == ADMIN))
        return totp.verify(session, console.clock, user=user, code=code, env="staging")


def test_the_enrolment_page_shows_a_uri_and_qr_and_a_first_code_confirms_it(admin, console):
    page = admin.get("/account/totp").get_data(as_text=True)
    uri = re.search(r'data-field="otpauth-uri">([^<]+)<', page).group(1).replace("&amp;", "&")
    assert uri.startswith("otpauth://totp/Raxx%20Console:root%40raxx.app?secret=")
    qr = admin.get("/account/totp/qr.svg")
    assert (
        qr.status_code == 200
        and qr.mimetype == "image/svg+xml"
        and b'<svg xmlns="http://www.w3.org/2000/svg"' in qr.data
    )
    secret = pyotp.parse_uri(uri).secret
    wrong = admin.post(
        "/account/totp", data={"code": "000000", "csrf_token": csrf_token(admin, "/account/totp")}
    )
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    code = pyotp.TOTP(secret).at(console.clock.now())
    ok = admin.post("/account/totp", data={"code": code, "csrf_token": csrf_token(admin, "/account/totp")})
    assert ok.status_code == 303
    [row] = detached_rows(console, select(TotpEnrolment))
    assert row.confirmed_at is not None and row.secret == secret
    assert len(audit_rows(console, "console.auth.totp_enrolled")) == 1
    assert 'data-totp="enrolled"' in admin.get("/account/totp").get_data(as_text=True)
    assert admin.get("/account/totp/qr.svg").status_code == 404, "a confirmed secret is never shown again"
    assert verify(console, code) is TotpResult.REPLAY, "the confirming code is used up"


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_enrol(console, client, role):
    make_user(console, f"{role}@raxx.app", role)
    login(client, f"{role}@raxx.app")
    assert client.get("/account/totp").status_code == 403
    assert detached_rows(console, select(TotpEnrolment)) == []


def test_a_code_is_good_one_step_either_side(console):
    make_user(console, ADMIN, "admin")
    generator = enrol(console)
    console.clock.advance(30)
    now = console.clock.now().timestamp()
    assert verify(console, generator.at(now - 30)) is TotpResult.OK
    console.clock.advance(30)
    now = console.clock.now().timestamp()
    assert verify(console, generator.at(now + 30)) is TotpResult.OK
    assert verify(console, generator.at(now + 90)) is TotpResult.BAD_CODE


def test_a_used_code_is_refused_for_the_rest_of_its_window(console):
    make_user(console, ADMIN, "admin")
    generator = enrol(console)
    code = generator.at(console.clock.now())
    assert verify(console, code) is TotpResult.OK
    console.clock.advance(20)
    assert verify(console, code) is TotpResult.REPLAY
    [failed] = audit_rows(console, totp.FAILED_ACTION)
    assert failed.payload["reason"] == "replay" and code not in str(failed.payload)
    console.clock.advance(30)
    assert verify(console, generator.at(console.clock.now())) is TotpResult.OK


def test_five_failures_in_15_minutes_lock_for_15_minutes(console):
    make_user(console, ADMIN, "admin")
    generator = enrol(console)
    for _ in range(4):
        assert verify(console, "123456") is TotpResult.BAD_CODE
        console.clock.advance(60)
    console.clock.advance(30)
    assert verify(console, "654321") is TotpResult.BAD_CODE
    assert verify(console, generator.at(console.clock.now())) is TotpResult.LOCKED, "even a good code"
    [locked] = audit_rows(console, "console.auth.totp_locked")
    assert locked.payload["failures"] == 5
    console.clock.advance(15 * 60 - 1)
    assert verify(console, generator.at(console.clock.now())) is TotpResult.LOCKED
    console.clock.advance(1)
    assert verify(console, generator.at(console.clock.now())) is TotpResult.OK
    assert len(audit_rows(console, totp.FAILED_ACTION)) == 5, "refusals while locked are not failures"


def test_failures_spread_over_more_than_15_minutes_do_not_lock(console):
    make_user(console, ADMIN, "admin")
    generator = enrol(console)
    for _ in range(6):
        assert verify(console, "000000") is TotpResult.BAD_CODE
        console.clock.advance(4 * 60)
    assert verify(console, generator.at(console.clock.now())) is TotpResult.OK


def test_an_admin_without_totp_is_not_enrolled(console):
    make_user(console, ADMIN, "admin")
    assert verify(console, "123456") is TotpResult.NOT_ENROLLED
