"""Alerts (one row per alert identity), their decisions, and worker heartbeats.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import BigId, JSONDocument, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False, unique=True),
        sa.Column("alert_key", sa.String(120), nullable=False, unique=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("check", sa.String(255), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("labels", JSONDocument, nullable=False),
        sa.Column("surface_id", sa.String(100)),
        sa.Column("lifetime", sa.Integer, nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("last_emit_at", UTCDateTime(), nullable=False),
        sa.Column("emit_count", sa.Integer, nullable=False),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id", ondelete="SET NULL")),
        sa.Column("ticket_lifetime", sa.Integer),
        sa.Column("slack_notified_at", UTCDateTime()),
        sa.Column("slack_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_alerts_state_last_emit", "alerts", ["state", "last_emit_at"])
    op.create_index("ix_alerts_surface_id", "alerts", ["surface_id"])

    op.create_table(
        "alert_decisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("alert_pk", BigId, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("alert_key", sa.String(120), nullable=False),
        sa.Column("lifetime", sa.Integer, nullable=False),
        sa.Column("hook", sa.String(40), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("decision", sa.String(30), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("ticket_pk", BigId, sa.ForeignKey("tickets.id", ondelete="SET NULL")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_alert_decisions_alert_hook", "alert_decisions", ["alert_pk", "hook", "id"])
    op.create_index("ix_alert_decisions_alert_key", "alert_decisions", ["alert_key"])

    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("last_cycle_at", UTCDateTime()),
        sa.Column("last_cycle_seconds", sa.Float),
        sa.Column("detail", JSONDocument, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    op.drop_table("alert_decisions")
    op.drop_table("alerts")
