"""Investigate (entry A) and test degradations (rollout Step 2), from the status grid.

Each URL takes the page's fetch (CSRF header, JSON answer), an API client (bearer token, JSON)
and, without script, a plain form post (answered with a redirect back to the grid, where the
tile shows the outcome). FreeScout trouble is never an HTTP error: the click answers 200 with
``degraded`` and the reason in plain words.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, request, url_for

from raxx_console.auth.access import actor, current_user, require_role, wants_json
from raxx_console.auth.models import Role
from raxx_console.clock import iso
from raxx_console.context import console, db_session
from raxx_console.errors import ApiError
from raxx_console.flags.registry import INVESTIGATE_FLAG, LINKED_TICKET_FLAG
from raxx_console.middleware.env_guard import selected_env
from raxx_console.middleware.input_guard import request_json
from raxx_console.status import investigation, service

bp = Blueprint("investigate", __name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _from_page_form() -> bool:
    """A script-less form post from the grid: answer with a redirect, not JSON."""
    return request.mimetype in FORM_TYPES and not wants_json()


def _back_to_grid(message: str, category: str) -> Response:
    flash(message, category)
    return redirect(url_for("status.grid"), code=303)  # type: ignore[return-value]


def _unknown_surface(surface_id: str) -> ApiError:
    return ApiError(404, "unknown_surface", f"there is no surface called '{surface_id}'")


@bp.app_context_processor
def _grid_helpers() -> dict[str, Any]:
    """``investigate_ui()`` for the grid: called by the template, so other pages never pay for it."""

    def investigate_ui() -> dict[str, Any]:
        ctx, user = console(), current_user()
        return {
            "investigate": ctx.flags.is_enabled(INVESTIGATE_FLAG),
            "linked": ctx.flags.is_enabled(LINKED_TICKET_FLAG),
            "operator": user is not None and user.role >= Role.operator,
            "simulation_minutes": service.DEFAULT_SIMULATION_MINUTES,
            "simulation_range": service.SIMULATION_MINUTES,
            "simulation_guarded": production_guarded(),
            "admin": user is not None and user.role >= Role.admin,
        }

    return {"investigate_ui": investigate_ui}


@bp.post("/console/status/investigate/<surface_id>")
@require_role(Role.operator)
def investigate(surface_id: str) -> Response:
    ctx = console()
    if not ctx.flags.is_enabled(INVESTIGATE_FLAG):
        raise ApiError(404, "not_found", f"Investigate is turned off ({INVESTIGATE_FLAG})")
    if ctx.surfaces.get(surface_id) is None:
        raise _unknown_surface(surface_id)
    session = db_session()
    status = service.current_status(session, ctx.clock, surface_id)
    if status not in service.ATTENTION_STATUSES:
        raise ApiError(
            409,
            "surface_not_degraded",
            f"{surface_id} is {status}: Investigate files tickets for degraded or down surfaces",
            surface_status=status,
        )

    def describe() -> service.Tile:
        return service.tile(session, ctx.clock, ctx.surfaces, surface_id)  # type: ignore[return-value]

    # The request's transaction (identity, status) goes on into the first look and, on a first
    # click, the reservation; investigation commits it before any FreeScout call.
    answer = investigation.investigate(
        ctx, surface_id, status, describe=describe, actor=actor(), env=selected_env(), session=session
    )
    if _from_page_form():
        if answer.ticket_url and not answer.degraded:
            reused = f" ({answer.message})" if answer.idempotent and answer.message else ""
            return _back_to_grid(
                f"{surface_id}: ticket #{answer.ticket_id} {answer.ticket_url}{reused}", "success"
            )
        return _back_to_grid(f"{surface_id}: {answer.message}", "warning")
    return jsonify(answer.to_json())


def _input() -> Any:
    """The form, or the JSON object body (an empty body reads as no fields)."""
    if request.mimetype in FORM_TYPES:
        return request.form
    data = request_json() if request.get_data() else {}
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object", field="body")
    return data


#: The form field a production test degradation must carry: the surface id, typed.
CONFIRM_FIELD = "confirm"


def production_guarded() -> bool:
    """Test degradations file real tickets: on a production console they need more than a click."""
    return console().settings.is_production or selected_env() == "production"


def _refuse_unconfirmed_production_test(ctx: Any, surface_id: str, data: Any) -> None:
    """On production: an admin, who typed the surface id (docs/decisions.md, "Test degradation")."""
    if not production_guarded():
        return
    user = current_user()
    if user is None or user.role < Role.admin:
        raise ApiError(403, "admin_required", "a test degradation on production needs an admin")
    if str(data.get(CONFIRM_FIELD) or "").strip() != surface_id:
        raise ApiError(
            400,
            "confirmation_required",
            f"type the surface id ({surface_id}) in '{CONFIRM_FIELD}' to simulate on production",
            field=CONFIRM_FIELD,
        )


@bp.post("/console/status/simulate/<surface_id>")
@require_role(Role.operator)
def simulate(surface_id: str) -> Response:
    ctx = console()
    if ctx.surfaces.get(surface_id) is None:
        raise _unknown_surface(surface_id)
    data = _input()
    _refuse_unconfirmed_production_test(ctx, surface_id, data)
    minutes = data.get("minutes")
    minutes = service.DEFAULT_SIMULATION_MINUTES if minutes in (None, "") else minutes
    try:
        with ctx.db.session() as session:
            row = service.simulate(
                session,
                ctx.clock,
                ctx.surfaces,
                surface_id,
                data.get("status"),
                minutes,
                actor=actor(),
                env=selected_env(),
            )
            status, until = row.simulated_status, row.simulated_until
    except service.SimulationError as exc:
        raise ApiError(400, f"invalid_{exc.field}", str(exc), field=exc.field) from None
    if _from_page_form():
        return _back_to_grid(f"{surface_id}: simulating {status} until {until:%H:%M} UTC", "success")
    return jsonify(
        {
            "surface_id": surface_id,
            "status": status,
            "simulated": True,
            "simulated_until": iso(until),
        }
    )


@bp.post("/console/status/simulate/<surface_id>/clear")
@require_role(Role.operator)
def clear_simulation(surface_id: str) -> Response:
    ctx = console()
    if ctx.surfaces.get(surface_id) is None:
        raise _unknown_surface(surface_id)
    with ctx.db.session() as session:
        cleared = service.clear_simulation(
            session, ctx.clock, ctx.surfaces, surface_id, actor=actor(), env=selected_env()
        )
    if _from_page_form():
        message = "simulation cleared" if cleared else "no simulation was running"
        return _back_to_grid(f"{surface_id}: {message}", "success")
    return jsonify({"surface_id": surface_id, "cleared": cleared})
