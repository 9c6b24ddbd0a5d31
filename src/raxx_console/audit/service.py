"""``record()``: every mutation writes one audit row in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raxx_console.audit.models import AuditLog
from raxx_console.clock import Clock


def record(
    session: Session,
    clock: Clock,
    *,
    action: str,
    actor: str,
    selected_env: str,
    payload: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row to ``session``; it commits (or rolls back) with the change it records.

    ``actor`` is a user's email, or ``system:<component>`` for the worker's own acts.
    """
    row = AuditLog(
        created_at=clock.now(),
        action=action,
        actor=actor,
        selected_env=selected_env,
        payload=dict(payload or {}),
    )
    session.add(row)
    return row


def recent(
    session: Session,
    *,
    actions: tuple[str, ...] | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[AuditLog]:
    """Newest first, optionally filtered by action and time."""
    query = select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit)
    if actions:
        query = query.where(AuditLog.action.in_(actions))
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    return list(session.scalars(query))
