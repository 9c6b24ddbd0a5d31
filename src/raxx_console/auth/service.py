"""Users, passwords and API tokens. Every mutation here writes its audit row in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from raxx_console.audit import service as audit
from raxx_console.audit.models import AuditLog
from raxx_console.auth.models import ApiToken, Role, ServiceToken, User
from raxx_console.clock import Clock

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "rxc_"
SERVICE_TOKEN_PREFIX = "rxs_"
#: How much of a token is kept in clear: enough to tell tokens apart, far too little to use one.
PREFIX_LENGTH = 10
#: Checked against when the email is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


class AuthError(ValueError):
    """A request the caller can fix; the message says how."""


def hash_token(token: str) -> str:
    """API tokens are 256-bit random strings, so a plain SHA-256 is a sound way to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 255 or " " in email:
        raise AuthError("expected an email address")
    return email


def create_user(
    session: Session,
    clock: Clock,
    *,
    email: str,
    role: str,
    password: str | None,
    actor: str,
    env: str,
) -> User:
    """A new user; ``password`` None means Cloudflare Access (or a later reset) is the only way in."""
    email = normalize_email(email)
    if role not in Role.__members__:
        raise AuthError("role must be viewer, operator or admin")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise AuthError(f"a user with email {email} already exists")
    user = User(
        email=email,
        role_name=role,
        password_hash=generate_password_hash(password, method=PASSWORD_METHOD) if password else None,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        clock,
        action="console.user.created",
        actor=actor,
        selected_env=env,
        payload={"user_id": user.id, "email": email, "role": role},
    )
    return user


def find_user(session: Session, email: str) -> User | None:
    """The user with this email (any case), enabled or not."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user if the email and password match and the user is enabled; None otherwise."""
    user = find_user(session, email)
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or user.disabled:
        return None
    return user


def recent_login_failures(session: Session, clock: Clock, *, email: str, ip: str) -> int:
    """Failed logins for this email or from this address inside the window (all processes).

    Counted from the audit log, so every web process shares the limit; a failure exactly one
    window old has left it.
    """
    since = clock.now() - LOGIN_FAILURE_WINDOW
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "console.auth.login_failed", AuditLog.created_at > since)
            .where(
                or_(
                    AuditLog.payload["email"].as_string() == email.strip().lower(),
                    AuditLog.payload["ip"].as_string() == ip,
                )
            )
        )
        or 0
    )


def create_token(session: Session, clock: Clock, *, user: User, name: str, actor: str, env: str) -> str:
    """A new API token for ``user``; the plain value is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name[:100],
        token_hash=hash_token(token),
        prefix=token[:PREFIX_LENGTH],
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        action="console.token.created",
        actor=actor,
        selected_env=env,
        payload={"token_id": row.id, "user_id": user.id, "prefix": row.prefix, "name": row.name},
    )
    return token


def create_service_token(session: Session, clock: Clock, *, service: str, actor: str, env: str) -> str:
    """A token for another console (``peers.py``) to call this one's peer API, and nothing else.

    ``service`` names the caller (``console-staging``); the plain value is returned once.
    """
    service = service.strip()
    if not service or len(service) > 100:
        raise AuthError("--service must name the calling console in 1 to 100 characters")
    token = SERVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ServiceToken(
        service=service, token_hash=hash_token(token), prefix=token[:PREFIX_LENGTH], created_at=clock.now()
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        action="console.token.created",
        actor=actor,
        selected_env=env,
        payload={"service_token_id": row.id, "service": service, "prefix": row.prefix},
    )
    return token


def revoke_token(
    session: Session, clock: Clock, *, token: str, actor: str, env: str
) -> ApiToken | ServiceToken:
    """Revoke a live token (a user's or a service's) given whole or by its prefix (the first 10
    characters, kept in the audit log)."""
    prefix = token.strip()[:PREFIX_LENGTH]
    rows: list[ApiToken] | list[ServiceToken]
    if prefix.startswith(SERVICE_TOKEN_PREFIX):
        rows = list(
            session.scalars(
                select(ServiceToken).where(ServiceToken.prefix == prefix, ServiceToken.revoked_at.is_(None))
            )
        )
    else:
        rows = list(
            session.scalars(select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None)))
        )
    if len(rows) != 1:
        raise AuthError(
            f"no live token with prefix {prefix}" if not rows else f"{len(rows)} live tokens share {prefix}"
        )
    row = rows[0]
    row.revoked_at = clock.now()
    owner = {"service": row.service} if isinstance(row, ServiceToken) else {"user_id": row.user_id}
    audit.record(
        session,
        clock,
        action="console.token.revoked",
        actor=actor,
        selected_env=env,
        payload={"token_id": row.id, "prefix": row.prefix, **owner},
    )
    return row


def list_users(session: Session) -> list[tuple[User, int]]:
    """Every user, by email, with how many live API tokens each holds."""
    live = (
        select(ApiToken.user_id, func.count().label("live"))
        .where(ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.user_id)
        .subquery()
    )
    rows = session.execute(
        select(User, func.coalesce(live.c.live, 0))
        .outerjoin(live, live.c.user_id == User.id)
        .order_by(User.email)
    ).all()
    return [(user, count) for user, count in rows]


def _existing_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise AuthError(f"no user with email {email.strip().lower()}")
    return user


def set_password(session: Session, clock: Clock, *, email: str, password: str, actor: str, env: str) -> User:
    """Reset a user's password (audited; the audit row never holds the password)."""
    user = _existing_user(session, email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    audit.record(
        session,
        clock,
        action="console.user.password_set",
        actor=actor,
        selected_env=env,
        payload={"user_id": user.id, "email": user.email},
    )
    return user


def disable_user(session: Session, clock: Clock, *, email: str, actor: str, env: str) -> list[ApiToken]:
    """Disable a user and revoke their live tokens at once; returns the tokens revoked.

    Identity loading refuses a disabled user on every request (session, token or Cloudflare
    Access), so their sessions end with their next click.
    """
    user = _existing_user(session, email)
    if user.disabled:
        raise AuthError(f"{user.email} is already disabled")
    user.disabled = True
    now = clock.now()
    revoked = list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    )
    for row in revoked:
        row.revoked_at = now
    audit.record(
        session,
        clock,
        action="console.user.disabled",
        actor=actor,
        selected_env=env,
        payload={"user_id": user.id, "email": user.email, "revoked_tokens": [row.prefix for row in revoked]},
    )
    return revoked
