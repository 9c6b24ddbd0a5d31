"""Deploys meet incidents: the recent deploy a ticket, a note or a tile names as the likely cause.

Most incidents follow a change. A ticket filed for a surface within ``DEPLOY_INCIDENT_WINDOW`` of a
deploy to it names that deploy (SHA, ref, actor, when, run link, still running or not); the tile
says "deployed 14 min ago by …". This module reads our ``deploys`` table only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from raxx_console.clock import Clock
from raxx_console.deploys.models import DISPATCH_FAILED, Deploy
from raxx_console.tickets import render


def suspect_deploy(session: Session, now: datetime, window_seconds: float, surface_id: str) -> Deploy | None:
    """The newest deploy to ``surface_id`` started within the window (failed dispatches never ran)."""
    since = now - timedelta(seconds=window_seconds)
    return session.scalar(_SUSPECT, {"surface_id": surface_id, "since": since})


#: ``suspect_deploy``'s query, built once: every new ticket runs it.
_SUSPECT = (
    select(Deploy)
    .where(
        Deploy.surface_id == bindparam("surface_id"),
        Deploy.status != DISPATCH_FAILED,
        Deploy.created_at >= bindparam("since"),
    )
    .order_by(Deploy.created_at.desc(), Deploy.id.desc())
    .limit(1)
)


def ago(then: datetime, now: datetime) -> str:
    """``just now``, ``14 min ago``, ``2 h 5 min ago``."""
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h {minutes % 60} min ago"


def progress(deploy: Deploy) -> str:
    """``still running (in_progress)``, ``completed: success``, ``dispatch failed``."""
    if deploy.in_flight:
        return f"still running ({deploy.status})"
    if deploy.status == DISPATCH_FAILED:
        return "dispatch failed"
    return f"completed: {deploy.conclusion or 'unknown'}"


def deployed_line(deploy: Deploy, now: datetime) -> str:
    """The tile's words: ``deployed 14 min ago by dana@example.com``."""
    verb = "deploying since" if deploy.in_flight else "deployed"
    when = ago(deploy.created_at, now)
    return f"{verb} {when.removesuffix(' ago') if deploy.in_flight else when} by {deploy.actor}"


def deploy_facts_html(deploy: Deploy, now: datetime) -> Markup:
    """One deploy in a ticket body or note: SHA, ref, actor, when, run link, still running or not."""
    run = render.link(deploy.run_url, f"run {deploy.run_id}") if deploy.run_id else Markup("no run yet")
    return Markup("{} to {} ({}): ref <code>{}</code> at <code>{}</code> by {}, {} ({}); {}; {}.").format(
        deploy.workflow,
        deploy.surface_id,
        deploy.target_env,
        deploy.ref,
        (deploy.sha or "unresolved")[:12],
        deploy.actor,
        render.when(deploy.created_at),
        ago(deploy.created_at, now),
        run,
        progress(deploy),
    )


def suspect_deploy_html(session: Session, clock: Clock, window_seconds: float, surface_id: str | None) -> str:
    """The paragraph a new ticket's body gains when its surface was deployed within the window."""
    if surface_id is None:
        return ""
    now = clock.now()
    deploy = suspect_deploy(session, now, window_seconds, surface_id)
    if deploy is None:
        return ""
    return str(
        Markup("\n<p><strong>Recent deploy</strong> (possible cause): {}</p>").format(
            deploy_facts_html(deploy, now)
        )
    )
