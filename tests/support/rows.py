"""Reading rows back in tests: audit rows and detached ORM rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from raxx_console.context import Console


def audit_rows(console: Console, action: str | None = None) -> list[Any]:
    """Every audit row (optionally of one action), oldest first, detached from any session."""

    from raxx_console.audit.models import AuditLog

    query = select(AuditLog).order_by(AuditLog.id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    return detached_rows(console, query)


def detached_rows(console: Console, query: Any) -> list[Any]:
    """The rows ``query`` selects, detached from their session so a test can read them freely."""
    with console.db.session() as session:
        rows = list(session.scalars(query))
        session.expunge_all()
    return rows
