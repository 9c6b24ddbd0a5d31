"""/console/alerts: every alert, its tickets and decisions ("why no ticket? why two?"), and the JSON twins."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template, request

from raxx_console.alerts import store
from raxx_console.alerts.hooks import registered_hooks
from raxx_console.auth.access import require_role
from raxx_console.auth.models import Role
from raxx_console.context import db_session
from raxx_console.errors import ApiError

bp = Blueprint("alerts_page", __name__)

STATES = {"all": None, "firing": "firing", "resolved": "resolved"}
#: The list shows each alert's newest decisions; the alert's own page shows them all.
LIST_DECISIONS = 12


def _state() -> str:
    state = request.args.get("state", "all")
    if state not in STATES:
        raise ApiError(400, "invalid_state", "state must be all, firing or resolved")
    return state


@bp.get("/console/alerts")
@require_role(Role.viewer)
def index() -> str:
    state = _state()
    views = store.alert_views(db_session(), store.list_alerts(db_session(), STATES[state]), LIST_DECISIONS)
    return render_template("alerts/index.html", views=views, state=state, hooks=registered_hooks())


@bp.get("/console/alerts.json")
@require_role(Role.viewer)
def index_json() -> Response:
    views = store.alert_views(db_session(), store.list_alerts(db_session(), STATES[_state()]), LIST_DECISIONS)
    return jsonify({"alerts": [view.to_json() for view in views], "hooks": registered_hooks()})


def _view(alert_key: str) -> store.AlertView:
    alert = store.find_alert(db_session(), alert_key)
    if alert is None:
        abort(404, description=f"there is no alert {alert_key}")
    [view] = store.alert_views(db_session(), [alert], decisions_per_alert=500)
    return view


@bp.get("/console/alerts/<alert_key>")
@require_role(Role.viewer)
def detail(alert_key: str) -> str:
    return render_template("alerts/detail.html", view=_view(alert_key))


@bp.get("/console/alerts/<alert_key>.json")
@require_role(Role.viewer)
def detail_json(alert_key: str) -> Response:
    return jsonify(_view(alert_key).to_json())
