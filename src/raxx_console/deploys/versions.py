"""Console versions: what each console runs, the commits between, and "Promote staging → prod".

Each console's SHA is its ``/version`` (this console's own, ``version.py``; the other's through
the peer link); the commits between them are GitHub's compare. A promotion is requested from
staging (where operators live; the in-flight check reads staging's deploys) by an admin who types
``PROMOTE`` and a TOTP code: ``deploy_now`` of ``console-prod`` with staging's SHA as the ``ref``
input — tracked like any deploy — and the ``console.version.promoted`` audit row. Every refusal
writes ``console.version.promote_refused`` with its reason (never the code) and changes nothing;
the order of the checks, and why staging only: docs/decisions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.auth import totp
from raxx_console.auth.models import Role, User
from raxx_console.clock import Clock, iso
from raxx_console.deploys import service
from raxx_console.deploys.models import DISPATCH_FAILED, IN_FLIGHT, KIND_PROMOTION, Deploy
from raxx_console.integrations import registry
from raxx_console.integrations.github import Comparison
from raxx_console.peers import PeerOutcome, PeerStatus, PeerVersion
from raxx_console.version import running_version

if TYPE_CHECKING:
    from raxx_console.context import Console

PROMOTED = "console.version.promoted"
PROMOTE_REFUSED = "console.version.promote_refused"
CONFIRM_WORD = "PROMOTE"
STAGING_SURFACE = "console-staging"
PROD_SURFACE = "console-prod"
PRODUCTION = "production"

# Refusal reasons (the audit row's ``reason``); TOTP's own are totp.TotpResult values.
NOT_ADMIN = "not_admin"
WRONG_CONSOLE = "wrong_console"
WRONG_WORD = "wrong_word"
IN_FLIGHT_REASON = "in_flight"
PEER_UNREACHABLE = "peer_unreachable"
UNKNOWN_SHA = "unknown_sha"
IN_SYNC = "in_sync"
DISPATCH_FAILED_REASON = "dispatch_failed"

_SHA = re.compile(r"^[0-9a-f]{7,40}$")


class PromoteRefused(Exception):
    """A refused promotion: ``reason`` (audited), a message for people, and the HTTP status."""

    def __init__(self, reason: str, message: str, status: int) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


@dataclass(frozen=True)
class VersionColumn:
    """One console's column: its ``/version``, or why it could not be read."""

    surface_id: str
    version: PeerVersion | None
    problem: PeerOutcome | None = None

    @property
    def known(self) -> bool:
        """A commit SHA (not ``unknown``, not a blank): something GitHub can compare and deploy."""
        return self.version is not None and self.version.known and bool(_SHA.match(self.version.sha))


@dataclass(frozen=True)
class Versions:
    staging: VersionColumn
    prod: VersionColumn
    comparison: Comparison | None = None
    compare_problem: str | None = None

    @property
    def peer_problem(self) -> PeerOutcome | None:
        return self.staging.problem or self.prod.problem

    @property
    def in_sync(self) -> bool:
        staging, prod = self.staging.version, self.prod.version
        known = self.staging.known and self.prod.known
        return known and staging is not None and prod is not None and staging.sha == prod.sha


def read_versions(console: Console, env: str) -> Versions:
    """Both columns and the commits prod lacks; call with no transaction open (HTTP calls)."""
    own = running_version(console.settings, env)
    outcome, peer = registry.peer_link(console).version()
    problem = None
    if not outcome.ok:
        problem = outcome
    elif peer is None:
        problem = PeerOutcome(PeerStatus.UNREACHABLE, outcome.peer, reason="its answer named no SHA")
    on_prod = env == PRODUCTION
    own_column = VersionColumn(PROD_SURFACE if on_prod else STAGING_SURFACE, own)
    peer_column = VersionColumn(STAGING_SURFACE if on_prod else PROD_SURFACE, peer, problem)
    staging, prod = (peer_column, own_column) if on_prod else (own_column, peer_column)
    versions = Versions(staging, prod)
    if not (staging.known and prod.known) or versions.in_sync:
        return versions
    assert staging.version is not None and prod.version is not None
    compared = registry.github(console).compare(prod.version.sha, staging.version.sha)
    if not compared.ok:
        return Versions(staging, prod, compare_problem=compared.describe())
    return Versions(staging, prod, comparison=compared.value)


def promotion_in_flight(session: Session) -> Deploy | None:
    """A ``console-prod`` deploy still moving (a promotion, or a break-glass deploy of prod)."""
    return session.scalar(
        select(Deploy)
        .where(Deploy.surface_id == PROD_SURFACE, Deploy.status.in_(IN_FLIGHT))
        .order_by(Deploy.created_at.desc())
        .limit(1)
    )


def _prod_deploys(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Deploy).where(Deploy.surface_id == PROD_SURFACE)) or 0
    )


def _record_refusal(
    session: Session, clock: Clock, *, user: User | None, actor: str, env: str, reason: str, message: str
) -> None:
    payload: dict[str, Any] = {"reason": reason, "message": message, "user_id": user.id if user else None}
    audit.record(session, clock, action=PROMOTE_REFUSED, actor=actor, selected_env=env, payload=payload)


