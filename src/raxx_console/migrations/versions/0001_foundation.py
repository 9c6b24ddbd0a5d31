"""Foundation: audit log (+ console_audit_log view), users, API tokens, flag overrides, surfaces.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import BigId, JSONDocument, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("selected_env", sa.String(20), nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
    )
    op.create_index("ix_audit_log_action_created_at", "audit_log", ["action", "created_at"])
    op.execute("CREATE VIEW console_audit_log AS SELECT * FROM audit_log")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime()),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_table(
        "flag_overrides",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )
    op.create_table(
        "surface_status",
        sa.Column("surface_id", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("checked_at", UTCDateTime()),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("changed_at", UTCDateTime()),
        sa.Column("simulated_status", sa.String(20)),
        sa.Column("simulated_until", UTCDateTime()),
        sa.Column("simulated_by", sa.String(255)),
        sa.Column("hysteresis", JSONDocument, nullable=False),
    )
    op.create_table(
        "surface_checks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "surface_id",
            sa.String(100),
            sa.ForeignKey("surface_status.surface_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("condition", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_surface_checks_surface_checked", "surface_checks", ["surface_id", "checked_at"])


def downgrade() -> None:
    op.drop_table("surface_checks")
    op.drop_table("surface_status")
    op.drop_table("flag_overrides")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.execute("DROP VIEW console_audit_log")
    op.drop_table("audit_log")
