"""TOTP for admins (pyotp): enrol, confirm with a first code, then ``verify`` before a sensitive act.

A code is good for its 30 s time step and one step either side (clock drift). The step of the
last accepted code is stored per admin, so a code that was used is refused for the rest of its
window (``replay``). Five failed codes in 15 minutes lock verification for that admin for 15
minutes. Failures are audit rows (``console.auth.totp_failed``, never the code), counted with
the enrolment row locked, so every web process shares the limit.

``verify`` is what a promote flow calls; whatever it answers, the caller commits the session,
because a failure must be remembered.
"""

from __future__ import annotations

import hmac
import io
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp
import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.audit.models import AuditLog
from raxx_console.auth.models import TotpEnrolment, User
from raxx_console.clock import Clock

ISSUER = "Raxx Console"
#: Time steps accepted either side of the current one.
VALID_WINDOW = 1
FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
FAILED_ACTION = "console.auth.totp_failed"


class TotpResult(StrEnum):
    """What a code came to; everything but ``ok`` is a refusal whose value is the audit reason."""

    OK = "ok"
    NOT_ENROLLED = "not_enrolled"
    BAD_CODE = "bad_code"
    REPLAY = "replay"
    LOCKED = "locked"


def enrolment(session: Session, user: User, *, for_update: bool = False) -> TotpEnrolment | None:
    return session.get(TotpEnrolment, user.id, with_for_update=for_update)


def is_enrolled(session: Session, user: User) -> bool:
    row = enrolment(session, user)
    return row is not None and row.confirmed_at is not None


def start_enrolment(session: Session, clock: Clock, *, user: User) -> TotpEnrolment:
    """The admin's pending enrolment (a new secret, or the one already shown and not yet confirmed)."""
    row = enrolment(session, user)
    if row is not None:
        return row
    row = TotpEnrolment(user_id=user.id, secret=pyotp.random_base32(), created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def provisioning_uri(row: TotpEnrolment, user: User) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from the QR code, or typed in)."""
    return pyotp.TOTP(row.secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> bytes:
    """The URI as a QR code: a standalone SVG document (its own URL, so no inline data) by segno."""
    document = io.BytesIO()
    segno.make(uri, error="m").save(document, kind="svg", scale=5, border=2)
    return document.getvalue()


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (current ±1) whose code is ``code``, or None; compared in constant time."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_enrolment(session: Session, clock: Clock, *, user: User, code: str, env: str) -> TotpResult:
    """Turn a pending enrolment on with its first code (which is then used up)."""
    row = enrolment(session, user, for_update=True)
    if row is None:
        return TotpResult.NOT_ENROLLED
    if row.confirmed_at is not None:
        return TotpResult.OK
    step = matching_step(row.secret, code, clock.now())
    if step is None:
        return TotpResult.BAD_CODE
    row.confirmed_at, row.last_used_step = clock.now(), step
    audit.record(
        session,
        clock,
        action="console.auth.totp_enrolled",
        actor=user.email,
        selected_env=env,
        payload={"user_id": user.id},
    )
    return TotpResult.OK


def verify(session: Session, clock: Clock, *, user: User, code: str, env: str) -> TotpResult:
    """Check an enrolled admin's code for a sensitive act; the caller commits either way."""
    row = enrolment(session, user, for_update=True)
    if row is None or row.confirmed_at is None:
        return TotpResult.NOT_ENROLLED
    now = clock.now()
    if row.locked_until is not None and now < row.locked_until:
        return TotpResult.LOCKED
    step = matching_step(row.secret, code, now)
    if step is not None and (row.last_used_step is None or step > row.last_used_step):
        row.last_used_step = step
        return TotpResult.OK
    result = TotpResult.REPLAY if step is not None else TotpResult.BAD_CODE
    _record_failure(session, clock, row=row, user=user, reason=result, env=env)
    return result


def locked_until(session: Session, clock: Clock, user: User) -> datetime | None:
    """When the admin's lockout ends, if one is in force now."""
    row = enrolment(session, user)
    if row is None or row.locked_until is None or clock.now() >= row.locked_until:
        return None
    return row.locked_until


def _record_failure(
    session: Session, clock: Clock, *, row: TotpEnrolment, user: User, reason: TotpResult, env: str
) -> None:
    now = clock.now()
    audit.record(
        session,
        clock,
        action=FAILED_ACTION,
        actor=user.email,
        selected_env=env,
        payload={"user_id": user.id, "reason": reason.value},
    )
    session.flush()
    failures = session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.action == FAILED_ACTION,
            AuditLog.created_at > now - FAILURE_WINDOW,
            AuditLog.payload["user_id"].as_integer() == user.id,
        )
    )
    if (failures or 0) >= FAILURE_LIMIT:
        row.locked_until = now + LOCK_DURATION
        audit.record(
            session,
            clock,
            action="console.auth.totp_locked",
            actor=user.email,
            selected_env=env,
            payload={"user_id": user.id, "failures": failures, "until": row.locked_until.isoformat()},
        )


def reset(session: Session, clock: Clock, *, user: User, actor: str, env: str) -> bool:
    """Forget an admin's enrolment (a lost phone): they enrol again. False if there was none."""
    row = enrolment(session, user)
    if row is None:
        return False
    session.delete(row)
    audit.record(
        session,
        clock,
        action="console.auth.totp_reset",
        actor=actor,
        selected_env=env,
        payload={"user_id": user.id},
    )
    return True