def _refuse(
    console: Console, *, user_id: int, actor: str, env: str, reason: str, message: str, status: int
) -> Exception:
    with console.db.session() as session:
        user = session.get(User, user_id)
        _record_refusal(
            session, console.clock, user=user, actor=actor, env=env, reason=reason, message=message
        )
    return PromoteRefused(reason, message, status)


_TOTP_REFUSALS = {
    totp.TotpResult.NOT_ENROLLED: (403, "enrol two-factor codes first (Two-factor, at the top of the page)"),
    totp.TotpResult.BAD_CODE: (400, "that code does not match; enter the current 6-digit code"),
    totp.TotpResult.REPLAY: (400, "that code was already used; wait for the next one"),
    totp.TotpResult.LOCKED: (423, "too many wrong codes: promotion is locked for 15 minutes"),
}


def promote(
    console: Console, *, user_id: int, word: object, code: object, env: str, wait: bool = True
) -> Deploy:
    """Check every rule, then deploy staging's SHA to ``console-prod``; raises PromoteRefused.

    The TOTP code is checked last, so a refusal for the consoles' state does not use it up;
    its verdict is committed whatever it is (failures count towards the lockout).
    """
    clock = console.clock
    with console.db.session() as session:
        user = session.get(User, user_id)
        actor = user.email if user is not None else "anonymous"
        early = None
        if user is None or user.role < Role.admin:
            early = NOT_ADMIN, "promoting needs the admin role", 403
        elif env == PRODUCTION:
            early = WRONG_CONSOLE, "promote from console-staging; this is the production console", 409
        elif word != CONFIRM_WORD:
            early = WRONG_WORD, f"type {CONFIRM_WORD} to confirm", 400
        elif (moving := promotion_in_flight(session)) is not None:
            early = IN_FLIGHT_REASON, f"deploy #{moving.id} of {PROD_SURFACE} is still {moving.status}", 409
        # Two admins promoting at once read the same count: the deploys' unique idempotency key
        # lets one of them request the deploy and turns the other into an in-flight refusal.
        promotion_key = f"console-promotion:{_prod_deploys(session)}"
    if early is not None:
        raise _refuse(
            console, user_id=user_id, actor=actor, env=env, reason=early[0], message=early[1], status=early[2]
        )

    versions = read_versions(console, env)
    later = None
    if versions.peer_problem is not None:
        later = PEER_UNREACHABLE, versions.peer_problem.banner, 503
    elif not (versions.staging.known and versions.prod.known):
        unknown = [c.surface_id for c in (versions.staging, versions.prod) if not c.known]
        later = UNKNOWN_SHA, f"{' and '.join(unknown)} /version reports no known SHA", 409
    elif versions.in_sync:
        later = IN_SYNC, "the consoles already run the same SHA", 409
    if later is not None:
        raise _refuse(
            console, user_id=user_id, actor=actor, env=env, reason=later[0], message=later[1], status=later[2]
        )
    assert versions.staging.version is not None and versions.prod.version is not None
    from_sha, to_sha = versions.prod.version.sha, versions.staging.version.sha

    with console.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        result = totp.verify(session, clock, user=user, code=code if isinstance(code, str) else "", env=env)
        if result is not totp.TotpResult.OK:
            status, message = _TOTP_REFUSALS[result]
            _record_refusal(
                session, clock, user=user, actor=actor, env=env, reason=result.value, message=message
            )
    if result is not totp.TotpResult.OK:
        raise PromoteRefused(result.value, message, status)

    try:
        deploy, created = service.deploy_now(
            console,
            surface_id=PROD_SURFACE,
            ref=to_sha,
            actor=actor,
            env=env,
            kind=KIND_PROMOTION,
            idempotency_key=promotion_key,
            wait=wait,
        )
    except service.DeployError as exc:  # e.g. a surfaces file without console-prod
        raise _refuse(
            console,
            user_id=user_id,
            actor=actor,
            env=env,
            reason=DISPATCH_FAILED_REASON,
            message=str(exc),
            status=exc.status,
        ) from None
    if not created:
        message = f"deploy #{deploy.id} of {PROD_SURFACE} was requested a moment ago"
        raise _refuse(
            console,
            user_id=user_id,
            actor=actor,
            env=env,
            reason=IN_FLIGHT_REASON,
            message=message,
            status=409,
        )
    if deploy.status == DISPATCH_FAILED:
        raise _refuse(
            console,
            user_id=user_id,
            actor=actor,
            env=env,
            reason=DISPATCH_FAILED_REASON,
            message=f"GitHub did not take the dispatch: {deploy.reason}",
            status=502,
        )
    with console.db.session() as session:
        audit.record(
            session,
            clock,
            action=PROMOTED,
            actor=actor,
            selected_env=env,
            payload={
                "from_sha": from_sha,
                "to_sha": to_sha,
                "requested_by_admin_id": user_id,
                "promoted_at_utc": iso(clock.now()),
            },
        )
    return deploy
