"""/admin/console-versions: both consoles' SHAs, the commits between, and "Promote staging → prod".

The page is for admins. The promote form (a ``<dialog>`` opened by ``static/versions.js``) posts
``word`` and ``code``; a script-less form post is answered with a redirect, a JSON caller with JSON.
Anyone signed in may post, so that a refused non-admin is audited like every other refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from raxx_console.auth import totp
from raxx_console.auth.access import current_user, require_role, wants_json
from raxx_console.auth.models import Role
from raxx_console.context import console, db_session
from raxx_console.deploys import service, versions
from raxx_console.flags import registry as flag_names
from raxx_console.middleware.env_guard import selected_env

bp = Blueprint("console_versions", __name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    ctx, db, user = console(), db_session(), current_user()
    assert user is not None  # require_role ran first
    env = selected_env()
    enrolled = totp.is_enrolled(db, user)
    moving = versions.promotion_in_flight(db)
    db.commit()  # no transaction spans the peer and GitHub calls
    shown = versions.read_versions(ctx, env)
    page = render_template(
        "deploys/versions.html",
        versions=shown,
        on_prod=env == versions.PRODUCTION,
        enrolled=enrolled,
        in_flight=moving,
        confirm_word=versions.CONFIRM_WORD,
        error=error,
    )
    return page, status


@bp.get("/admin/console-versions")
@require_role(Role.admin)
def index() -> tuple[str, int]:
    return _page()


@bp.post("/admin/console-versions/promote")
@require_role(Role.viewer)
def promote() -> ResponseReturnValue:
    ctx, user = console(), current_user()
    assert user is not None
    as_json = wants_json() or request.mimetype not in FORM_TYPES
    data: Mapping[str, Any]
    if request.mimetype in FORM_TYPES:
        data = request.form
    else:
        body = request.get_json(force=True, silent=True)
        data = body if isinstance(body, dict) else {}
    user_id = user.id
    db_session().commit()
    try:
        deploy = versions.promote(
            ctx,
            user_id=user_id,
            word=data.get("word"),
            code=data.get("code"),
            env=selected_env(),
            wait=not ctx.flags.is_enabled(flag_names.DEPLOY_ASYNC_FLAG),
        )
    except versions.PromoteRefused as exc:
        if as_json:
            return jsonify({"error": exc.reason, "message": f"Not promoted: {exc.message}."}), exc.status
        if user.role < Role.admin:
            abort(exc.status, description=f"Not promoted: {exc.message}.")
        return _page(error=f"Not promoted: {exc.message}.", status=exc.status)
    view = service.DeployView(deploy, ctx.clock.now(), ctx.settings.DEPLOY_INCIDENT_WINDOW).to_json()
    if as_json:
        return jsonify({"deploy": view, "promoted_sha": deploy.ref}), 202
    flash(
        f"Promoting {deploy.ref[:7]} to {versions.PROD_SURFACE}: deploy #{deploy.id} {view['progress']}.",
        "success",
    )
    return redirect(url_for("console_versions.index"), code=303)
