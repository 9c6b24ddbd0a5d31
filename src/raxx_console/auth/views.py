"""Login and logout pages. A failed login never says which half was wrong, and is rate-limited."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from raxx_console.audit import service as audit
from raxx_console.auth import service
from raxx_console.auth.access import actor, current_user, start_session
from raxx_console.context import console, db_session
from raxx_console.middleware.env_guard import selected_env

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
