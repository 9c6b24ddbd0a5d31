"""/console/flags: the rollout runbook's flags table, its toggles, and the JSON twin.

One URL takes both toggles: a form post (the page, CSRF) is answered with a redirect or the
confirmation step; anything else is the JSON API (bearer token, or a session with the CSRF
header) and is answered in JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from raxx_console.auth.access import actor, current_user, require_role
from raxx_console.auth.models import Role
from raxx_console.context import console
from raxx_console.errors import ApiError
from raxx_console.flags.registry import get_spec
from raxx_console.flags.service import FlagChange, PrerequisitesMissing, Resolution
from raxx_console.health.prereqs import ticketing_prereqs_missing
from raxx_console.middleware.env_guard import selected_env
from raxx_console.middleware.input_guard import request_json

bp = Blueprint("flags", __name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FORM_VALUES = {"on": True, "off": False}


@bp.app_template_filter("on_off")
def on_off(value: bool | None) -> str:
    return "on" if value else "off"


def _ago(when: datetime | None) -> str | None:
    """Relative time ("4 min ago"): quicker to read at 3 a.m. than a timestamp alone."""
    if when is None:
        return None
    seconds = max(0, int((console().clock.now() - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def _row(res: Resolution) -> dict[str, Any]:
    """A table row; its button flips the *database* value, which is the effective one unless pinned."""
    db_value = res.spec.default if res.db_value is None else res.db_value
    return {"res": res, "spec": res.spec, "changed_ago": _ago(res.updated_at), "target": not db_value}


@bp.get("/console/flags")
@require_role(Role.viewer)
def index() -> str:
    ctx = console()
    return render_template(
        "flags/index.html",
        rows=[_row(res) for res in ctx.flags.resolve_all()],
        missing=ticketing_prereqs_missing(ctx.settings),
        can_toggle=current_user().role >= Role.operator,  # type: ignore[union-attr]
        ttl=int(ctx.settings.FLAG_CACHE_TTL_SECONDS),
    )


@bp.get("/console/flags.json")
@require_role(Role.viewer)
def index_json() -> Response:
    ctx = console()
    return jsonify(
        {
            "flags": [res.to_json() for res in ctx.flags.resolve_all()],
            "ticketing_prerequisites_missing": ticketing_prereqs_missing(ctx.settings),
            "cache_ttl_seconds": ctx.settings.FLAG_CACHE_TTL_SECONDS,
        }
    )


@bp.post("/console/flags/<name>")
@require_role(Role.operator)
def toggle(name: str) -> Any:
    if request.mimetype in FORM_TYPES:
        return _toggle_form(name)
    return _toggle_json(name)


def _change(name: str, value: bool, confirm: bool) -> FlagChange:
    ctx = console()
    return ctx.flags.change(
        name, value, settings=ctx.settings, actor=actor(), env=selected_env(), confirm=confirm
    )


def _toggle_form(name: str) -> Any:
    spec = get_spec(name)
    if spec is None:
        abort(404, description=f"there is no flag called {name}")
    value = FORM_VALUES.get(request.form.get("value", ""))
    if value is None:
        abort(400, description="the form must send value=on or value=off")
    try:
        change = _change(name, value, confirm=request.form.get("confirm") == "yes")
    except PrerequisitesMissing as exc:
        return render_template("flags/confirm.html", spec=spec, missing=exc.missing), 409
    flash(_summary(change), "warning" if change.after.pinned or change.confirmed_missing else "success")
    return redirect(url_for("flags.index", _anchor=f"flag-{name}"), code=303)


def _summary(change: FlagChange) -> str:
    after = change.after
    text = f"{after.name} set to {on_off(after.db_value)} in the database"
    if after.pinned:
        text += (
            f", but the env var pins it {on_off(after.value)}: the effective value did not change."
            " The database row records the intended state (the runbook's reconcile step)."
        )
    else:
        text += f"; every process uses it within {int(console().settings.FLAG_CACHE_TTL_SECONDS)} s."
    if change.confirmed_missing:
        text += " Turned on although these are missing: " + ", ".join(change.confirmed_missing) + "."
    return text


def _body() -> dict[str, Any]:
    body = request_json()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", 'the body must be a JSON object such as {"value": true}')
    for key in ("value", "confirm"):
        if key in body and not isinstance(body[key], bool):
            raise ApiError(400, f"invalid_{key}", f'"{key}" must be true or false (a JSON boolean)')
    if "value" not in body:
        raise ApiError(400, "invalid_value", '"value" is required: true or false')
    return body


def _toggle_json(name: str) -> Response:
    if get_spec(name) is None:
        raise ApiError(404, "unknown_flag", f"there is no flag called {name}", flag=name)
    body = _body()
    try:
        change = _change(name, body["value"], confirm=body.get("confirm", False))
    except PrerequisitesMissing as exc:
        raise ApiError(
            409,
            "prerequisites_missing",
            f"{name} files FreeScout tickets, and these env vars are not set; tickets would fail. "
            'Set them, or send "confirm": true to turn it on anyway.',
            flag=name,
            missing=exc.missing,
        ) from None
    return jsonify(
        {
            **change.after.to_json(),
            "before": change.before.audit_state(),
            "prerequisites_missing": list(change.confirmed_missing),
        }
    )
