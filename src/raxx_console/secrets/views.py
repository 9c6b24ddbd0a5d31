"""/secrets (admin): the registry of secrets, their Rotate and "record manual rotation" actions,
and the "Recent rotations" panel. Never a value: names, fingerprints and steps only.

``FLAG_CONSOLE_ROTATE_UI`` off hides the actions and makes their endpoints 404.
``FLAG_CONSOLE_ROTATION_MODE_A`` decides whether a row with a handler rotates itself or shows
its manual SOP. A form post (the page, CSRF) is answered with a redirect; anything else is the
JSON API (bearer token or session + CSRF header) and is answered in JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from raxx_console.auth.access import actor, require_role
from raxx_console.auth.models import Role
from raxx_console.clock import ago, iso
from raxx_console.context import Console, console, db_session
from raxx_console.errors import ApiError
from raxx_console.flags.registry import ROTATE_UI_FLAG, ROTATION_MODE_A_FLAG
from raxx_console.flags.views import FORM_TYPES
from raxx_console.integrations import registry as integrations
from raxx_console.middleware.env_guard import selected_env
from raxx_console.secrets import service
from raxx_console.secrets.handlers import HANDLERS
from raxx_console.secrets.registry import SecretSpec, get_spec
from raxx_console.secrets.service import RotationOutcome, RotationRefused, SecretState

bp = Blueprint("secrets", __name__)


def handler_mode(ctx: Console, spec: SecretSpec) -> bool:
    """True when Rotate runs the secret's Mode A handler; False means its manual SOP."""
    return service.mode(spec, ctx.flags.is_enabled(ROTATION_MODE_A_FLAG)) == "handler"


def _row_json(ctx: Console, state: SecretState) -> dict[str, Any]:
    now, spec, last, rotation = ctx.clock.now(), state.spec, state.last, state.open_rotation
    return {
        "name": spec.name,
        "description": spec.description,
        "apps": list(spec.apps),
        "vault_path": spec.vault_location,
        "mode": service.mode(spec, ctx.flags.is_enabled(ROTATION_MODE_A_FLAG)),
        "has_handler": spec.name in HANDLERS,
        "max_age_days": spec.max_age_days,
        "last_rotated_at": iso(last.at) if last else None,
        "last_rotated_by": last.actor if last else None,
        "last_fingerprint": last.fingerprint if last else None,
        "age_days": state.age_days(now),
        "due_at": iso(state.due_at),
        "overdue": state.overdue,
        "open_rotation": None
        if rotation is None
        else {
            "state": rotation.state,
            "step": rotation.step,
            "reason": rotation.reason,
            "fingerprint": rotation.fingerprint,
        },
        "sop": list(spec.sop),
    }


@bp.get("/secrets")
@require_role(Role.admin)
def index() -> str:
    ctx = console()
    session = db_session()
    now = ctx.clock.now()
    return render_template(
        "secrets/index.html",
        rows=[_row_json(ctx, state) for state in service.states(session, now)],
        recent=service.recent(session),
        rotate_ui=ctx.flags.is_enabled(ROTATE_UI_FLAG),
        mode_a=ctx.flags.is_enabled(ROTATION_MODE_A_FLAG),
        ago=lambda when: ago(now, when),
    )


@bp.get("/secrets.json")
@require_role(Role.admin)
def index_json() -> Response:
    ctx = console()
    session = db_session()
    return jsonify(
        {
            "secrets": [_row_json(ctx, state) for state in service.states(session, ctx.clock.now())],
            "recent_rotations": [
                {"at": iso(row.created_at), "action": row.action, "actor": row.actor, **row.payload}
                for row in service.recent(session)
            ],
            "rotate_ui": ctx.flags.is_enabled(ROTATE_UI_FLAG),
            "mode_a": ctx.flags.is_enabled(ROTATION_MODE_A_FLAG),
        }
    )


def _actionable(name: str) -> SecretSpec:
    """The row an action is for; 404 while the rotate UI is off or for an unknown name."""
    if not console().flags.is_enabled(ROTATE_UI_FLAG):
        abort(404)
    spec = get_spec(name)
    if spec is None:
        raise ApiError(404, "unknown_secret", f"there is no secret called {name}", secret=name)
    return spec


def _is_form() -> bool:
    return request.mimetype in FORM_TYPES


def _back(name: str) -> Any:
    return redirect(url_for("secrets.index", _anchor=f"secret-{name}"), code=303)


@bp.post("/secrets/<name>/rotate")
@require_role(Role.admin)
def rotate(name: str) -> Any:
    spec = _actionable(name)
    ctx = console()
    if not handler_mode(ctx, spec):
        why = (
            f"{ROTATION_MODE_A_FLAG} is off"
            if spec.name in HANDLERS
            else f"{spec.name} has no Mode A handler"
        )
        return _refused(
            "manual_rotation", f"{why}: rotate it by its SOP, then record the manual rotation.", spec
        )
    try:
        outcome = service.rotate(
            ctx.db,
            ctx.clock,
            spec,
            HANDLERS[spec.name](ctx),
            vault=integrations.infisical(ctx),
            heroku=integrations.heroku(ctx),
            actor=actor(),
            env=selected_env(),
        )
    except RotationRefused as exc:
        return _refused(exc.code, exc.message, spec)
    if _is_form():
        flash(_summary(outcome), "success" if outcome.state == "done" else "warning")
        return _back(spec.name)
    if outcome.state != "done":
        return jsonify(
            {"error": "rotation_incomplete", "message": _summary(outcome), **outcome.to_json()}
        ), 502
    return jsonify(outcome.to_json())


def _refused(code: str, message: str, spec: SecretSpec) -> Any:
    if _is_form():
        flash(message, "warning")
        return _back(spec.name)
    raise ApiError(409, code, message, secret=spec.name)


def _summary(outcome: RotationOutcome) -> str:
    if outcome.state == "done":
        return (
            f"{outcome.secret} rotated: new value {outcome.fingerprint} in the vault and on "
            f"{', '.join(outcome.apps)}. {outcome.retired or ''}".strip()
        )
    return (
        f"{outcome.secret} rotation incomplete at step {outcome.step} ({outcome.reason}). "
        "Fix the cause and press Retry: it continues with the value already in the vault."
    )


@bp.post("/secrets/<name>/manual")
@require_role(Role.admin)
def record_manual(name: str) -> Any:
    spec = _actionable(name)
    ctx = console()
    session = db_session()
    service.record_manual(session, ctx.clock, spec, actor=actor(), env=selected_env())
    session.commit()
    message = f"Manual rotation of {spec.name} recorded; its age counts from now."
    if _is_form():
        flash(message, "success")
        return _back(spec.name)
    return jsonify({"secret": spec.name, "recorded": True, "message": message})
