"""Users, passwords and API tokens. Every mutation here writes its audit row in the same transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from raxx_console.audit import service as audit
from raxx_console.auth.models import ApiToken, LoginThrottle, Role, ServiceToken, User
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


@dataclass(frozen=True)
class LoginAttempt:
    """What a login came to: the user (right password), or None; ``throttled`` when not even checked."""

    user: User | None
    throttled: bool = False


def attempt_login(session: Session, clock: Clock, *, email: str, password: str, address: str) -> LoginAttempt:
    """Check a password under the login limit, atomically; the caller commits.

    The counters of the email and of the client address (as seen through the trusted proxies)
    are locked first, in key order, so parallel attempts for either queue here: the fifth
    failure is counted before the sixth attempt is looked at. A window starts at its first
    failure and is forgotten ``LOGIN_FAILURE_WINDOW`` later.
    """
    now = clock.now()
    counters = _lock_counters(session, now, [f"email:{email.strip().lower()}", f"addr:{address}"])
    for counter in counters:
        if counter.failures and now - counter.window_started_at >= LOGIN_FAILURE_WINDOW:
            counter.failures = 0
    if any(counter.failures >= LOGIN_FAILURE_LIMIT for counter in counters):
        return LoginAttempt(None, throttled=True)
    user = authenticate(session, email, password)
    if user is None:
        for counter in counters:
            if counter.failures == 0:
                counter.window_started_at = now
            counter.failures += 1
    return LoginAttempt(user)


def _lock_counters(session: Session, now: datetime, keys: list[str]) -> list[LoginThrottle]:
    """The counter rows for ``keys`` (created at zero if missing), locked in key order.

    PostgreSQL: ``INSERT … ON CONFLICT DO NOTHING`` then ``SELECT … FOR UPDATE``. SQLite has no
    row locks; the insert statement takes the database's write lock, which serializes the same.
    """
    keys = sorted({key[:320] for key in keys})
    sqlite = session.get_bind().dialect.name == "sqlite"
    insert = sqlite_insert if sqlite else pg_insert
    session.execute(
        insert(LoginThrottle)
        .values([{"key": key, "failures": 0, "window_started_at": now} for key in keys])
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return list(
        session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key.in_(keys))
            .order_by(LoginThrottle.key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def end_all_sessions(
    session: Session, clock: Clock, *, user: User, reason: str, actor: str, env: str
) -> None:
    """End every browser session of ``user`` (logout, password or role change, disabling).

    Sessions carry the user's ``session_generation``; bumping it makes every cookie issued
    before now stale on its next request, in every web process.
    """
    session.execute(
        update(User).where(User.id == user.id).values(session_generation=User.session_generation + 1)
    )
    session.refresh(user, ["session_generation"])
    audit.record(
        session,
        clock,
        action="console.auth.sessions_ended",
        actor=actor,
        selected_env=env,
        payload={"user_id": user.id, "email": user.email, "reason": reason},
    )


def change_role(session: Session, clock: Clock, *, user: User, role: str, actor: str, env: str) -> None:
    """Give ``user`` another role; their sessions end, so the new role applies from the next login."""
    if role not in Role.__members__:
        raise AuthError("role must be viewer, operator or admin")
    before = user.role_name
    user.role_name = role
    audit.record(
        session,
        clock,
        action="console.user.role_changed",
        actor=actor,
        selected_env=env,
        payload={"user_id": user.id, "email": user.email, "before": before, "after": role},
    )
    end_all_sessions(session, clock, user=user, reason="role_changed", actor=actor, env=env)


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
    _store_token(session, clock, row, actor, env)
    return token


def new_service_token() -> str:
    """A service token's value: 256 random bits behind the ``rxs_`` prefix."""
    return SERVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_service_token(session: Session, clock: Clock, *, service: str, actor: str, env: str) -> str:
    """A token for another console (``peers.py``) to call this one's peer API, and nothing else.

    ``service`` names the caller (``console-staging``); the plain value is returned once.
    """
    service = service.strip()
    if not service or len(service) > 100:
        raise AuthError("--service must name the calling console in 1 to 100 characters")
    token = new_service_token()
    _add_service_token(session, clock, service, hash_token(token), token[:PREFIX_LENGTH], actor, env)
    return token


