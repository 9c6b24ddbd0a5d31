"""Who is asking, and may they: session cookie, bearer token, or Cloudflare Access identity.

``load_identity`` runs before every request and sets ``g.user`` and ``g.auth_method``.
Bearer-token requests are exempt from CSRF (no cookie, no ambient authority); every other
state-changing request must carry the CSRF token. A service token (the other console, see
``peers.py``) sets ``g.service`` instead of a user and may call the peer API only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from raxx_console.auth.cf_access import user_from_cf_access
from raxx_console.auth.models import ApiToken, Role, ServiceToken, User
from raxx_console.auth.service import hash_token
from raxx_console.context import console, db_session

F = TypeVar("F", bound=Callable[..., Any])
csrf = CSRFProtect()
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
#: The only paths a service token may call, and only a service token may call.
PEER_API_PREFIX = "/api/peer/"
#: How often a session's "last seen" is rewritten (each rewrite is a new cookie).
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)
SESSION_USER, SESSION_GENERATION, SESSION_STARTED, SESSION_SEEN = "user_id", "generation", "started", "seen"


def wants_json() -> bool:
    """JSON routes and API clients (a bearer token, even a wrong one) get JSON errors; people get pages.

    A client that accepts anything and prefers nothing (``Accept: */*``: curl, requests, httpx)
    is an API client; a browser always asks for HTML first.
    """
    return (
        request.headers.get("Accept", "").strip() == "*/*"
        or request.path.endswith(".json")
        or request.path.startswith("/api/")
        or request.is_json
        or request.headers.get("Authorization", "").startswith("Bearer ")
        or request.accept_mimetypes.best == "application/json"
    )


def _touch(row: ApiToken | ServiceToken) -> None:
    """Record use to the minute: writing it on every call would add a commit to every API
    request (an alert storm, a metrics scrape)."""
    now = console().clock.now()
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL:
        row.last_used_at = now
        db_session().commit()


#: The token look-ups, built once: building them per request cost a third of the look-up.
#: An API token comes with its user: one indexed query per request.
_API_TOKEN = (
    select(ApiToken).where(ApiToken.token_hash == bindparam("digest")).options(joinedload(ApiToken.user))
)
_SERVICE_TOKEN = select(ServiceToken).where(ServiceToken.token_hash == bindparam("digest"))


def _bearer(header: str) -> User | ServiceToken | None:
    """The user or the service a live bearer token belongs to."""
    token = header.removeprefix("Bearer ").strip()
    if not token:
        return None
    digest = {"digest": hash_token(token)}
    row = db_session().scalar(_API_TOKEN, digest)
    if row is not None:
        if row.revoked_at is not None or row.user.disabled:
            return None
        _touch(row)
        return row.user
    service = db_session().scalar(_SERVICE_TOKEN, digest)
    if service is None or service.revoked_at is not None:
        return None
    _touch(service)
    return service


def load_identity() -> None:
    """Set ``g.user``/``g.auth_method``; a wrong bearer token is refused outright."""
    g.user, g.auth_method, g.service = None, None, None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        who = _bearer(header)
        if who is None:
            abort(401, description="invalid or revoked API token")
        if isinstance(who, ServiceToken):
            if not request.path.startswith(PEER_API_PREFIX):
                abort(403, description=f"a service token may call {PEER_API_PREFIX} only")
            g.service, g.auth_method = who, "service"
            return
        g.user, g.auth_method = who, "token"
        return
    user = user_from_cf_access()
    if user is not None:
        g.user, g.auth_method = user, "cf_access"
        return
    user = _user_from_session()
    if user is not None:
        g.user, g.auth_method = user, "session"


def start_session(user: User) -> None:
    """A fresh session cookie for ``user``, stamped with their session generation and the time."""
    now = console().clock.now().timestamp()
    session.clear()
    session.permanent = True
    session.update(
        {
            SESSION_USER: user.id,
            SESSION_GENERATION: user.session_generation,
            SESSION_STARTED: now,
            SESSION_SEEN: now,
        }
    )


def _user_from_session() -> User | None:
    """The session's user while the session is current; a stale session is cleared.

    Stale: the user is gone or disabled, their sessions were ended since (``end_all_sessions``),
    it was idle longer than ``SESSION_IDLE_TIMEOUT`` or began more than ``SESSION_MAX_AGE`` ago.
    """
    user_id = session.get(SESSION_USER)
    if user_id is None:
        return None
    settings, now = console().settings, console().clock.now().timestamp()
    user = db_session().get(User, user_id) if isinstance(user_id, int) else None
    started, seen = session.get(SESSION_STARTED), session.get(SESSION_SEEN)
    current = (
        user is not None
        and not user.disabled
        and session.get(SESSION_GENERATION) == user.session_generation
        and isinstance(started, float | int)
        and isinstance(seen, float | int)
        and now - started < settings.SESSION_MAX_AGE
        and now - seen < settings.SESSION_IDLE_TIMEOUT
    )
    if not current or not isinstance(seen, float | int):
        session.clear()
        return None
    if now - seen >= SESSION_TOUCH_INTERVAL.total_seconds():
        session[SESSION_SEEN] = now
    return user


def protect_csrf() -> None:
    """CSRF on every state-changing request that did not come with a bearer token.

    An anonymous call to the machine API (``/api/``, or any JSON request) is left to the view,
    which answers 401: with no session there is no ambient authority for a forged request to
    borrow. The login form always keeps its check (no login CSRF).
    """
    if request.method not in UNSAFE_METHODS or g.get("auth_method") in ("token", "service"):
        return
    anonymous_api_call = request.path.startswith("/api/") or wants_json()
    if g.get("user") is None and anonymous_api_call and request.endpoint != "auth.login":
        return
    csrf.protect()


def current_user() -> User | None:
    return g.get("user")


def actor() -> str:
    """The audit ``actor``: the user's email, or ``service:<name>`` for the other console."""
    user = current_user()
    if user is not None:
        return user.email
    service = g.get("service")
    return f"service:{service.service}" if service is not None else "anonymous"


def require_role(role: Role) -> Callable[[F], F]:
    """Pages redirect anonymous visitors to the login page; JSON callers get 401; too low a role 403."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if wants_json():
                    abort(401, description="authentication required")
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role < role:
                abort(403, description=f"this needs the {role.name} role")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def require_service(view: F) -> F:
    """The peer API: a service token only; a person (session, API token, Access) gets 403."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("service") is None:
            if current_user() is None:
                abort(
                    401,
                    description="the peer API needs a service token (raxx-console token create --service)",
                )
            abort(403, description="the peer API is for the other console's service token, not a user's")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
