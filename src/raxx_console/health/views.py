"""Service endpoints (/healthz, /version, /metrics) and the pipeline health panel (/console/health)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from prometheus_client.exposition import choose_encoder

from raxx_console.auth.access import current_user, require_role, require_service, wants_json
from raxx_console.auth.models import Role
from raxx_console.clock import ago, iso
from raxx_console.context import console, db_session
from raxx_console.health import doctor, panel
from raxx_console.health.metrics import registry_for as metrics_registry
from raxx_console.integrations.registry import peer_link
from raxx_console.version import running_version

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    if console().db.ping():
        return jsonify({"status": "ok", "database": "ok"}), 200
    return jsonify({"status": "unavailable", "database": "unreachable"}), 503


@bp.get("/version")
def version() -> Response:
    """The running SHA and its deploy time (raxx_console/version.py)."""
    ctx = console()
    running = running_version(ctx.settings, ctx.env)
    return jsonify({"sha": running.sha, "env": running.env, "deployed_at": running.deployed_at})


@bp.get("/api/peer/version")
@require_service
def peer_version() -> Response:
    """``/version`` for the other console, through the peer link (which checks the token too)."""
    return version()


# --- the pipeline health panel and /metrics -------------------------------------------------


@bp.context_processor
def _time_helpers() -> dict[str, Any]:
    now = console().clock.now()
    return {"ago": lambda when: ago(now, when) if when else "never", "iso": iso}


def _render_panel(checks: list[doctor.CheckResult] | None = None) -> str:
    ctx = console()
    snapshot = panel.collect(ctx, db_session())
    return render_template(
        "health/panel.html",
        snap=snapshot,
        checks=checks,
        can_run_checks=current_user().role >= Role.operator,  # type: ignore[union-attr]
        peer=peer_link(ctx),
        refresh_seconds=max(5, int(ctx.settings.POLL_INTERVAL_SECONDS)),
    )


@bp.get("/console/health")
@require_role(Role.viewer)
def panel_page() -> str:
    return _render_panel()


@bp.get("/console/health.json")
@require_role(Role.viewer)
def panel_json() -> Response:
    return jsonify(panel.collect(console(), db_session()).to_json())


@bp.post("/console/health/checks")
@require_role(Role.operator)
def run_checks() -> Response | str:
    """The doctor's live checks, on demand: the panel never calls FreeScout on a page view."""
    checks = doctor.run_checks(console())
    if wants_json():
        return jsonify({"checks": [c.to_json() for c in checks], "exit_code": doctor.exit_code(checks)})
    return _render_panel(checks)


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format. Open outside production; in production it needs a bearer API
    token (any role), since the series name env vars, surfaces and failure reasons."""
    if console().settings.is_production and current_user() is None:
        return Response(
            "authentication required: send an API token as Authorization: Bearer <token>\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(metrics_registry(console())), headers={"Content-Type": content_type})
