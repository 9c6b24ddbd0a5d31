"""record(): one row per mutation, in the mutation's own transaction, UTC, on both backends."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select, text

from raxx_console.audit import service as audit
from raxx_console.audit.models import AuditLog
from raxx_console.clock import ManualClock


def test_a_row_commits_with_the_change_it_records(database):
    clock = ManualClock()
    with database.session() as session:
        audit.record(
            session,
            clock,
            action="console.flags.toggled",
            actor="op@raxx.app",
            selected_env="staging",
            payload={"flag": "FLAG_X", "before": {"value": False}, "after": {"value": True}},
        )
    with database.session() as session:
        [stored] = session.scalars(select(AuditLog))
        assert (stored.action, stored.actor, stored.selected_env) == (
            "console.flags.toggled",
            "op@raxx.app",
            "staging",
        )
        assert stored.payload["after"] == {"value": True}
        assert stored.created_at == clock.now() and stored.created_at.tzinfo is UTC


def test_a_rolled_back_change_leaves_no_row(database):
    with pytest.raises(RuntimeError), database.session() as session:
        audit.record(
            session, ManualClock(), action="console.x", actor="system:test", selected_env="development"
        )
        session.flush()
        raise RuntimeError("the change failed")
    with database.session() as session:
        assert session.scalar(select(AuditLog)) is None


def test_recent_is_newest_first_and_filters(database):
    clock = ManualClock()
    with database.session() as session:
        for n, action in enumerate(["a.one", "b.two", "a.one", "c.three"]):
            audit.record(
                session, clock, action=action, actor="system:test", selected_env="staging", payload={"n": n}
            )
            clock.advance(60)
    with database.session() as session:
        assert [r.payload["n"] for r in audit.recent(session)] == [3, 2, 1, 0]
        assert [r.payload["n"] for r in audit.recent(session, actions=("a.one",))] == [2, 0]
        since = clock.now() - timedelta(seconds=150)
        assert [r.payload["n"] for r in audit.recent(session, since=since)] == [3, 2]
        assert [r.payload["n"] for r in audit.recent(session, limit=1)] == [3]


def test_console_audit_log_shows_the_same_rows(database):
    """The cockpit runbook's name for the table (§5)."""
    with database.session() as session:
        audit.record(
            session, ManualClock(), action="console.x", actor="system:test", selected_env="production"
        )
    with database.engine.connect() as conn:
        table = conn.execute(text("SELECT id, action, actor, selected_env FROM audit_log")).all()
        view = conn.execute(text("SELECT id, action, actor, selected_env FROM console_audit_log")).all()
    assert table == view and len(view) == 1
