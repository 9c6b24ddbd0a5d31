"""The secrets registry's state, and the rotation engine.

**The engine** (``rotate``) runs a rotation as steps: record the new value's fingerprint → write
it to the vault → have its system accept it (the handler's ``enrol``) → set it on each app →
verify every app by fingerprint (and a live call where the handler has one) → retire the old
value → audit ``console.secrets.rotated``. Each step commits its progress in its own short
transaction and no transaction is open during a call to Heroku, Infisical or the peer, so the
engine takes the ``Database`` rather than one session.

The value lives only in this function's locals, the vault and the apps' config vars: the
database keeps the step, the fingerprint and the vault *version* numbers. A failure leaves the
rotation ``incomplete`` at its step; the next Rotate resumes it by reading the value back from
the vault version it wrote, so a value that reached the vault is never replaced by a second one.
At most one rotation per secret is open (a partial unique index), so concurrent Rotates make one
rotation; the others are refused.

Errors are recorded by reason code only (``HerokuError``/``InfisicalError``/``HandlerFailed``):
no message from the far side, and no exception text, since either could carry a value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.audit.models import AuditLog
from raxx_console.clock import Clock
from raxx_console.db import Database
from raxx_console.integrations.heroku import HerokuClient, HerokuError
from raxx_console.integrations.infisical import InfisicalClient, InfisicalError, VaultSecret
from raxx_console.secrets.fingerprint import fingerprint
from raxx_console.secrets.handlers import HANDLERS, HandlerFailed, RotationHandler
from raxx_console.secrets.models import (
    APP_STEP_PREFIX,
    ROTATION_DONE,
    ROTATION_INCOMPLETE,
    ROTATION_RUNNING,
    STEP_DONE,
    STEP_ENROL,
    STEP_RETIRE,
    STEP_VAULT,
    STEP_VERIFY,
    SecretRotation,
)
from raxx_console.secrets.registry import SECRETS, SecretSpec

log = logging.getLogger("raxx_console.secrets")

ROTATED = "console.secrets.rotated"
ROTATED_MANUALLY = "console.secrets.rotated_manually"
ROTATION_INCOMPLETE_ACTION = "console.secrets.rotation_incomplete"
#: The audit actions that say a secret was rotated (its age counts from the newest).
ROTATION_ACTIONS = (ROTATED, ROTATED_MANUALLY)
RECENT_ACTIONS = (ROTATED, ROTATED_MANUALLY, ROTATION_INCOMPLETE_ACTION)
#: A rotation still ``running`` after this was cut off (a process died mid-step): resumable.
STALE_RUNNING = timedelta(minutes=5)


class RotationRefused(Exception):
    """The rotation cannot start; ``code`` and the message are safe to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class RotationOutcome:
    """What a Rotate press did: ``state`` done or incomplete (then ``step`` and ``reason`` say where)."""

    secret: str
    rotation_id: int
    state: str
    step: str
    reason: str | None
    fingerprint: str | None
    apps: tuple[str, ...]
    retired: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "rotation_id": self.rotation_id,
            "state": self.state,
            "step": self.step,
            "reason": self.reason,
            "fingerprint": self.fingerprint,
            "apps": list(self.apps),
            "retired": self.retired,
        }


class _StepFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- the engine


def rotate(
    db: Database,
    clock: Clock,
    spec: SecretSpec,
    handler: RotationHandler,
    *,
    vault: InfisicalClient,
    heroku: HerokuClient,
    actor: str,
    env: str,
) -> RotationOutcome:
    """Run (or resume) the rotation of ``spec``; RotationRefused if one is already running."""
    spec = handler.scope(spec)
    rotation_id = _claim(db, clock, spec.name, actor)
    step = STEP_VAULT
    try:
        value = _new_value(db, clock, rotation_id, spec, handler, vault)
        step = STEP_ENROL
        _progress(db, clock, rotation_id, step=step)
        handler.enrol(value)
        for app in spec.apps:
            if app in _row(db, rotation_id).apps_done:
                continue
            step = APP_STEP_PREFIX + app
            _progress(db, clock, rotation_id, step=step)
            heroku.set_config_var(app, spec.name, value)
            _progress(db, clock, rotation_id, app_done=app)
        step = STEP_VERIFY
        _progress(db, clock, rotation_id, step=step)
        expected = fingerprint(value)
        for app in spec.apps:
            current = heroku.get_config_var(app, spec.name)
            if current is None or fingerprint(current) != expected:
                raise _StepFailed("config_var_mismatch")
        live = handler.verify_live(value)
        step = STEP_RETIRE
        _progress(db, clock, rotation_id, step=step)
        previous = _row(db, rotation_id).previous_version
        retired = handler.retire(lambda: _read_version(vault, spec, previous))
        del value
        return _finish(db, clock, rotation_id, spec, retired=retired, live_checked=live, env=env)
    except (HerokuError, InfisicalError, HandlerFailed, _StepFailed) as exc:
        return _fail(db, clock, rotation_id, spec, step, exc.reason, env)
    except Exception as exc:  # a bug: record it without its text or traceback (locals hold the value)
        log.error("rotation of %s failed at step %s: %s", spec.name, step, type(exc).__name__)
        return _fail(db, clock, rotation_id, spec, step, "internal_error", env)


