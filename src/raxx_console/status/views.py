"""The status grid (/console/status) and its JSON twin."""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template

from raxx_console.auth.access import require_role
from raxx_console.auth.models import Role
from raxx_console.clock import iso
from raxx_console.context import console, db_session
from raxx_console.status import service

bp = Blueprint("status", __name__)


@bp.get("/")
@bp.get("/console/status")
@require_role(Role.viewer)
def grid() -> str:
    ctx = console()
    tiles = service.tiles(
        db_session(),
        ctx.clock,
        ctx.surfaces,
        ticket_window=ctx.settings.INVESTIGATE_DEDUP_WINDOW,
        cache=ctx.components,
    )
    return render_template("status/grid.html", tiles=tiles, poll_interval=ctx.settings.POLL_INTERVAL_SECONDS)


@bp.get("/console/status.json")
@require_role(Role.viewer)
def grid_json() -> Response:
    ctx = console()
    tiles = service.tiles(
        db_session(),
        ctx.clock,
        ctx.surfaces,
        ticket_window=ctx.settings.INVESTIGATE_DEDUP_WINDOW,
        cache=ctx.components,
    )
    # Each tile's JSON text joined: its history strip's text is cached with the strip.
    surfaces = ",".join(tile.json() for tile in tiles)
    body = f'{{"surfaces":[{surfaces}],"generated_at":{json.dumps(iso(ctx.clock.now()))}}}'
    return Response(body, mimetype="application/json")
