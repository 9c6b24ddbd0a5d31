"""/console/flags/promotions: mark on staging, promote on prod; and staging's peer API for prod.

The page's half is decided by the host's env (``env_guard``): on production it lists staging's
open marks (read through the peer link) and lets an admin promote one; anywhere else it is where
operators mark flags. The peer API (``/api/peer/flags/marks…``) answers the other console only.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from raxx_console.auth.access import actor, current_user, require_role, require_service
from raxx_console.auth.models import Role
from raxx_console.context import console, db_session
from raxx_console.errors import ApiError
from raxx_console.flags import promotions
from raxx_console.flags.models import FlagPromotion, FlagPromotionMark
from raxx_console.flags.promotions import PEER_MARKS_PATH, PeerMark, PromotionRefused
from raxx_console.flags.registry import FLAGS
from raxx_console.flags.service import UnknownFlag
from raxx_console.integrations.registry import peer_link
from raxx_console.middleware.env_guard import selected_env
from raxx_console.peers import PeerLink, PeerOutcome, PeerStatus

bp = Blueprint("flag_promotions", __name__)

Page = tuple[str, int]


def _on_prod() -> bool:
    return selected_env() == "production"


def _role_at_least(role: Role) -> bool:
    user = current_user()
    return user is not None and user.role >= role


@bp.get("/console/flags/promotions")
@require_role(Role.viewer)
def index() -> str | Page:
    return _prod_page() if _on_prod() else _staging_page()


# --------------------------------------------------------------------------- staging: marks


def _staging_page(error: str | None = None, status: int = 200) -> Page:
    ctx, db = console(), db_session()
    rows = [promotions.mark_json(ctx.flags, db, row) for row in promotions.marks(db, open_only=False)]
    return render_template(
        "flags/promotions_staging.html",
        open_marks=[row for row in rows if row["open"]],
        closed_marks=[row for row in rows if not row["open"]][:20],
        flags=[ctx.flags.resolve_fresh(db, spec.name) for spec in FLAGS],
        can_mark=_role_at_least(Role.operator),
        error=error,
    ), status


@bp.post("/console/flags/promotions/marks")
@require_role(Role.operator)
def mark() -> ResponseReturnValue:
    if _on_prod():
        return _prod_page(error="Flags are marked on staging and promoted here.", status=409)
    ctx, db = console(), db_session()
    flag = request.form.get("flag", "")
    try:
        row = promotions.mark(
            db,
            ctx.clock,
            ctx.flags,
            flag=flag,
            note=request.form.get("note", ""),
            actor=actor(),
            env=selected_env(),
        )
    except UnknownFlag:
        return _staging_page(error=f"There is no flag called {flag or '(none)'}.", status=400)
    except PromotionRefused as exc:
        return _staging_page(error=exc.message, status=400)
    db.commit()
    flash(
        f"{row.flag} marked for promotion ({'on' if row.value else 'off'}); an admin promotes it on prod.",
        "success",
    )
    return redirect(url_for("flag_promotions.index"), code=303)


# --------------------------------------------------------------------------- prod: promote


def _close_on_staging(link: PeerLink, promotion: FlagPromotion) -> PeerOutcome:
    """Close the promoted mark on staging; a mark staging already closed counts as closed."""
    outcome = link.post(
        f"{PEER_MARKS_PATH}/{promotion.mark_id}/close", {"promoted_by": promotion.promoted_by}
    )
    if outcome.ok or (outcome.status is PeerStatus.REJECTED and outcome.http_status == 409):
        promotion.closed_on_peer_at = console().clock.now()
        db_session().commit()
    return outcome


def _prod_page(error: str | None = None, status: int = 200, peer_problem: PeerOutcome | None = None) -> Page:
    ctx, db = console(), db_session()
    link = peer_link(ctx)
    for owed in promotions.owed_closes(db):
        closed = _close_on_staging(link, owed)
        if not closed.ok and closed.status is not PeerStatus.REJECTED:
            break  # staging is down: try again on the next view
    outcome = link.get(PEER_MARKS_PATH)
    body = outcome.body if outcome.ok and isinstance(outcome.body, dict) else {}
    marks = [m for m in map(PeerMark.from_json, body.get("marks") or []) if m is not None]
    if outcome.ok and "marks" not in body:
        outcome = PeerOutcome(PeerStatus.UNREACHABLE, link.name, reason="its answer had no list of marks")
    rows = []
    for peer_mark in marks:
        try:
            res = ctx.flags.resolve_fresh(db, peer_mark.flag)
        except UnknownFlag:
            res = None
        refused = promotions.refusal(db, ctx.flags, ctx.settings, peer_mark)
        rows.append({"mark": peer_mark, "prod": res, "refused": refused})
    problem = peer_problem or (None if outcome.ok else outcome)
    return render_template(
        "flags/promotions_prod.html",
        rows=rows,
        peer_banner=problem.banner if problem else None,
        peer_name=link.name,
        recent=promotions.recent_promotions(db),
        can_promote=_role_at_least(Role.admin),
        error=error,
    ), status


@bp.post("/console/flags/promotions/<int:mark_id>/promote")
@require_role(Role.admin)
def promote(mark_id: int) -> ResponseReturnValue:
    if not _on_prod():
        return _staging_page(error="Promote on the production console; marks are made here.", status=409)
    ctx, db = console(), db_session()
    link = peer_link(ctx)
    outcome = link.get(f"{PEER_MARKS_PATH}/{mark_id}")
    if outcome.status is PeerStatus.REJECTED and outcome.http_status == 404:
        return _prod_page(error=f"Staging has no mark {mark_id}.", status=404)
    peer_mark = PeerMark.from_json(outcome.body) if outcome.ok else None
    if peer_mark is None:
        problem = (
            outcome if not outcome.ok else PeerOutcome(PeerStatus.UNREACHABLE, link.name, reason="bad answer")
        )
        return _prod_page(error="Nothing was promoted.", status=503, peer_problem=problem)
    try:
        promotion = promotions.promote(
            db, ctx.clock, ctx.flags, ctx.settings, peer_mark=peer_mark, actor=actor(), env=selected_env()
        )
        db.commit()
    except PromotionRefused as exc:
        db.rollback()
        return _prod_page(error=f"Not promoted: {exc.message}.", status=409)
    ctx.flags.clear_cache()
    value = "on" if promotion.to_value else "off"
    closed = _close_on_staging(link, promotion)
    if closed.ok:
        flash(
            f"{promotion.flag} promoted: {value} on prod (database value); staging's mark is closed.",
            "success",
        )
    else:
        flash(
            f"{promotion.flag} promoted: {value} on prod (database value). The mark could not be closed "
            f"on staging yet ({closed.reason}); it is closed when staging answers.",
            "warning",
        )
    return redirect(url_for("flag_promotions.index"), code=303)


# --------------------------------------------------------------------------- staging's peer API


@bp.get(PEER_MARKS_PATH)
@require_service
def peer_marks() -> Response:
    ctx, db = console(), db_session()
    marks = promotions.marks(db, open_only=True)
    return jsonify({"env": selected_env(), "marks": [promotions.mark_json(ctx.flags, db, m) for m in marks]})


@bp.get(f"{PEER_MARKS_PATH}/<int:mark_id>")
@require_service
def peer_mark(mark_id: int) -> Response:
    row = db_session().get(FlagPromotionMark, mark_id)
    if row is None:
        raise ApiError(404, "unknown_mark", f"there is no mark {mark_id}", mark_id=mark_id)
    return jsonify(promotions.mark_json(console().flags, db_session(), row))


@bp.post(f"{PEER_MARKS_PATH}/<int:mark_id>/close")
@require_service
def peer_close(mark_id: int) -> Response:
    body = request.get_json(force=True, silent=True)
    promoted_by = body.get("promoted_by") if isinstance(body, dict) else None
    if not isinstance(promoted_by, str) or not promoted_by.strip() or len(promoted_by) > 255:
        raise ApiError(400, "invalid_promoted_by", '"promoted_by" must name the admin who promoted the mark')
    ctx, db = console(), db_session()
    try:
        row = promotions.close_mark(
            db, ctx.clock, mark_id=mark_id, promoted_by=promoted_by.strip(), actor=actor(), env=selected_env()
        )
    except PromotionRefused as exc:
        db.rollback()
        raise ApiError(404 if exc.reason == "unknown_mark" else 409, exc.reason, exc.message) from None
    db.commit()
    return jsonify(promotions.mark_json(ctx.flags, db, row))
