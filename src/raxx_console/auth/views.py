"""Login and logout pages (a failed login never says which half was wrong, and is rate-limited),
TOTP enrolment, and the peer API the other console rotates its service token through."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from raxx_console.audit import service as audit
from raxx_console.auth import service, totp
from raxx_console.auth.access import actor, current_user, require_role, require_service, start_session
from raxx_console.auth.models import Role, ServiceToken, User
from raxx_console.context import console, db_session
from raxx_console.errors import ApiError
from raxx_console.middleware.env_guard import selected_env
from raxx_console.peers import SERVICE_TOKENS_PATH, SERVICE_TOKENS_RETIRE_PATH

bp = Blueprint("auth", __name__)

FAILED_LOGIN_MESSAGE = "That email and password do not match an account."


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page can't be used as an open redirect.

    Browsers read ``/\\evil.example`` as ``//evil.example``, and drop tabs and newlines from
    URLs, so a path with a backslash or any control character is refused too.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
        and not urlparse(target).netloc
    ):
        return target
    return url_for("status.grid")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = _safe_next(request.args.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target)
        return render_template("auth/login.html", next=target, email=None, error=None)

    email = request.form.get("email", "").strip().lower()
    password = request.form.get("password", "")
    ip = request.remote_addr or "unknown"
    ctx, db = console(), db_session()
    attempt = service.attempt_login(db, ctx.clock, email=email, password=password, address=ip)
    if attempt.throttled:
        db.commit()
        minutes = int(service.LOGIN_FAILURE_WINDOW.total_seconds() // 60)
        error = f"Too many failed attempts. Wait {minutes} minutes and try again."
        return render_template("auth/login.html", next=target, email=email, error=error), 429
    user = attempt.user
    if user is None:
        audit.record(
            db,
            ctx.clock,
            action="console.auth.login_failed",
            actor=email[:255] or "anonymous",
            selected_env=selected_env(),
            payload={"email": email[:255], "ip": ip},
        )
        db.commit()
        return render_template("auth/login.html", next=target, email=email, error=FAILED_LOGIN_MESSAGE), 401
    start_session(user)
    user.last_login_at = ctx.clock.now()
    audit.record(
        db,
        ctx.clock,
        action="console.auth.login",
        actor=user.email,
        selected_env=selected_env(),
        payload={"user_id": user.id, "ip": ip},
    )
    db.commit()
    return redirect(target)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out everywhere: every session of the user ends, not only this browser's cookie."""
    user = current_user()
    if user is not None and g.get("auth_method") == "session":
        service.end_all_sessions(
            db_session(), console().clock, user=user, reason="logout", actor=actor(), env=selected_env()
        )
        audit.record(
            db_session(),
            console().clock,
            action="console.auth.logout",
            actor=actor(),
            selected_env=selected_env(),
            payload={},
        )
        db_session().commit()
    session.clear()
    return redirect(url_for("auth.login"))


# --- TOTP enrolment (admins; auth/totp.py) ----------------------------------------------------


def _admin() -> User:
    user = current_user()
    assert user is not None  # require_role ran first
    return user


@bp.route("/account/totp", methods=["GET", "POST"])
@require_role(Role.admin)
def totp_enrolment() -> ResponseReturnValue:
    """The otpauth URI and its QR code, confirmed with a first code; shown until confirmed."""
    ctx, db, user = console(), db_session(), _admin()
    error = None
    if request.method == "POST":
        result = totp.confirm_enrolment(
            db, ctx.clock, user=user, code=request.form.get("code", ""), env=selected_env()
        )
        db.commit()
        if result is totp.TotpResult.OK:
            flash("Two-factor codes are on for your account.", "success")
            return redirect(url_for("auth.totp_enrolment"), code=303)
        error = "That code does not match. Check the time on your phone and try the current code."
    row = totp.enrolment(db, user)
    if row is not None and row.confirmed_at is not None:
        return render_template("auth/totp.html", enrolled_at=row.confirmed_at, uri=None, error=None)
    row = totp.start_enrolment(db, ctx.clock, user=user)
    db.commit()
    page = render_template(
        "auth/totp.html", enrolled_at=None, uri=totp.provisioning_uri(row, user), error=error
    )
    return (page, 400) if error else page


@bp.get("/account/totp/qr.svg")
@require_role(Role.admin)
def totp_qr() -> Response:
    """The pending enrolment's QR code; a confirmed secret is never shown again."""
    user = _admin()
    row = totp.enrolment(db_session(), user)
    if row is None or row.confirmed_at is not None:
        abort(404, description="no enrolment is waiting for confirmation")
    return Response(
        totp.qr_svg(totp.provisioning_uri(row, user)),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


# --- the peer API: the other console rotating the token it calls this one with ------------------


def _caller() -> ServiceToken:
    service_token: ServiceToken = g.service
    return service_token


@bp.post(SERVICE_TOKENS_PATH)
@require_service
def peer_enrol_service_token() -> tuple[Response, int]:
    """Accept the caller's next token (its SHA-256 and prefix only), beside the current one."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("token_hash", "prefix")):
        raise ApiError(400, "invalid_body", "expected a JSON object with token_hash and prefix strings")
    ctx, db = console(), db_session()
    try:
        row = service.enrol_service_token(
            db,
            ctx.clock,
            caller=_caller(),
            token_hash=body["token_hash"],
            prefix=body["prefix"],
            env=selected_env(),
        )
    except service.AuthError as exc:
        raise ApiError(409, "token_not_enrolled", str(exc)) from None
    db.commit()
    return jsonify({"service": row.service, "prefix": row.prefix, "enrolled": True}), 201


@bp.post(SERVICE_TOKENS_RETIRE_PATH)
@require_service
def peer_retire_service_tokens() -> Response:
    """Called with the caller's new token: revoke every other live token of its service."""
    ctx, db = console(), db_session()
    rows = service.retire_other_service_tokens(db, ctx.clock, caller=_caller(), env=selected_env())
    db.commit()
    return jsonify({"service": _caller().service, "revoked": [row.prefix for row in rows]})