def _add_service_token(
    session: Session, clock: Clock, service: str, token_hash: str, prefix: str, actor: str, env: str
) -> ServiceToken:
    row = ServiceToken(service=service, token_hash=token_hash, prefix=prefix, created_at=clock.now())
    _store_token(session, clock, row, actor, env)
    return row


def _store_token(session: Session, clock: Clock, row: ApiToken | ServiceToken, actor: str, env: str) -> None:
    """Add a new token row and audit ``console.token.created`` with its id and prefix (never the value)."""
    session.add(row)
    session.flush()
    if isinstance(row, ServiceToken):
        payload = {"service_token_id": row.id, "service": row.service, "prefix": row.prefix}
    else:
        payload = {"token_id": row.id, "user_id": row.user_id, "prefix": row.prefix, "name": row.name}
    audit.record(
        session, clock, action="console.token.created", actor=actor, selected_env=env, payload=payload
    )


def enrol_service_token(
    session: Session, clock: Clock, *, caller: ServiceToken, token_hash: str, prefix: str, env: str
) -> ServiceToken:
    """The other console rotating its token: accept the new one (sent as its SHA-256 and prefix,
    never in clear) for the same service, beside the calling token until that is retired.

    Idempotent, so a resumed rotation can enrol again: the caller's own or an already enrolled
    live token of the same service is answered as it is (docs/decisions.md, "Rotating the peer
    link's service token").
    """
    token_hash, prefix = token_hash.strip().lower(), prefix.strip()
    if len(token_hash) != 64 or any(ch not in "0123456789abcdef" for ch in token_hash):
        raise AuthError("token_hash must be the new token's SHA-256 in 64 hex digits")
    if not prefix.startswith(SERVICE_TOKEN_PREFIX) or len(prefix) != PREFIX_LENGTH:
        raise AuthError(f"prefix must be the new token's first {PREFIX_LENGTH} characters")
    existing = session.scalar(select(ServiceToken).where(ServiceToken.token_hash == token_hash))
    if existing is not None:
        if existing.service != caller.service or existing.revoked_at is not None:
            raise AuthError("that token cannot be enrolled: it is revoked or belongs to another service")
        return existing
    return _add_service_token(
        session, clock, caller.service, token_hash, prefix, f"service:{caller.service}", env
    )


def retire_other_service_tokens(
    session: Session, clock: Clock, *, caller: ServiceToken, env: str
) -> list[ServiceToken]:
    """Revoke every live token of the caller's service but the calling one: the last step of the
    other console's rotation, called with the new token once it has proven itself."""
    rows = list(
        session.scalars(
            select(ServiceToken).where(
                ServiceToken.service == caller.service,
                ServiceToken.revoked_at.is_(None),
                ServiceToken.id != caller.id,
            )
        )
    )
    for row in rows:
        _revoke(session, clock, row, actor=f"service:{caller.service}", env=env)
    return rows


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
    return _revoke(session, clock, rows[0], actor=actor, env=env)


def _revoke(
    session: Session, clock: Clock, row: ApiToken | ServiceToken, *, actor: str, env: str
) -> ApiToken | ServiceToken:
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
    """Reset a user's password (audited; the audit row never holds the password); every session
    the user had ends, so a leaked cookie dies with the old password."""
    user = _existing_user(session, email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    end_all_sessions(session, clock, user=user, reason="password_changed", actor=actor, env=env)
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
    """Disable a user, end their sessions and revoke their live tokens at once; returns the tokens.

    Identity loading also refuses a disabled user on every request (session, token or Cloudflare
    Access), so re-enabling the row later does not bring an old cookie back.
    """
    user = _existing_user(session, email)
    if user.disabled:
        raise AuthError(f"{user.email} is already disabled")
    user.disabled = True
    end_all_sessions(session, clock, user=user, reason="disabled", actor=actor, env=env)
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
