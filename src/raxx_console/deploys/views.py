"""The Deploy action on status tiles, the in-flight chip, and "Recent deploys".

``POST /console/deploys/<surface_id>`` takes the tile's modal (a fetch with the CSRF header, or a
script-less form post answered with a redirect to the grid) and API clients (bearer, JSON). Only
the surface and the ref come from the caller; ``SURFACE_WORKFLOW_MAP`` picks the workflow and env.
With ``FLAG_CONSOLE_DEPLOY_UI`` off it answers 404 and the tiles say "deploys: break-glass only".
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, g, jsonify, redirect, request, url_for

from raxx_console.auth.access import actor, current_user, require_role, wants_json
from raxx_console.auth.models import Role
from raxx_console.context import console, db_session
from raxx_console.deploys import DEFAULT_REF, service
from raxx_console.deploys.models import DISPATCH_FAILED, KIND_UI, Deploy
from raxx_console.errors import ApiError
from raxx_console.flags import registry as flag_names
from raxx_console.middleware.env_guard import selected_env

bp = Blueprint("deploys", __name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _view(deploy: Deploy) -> service.DeployView:
    ctx = console()
    return service.DeployView(deploy, ctx.clock.now(), ctx.settings.DEPLOY_INCIDENT_WINDOW)


@bp.app_context_processor
def _deploy_helpers() -> dict[str, Any]:
    """``deploy_ui()`` for tiles and the panel, ``deploy_chip()`` for the header; read once per request.

    The Deploy dialog's idempotency key is made in the browser, one per surface and page load."""

    def deploy_ui() -> dict[str, Any]:
        if "deploy_ui" not in g:
            ctx, user = console(), current_user()
            session = db_session()
            bindings = ctx.surfaces.workflow_map()
            g.deploy_ui = {
                "enabled": ctx.flags.is_enabled(flag_names.DEPLOY_UI_FLAG),
                "operator": user is not None and user.role >= Role.operator,
                "admin": user is not None and user.role >= Role.admin,
                "bindings": bindings,
                "promotion_only": {sid for sid, b in bindings.items() if service.promotion_only(b)},
                "latest": {sid: _view(d) for sid, d in service.latest_by_surface(session).items()},
                "recent": [_view(d) for d in service.recent(session)],
                "default_ref": DEFAULT_REF,
            }
        ui: dict[str, Any] = g.deploy_ui
        return ui

    def deploy_chip() -> bool:
        return current_user() is not None and console().flags.is_enabled(flag_names.DEPLOY_CHIP_FLAG)

    return {"deploy_ui": deploy_ui, "deploy_chip": deploy_chip}


def _input() -> Any:
    if request.mimetype in FORM_TYPES:
        return request.form
    data = request.get_json(force=True, silent=True) if request.get_data() else {}
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object", field="body")
    return data


def _from_page_form() -> bool:
    return request.mimetype in FORM_TYPES and not wants_json()


@bp.post("/console/deploys/<surface_id>")
@require_role(Role.operator)
def deploy(surface_id: str) -> Response | tuple[Response, int]:
    ctx = console()
    if not ctx.flags.is_enabled(flag_names.DEPLOY_UI_FLAG):
        raise ApiError(404, "not_found", f"deploys from the console are off ({flag_names.DEPLOY_UI_FLAG})")
    data = _input()
    user = current_user()
    key = data.get("idempotency_key") or None
    who, env = actor(), selected_env()
    db_session().commit()  # end the request's read transaction: none may span GitHub calls
    try:
        row, created = service.deploy_now(
            ctx,
            surface_id=surface_id,
            ref=data.get("ref"),
            actor=who,
            env=env,
            kind=KIND_UI,
            role=user.role if user is not None else None,
            confirm=data.get("confirm"),
            idempotency_key=key if isinstance(key, str) else None,
            wait=not ctx.flags.is_enabled(flag_names.DEPLOY_ASYNC_FLAG),
        )
    except service.DeployError as exc:
        if _from_page_form():
            return _back_to_grid(f"{surface_id}: {exc}", "warning")
        extra = {"field": exc.field} if exc.field else {}
        raise ApiError(exc.status, exc.code, str(exc), **extra) from None
    body = _view(row).to_json() | {"idempotent": not created}
    if row.status == DISPATCH_FAILED:
        unknown_ref = (row.reason or "").startswith(service.UNKNOWN_REF)
        message = f"{'not dispatched' if unknown_ref else 'GitHub did not take the dispatch'}: {row.reason}"
        if _from_page_form():
            return _back_to_grid(f"{surface_id}: {message}", "warning")
        error = service.UNKNOWN_REF if unknown_ref else "dispatch_failed"
        return jsonify({"error": error, "message": message, "field": "ref", "deploy": body}), (
            422 if unknown_ref else 502
        )
    if _from_page_form():
        return _back_to_grid(f"{surface_id}: deploy of {row.ref} {row.status}", "success")
    if row.run_id is None:
        body["message"] = (
            "dispatched; still resolving the run" if row.dispatched_at else "queued for the worker"
        )
        return jsonify(body), 202
    return jsonify(body), 200


def _back_to_grid(message: str, category: str) -> Response:
    flash(message, category)
    return redirect(url_for("status.grid"), code=303)  # type: ignore[return-value]


@bp.get("/console/deploys.json")
@require_role(Role.viewer)
def deploys_json() -> Response:
    """In-flight deploys (the chip) and the recent ones (the panel, the tiles)."""
    session = db_session()
    return jsonify(
        {
            "in_flight": [_view(d).to_json() for d in service.in_flight(session)],
            "recent": [_view(d).to_json() for d in service.recent(session)],
            "latest": {sid: _view(d).to_json() for sid, d in service.latest_by_surface(session).items()},
        }
    )


@bp.get("/console/deploys/<int:deploy_id>.json")
@require_role(Role.viewer)
def deploy_json(deploy_id: int) -> Response:
    row = db_session().get(Deploy, deploy_id)
    if row is None:
        raise ApiError(404, "unknown_deploy", f"there is no deploy {deploy_id}")
    return jsonify(_view(row).to_json())