def _claim(db: Database, clock: Clock, name: str, actor: str) -> int:
    """Open a rotation for ``name``, or take over its incomplete (or cut-off) one."""
    now = clock.now()
    with db.session() as session:
        row = session.scalar(
            select(SecretRotation).where(
                SecretRotation.secret_name == name, SecretRotation.state != ROTATION_DONE
            )
        )
        if row is None:
            row = SecretRotation(
                secret_name=name,
                state=ROTATION_RUNNING,
                step=STEP_VAULT,
                apps_done=[],
                attempts=1,
                actor=actor,
                started_at=now,
                updated_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise _already_running(name) from None
            return row.id
        if row.state == ROTATION_RUNNING and now - row.updated_at < STALE_RUNNING:
            raise _already_running(name)
        # Compare-and-set: of two processes taking over the same row, one matches.
        taken = session.execute(
            update(SecretRotation)
            .where(
                SecretRotation.id == row.id,
                SecretRotation.state == row.state,
                SecretRotation.updated_at == row.updated_at,
            )
            .values(state=ROTATION_RUNNING, actor=actor, updated_at=now, attempts=row.attempts + 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise _already_running(name)
        return row.id


def _already_running(name: str) -> RotationRefused:
    return RotationRefused("rotation_running", f"a rotation of {name} is already running; wait for it to end")


def _new_value(
    db: Database,
    clock: Clock,
    rotation_id: int,
    spec: SecretSpec,
    handler: RotationHandler,
    vault: InfisicalClient,
) -> str:
    """The rotation's one new value: read back from the vault if it got there, else made and written."""
    row = _row(db, rotation_id)
    if row.vault_version is not None:
        value = vault.get_secret(spec.vault_path, spec.name, row.vault_version).value
        if fingerprint(value) != row.fingerprint:
            raise _StepFailed("vault_value_changed")
        return value
    if row.fingerprint is not None:  # a write whose answer was lost: did it land?
        current = _current(vault, spec)
        if current is not None and fingerprint(current.value) == row.fingerprint:
            _progress(db, clock, rotation_id, vault_version=current.version)
            return current.value
    # The vault does not hold a new value yet, so none exists anywhere: make one.
    current = _current(vault, spec)
    value = handler.generate()
    _progress(
        db,
        clock,
        rotation_id,
        fingerprint=fingerprint(value),
        previous_version=current.version if current else None,
    )
    version = vault.set_secret(spec.vault_path, spec.name, value)
    _progress(db, clock, rotation_id, vault_version=version)
    return value


def _current(vault: InfisicalClient, spec: SecretSpec) -> VaultSecret | None:
    try:
        return vault.get_secret(spec.vault_path, spec.name)
    except InfisicalError as exc:
        if exc.reason == "infisical_secret_not_found":
            return None
        raise


def _read_version(vault: InfisicalClient, spec: SecretSpec, version: int | None) -> str | None:
    return None if version is None else vault.get_secret(spec.vault_path, spec.name, version).value


def _row(db: Database, rotation_id: int) -> SecretRotation:
    with db.session() as session:
        row = session.get(SecretRotation, rotation_id)
        assert row is not None
        session.expunge(row)
        return row


def _progress(
    db: Database, clock: Clock, rotation_id: int, *, app_done: str | None = None, **values: Any
) -> None:
    with db.session() as session:
        row = session.get(SecretRotation, rotation_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        if app_done is not None:
            row.apps_done = [*row.apps_done, app_done]
        row.updated_at = clock.now()


def _finish(
    db: Database,
    clock: Clock,
    rotation_id: int,
    spec: SecretSpec,
    *,
    retired: str,
    live_checked: bool,
    env: str,
) -> RotationOutcome:
    with db.session() as session:
        row = session.get(SecretRotation, rotation_id)
        assert row is not None
        now = clock.now()
        row.state, row.step, row.reason, row.retired = ROTATION_DONE, STEP_DONE, None, retired[:255]
        row.updated_at = row.finished_at = now
        audit.record(
            session,
            clock,
            action=ROTATED,
            actor=row.actor,
            selected_env=env,
            payload={
                "name": spec.name,
                "apps": list(spec.apps),
                "fingerprint": row.fingerprint,
                "actor": row.actor,
                "rotation_id": row.id,
                "vault_version": row.vault_version,
                "live_checked": live_checked,
                "retired": row.retired,
            },
        )
        log.info("secret %s rotated (fingerprint %s) by %s", spec.name, row.fingerprint, row.actor)
        return _outcome(row, spec)


def _fail(
    db: Database, clock: Clock, rotation_id: int, spec: SecretSpec, step: str, reason: str, env: str
) -> RotationOutcome:
    with db.session() as session:
        row = session.get(SecretRotation, rotation_id)
        assert row is not None
        row.state, row.step, row.reason, row.updated_at = ROTATION_INCOMPLETE, step, reason, clock.now()
        audit.record(
            session,
            clock,
            action=ROTATION_INCOMPLETE_ACTION,
            actor=row.actor,
            selected_env=env,
            payload={
                "name": spec.name,
                "step": step,
                "reason": reason,
                "fingerprint": row.fingerprint,
                "rotation_id": row.id,
                "apps_done": list(row.apps_done),
            },
        )
        log.warning("secret %s rotation incomplete at step %s: %s", spec.name, step, reason)
        return _outcome(row, spec)


def _outcome(row: SecretRotation, spec: SecretSpec) -> RotationOutcome:
    return RotationOutcome(
        secret=spec.name,
        rotation_id=row.id,
        state=row.state,
        step=row.step,
        reason=row.reason,
        fingerprint=row.fingerprint,
        apps=spec.apps,
        retired=row.retired,
    )


# --------------------------------------------------------------------------- modes and manual rotations


def mode(spec: SecretSpec, mode_a_on: bool) -> str:
    """``handler`` when Rotate runs the secret's Mode A handler, else ``manual`` (its SOP)."""
    return "handler" if mode_a_on and spec.name in HANDLERS else "manual"


def record_manual(session: Session, clock: Clock, spec: SecretSpec, *, actor: str, env: str) -> None:
    """An operator rotated ``spec`` by its SOP: the audit row its age is counted from."""
    audit.record(
        session,
        clock,
        action=ROTATED_MANUALLY,
        actor=actor,
        selected_env=env,
        payload={"name": spec.name, "apps": list(spec.apps), "actor": actor},
    )


# --------------------------------------------------------------------------- the registry's state


@dataclass(frozen=True)
class LastRotation:
    at: datetime
    actor: str
    fingerprint: str | None
    manual: bool


@dataclass(frozen=True)
class SecretState:
    spec: SecretSpec
    last: LastRotation | None
    due_at: datetime | None
    overdue: bool
    #: The open rotation (running or incomplete), if any.
    open_rotation: SecretRotation | None

    def age_days(self, now: datetime) -> int | None:
        return None if self.last is None else int((now - self.last.at).total_seconds() // 86400)


def last_rotations(session: Session) -> dict[str, LastRotation]:
    """The newest rotation of each secret, from the audit log (this app's database only)."""
    name = AuditLog.payload["name"].as_string()
    newest = (
        select(name.label("name"), func.max(AuditLog.id).label("id"))
        .where(AuditLog.action.in_(ROTATION_ACTIONS))
        .group_by(name)
        .subquery()
    )
    rows = session.scalars(select(AuditLog).join(newest, AuditLog.id == newest.c.id))
    return {
        str(row.payload.get("name")): LastRotation(
            at=row.created_at,
            actor=row.actor,
            fingerprint=row.payload.get("fingerprint"),
            manual=row.action == ROTATED_MANUALLY,
        )
        for row in rows
    }


def states(session: Session, now: datetime) -> list[SecretState]:
    """Every registry row with its last rotation, due date and open rotation.

    A secret never rotated through the console has no known age: it is not counted overdue, and
    the page asks for its rotation to be recorded (docs/decisions.md)."""
    last = last_rotations(session)
    open_rows = {
        row.secret_name: row
        for row in session.scalars(select(SecretRotation).where(SecretRotation.state != ROTATION_DONE))
    }
    result = []
    for spec in SECRETS:
        rotation = last.get(spec.name)
        due_at = rotation.at + timedelta(days=spec.max_age_days) if rotation else None
        result.append(
            SecretState(
                spec=spec,
                last=rotation,
                due_at=due_at,
                overdue=due_at is not None and due_at <= now,
                open_rotation=open_rows.get(spec.name),
            )
        )
    return result


def overdue(session: Session, now: datetime) -> list[str]:
    """Names of the secrets past their maximum age (the health panel and /metrics)."""
    return [state.spec.name for state in states(session, now) if state.overdue]


def recent(session: Session, limit: int = 20) -> list[AuditLog]:
    """The "Recent rotations" panel: rotations, manual records and incomplete runs, newest first."""
    return audit.recent(session, actions=RECENT_ACTIONS, limit=limit)
