"""Deploys dispatched through SURFACE_WORKFLOW_MAP and the runs they started.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import BigId, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploys",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("surface_id", sa.String(100), nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("target_env", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(40)),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("selected_env", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(100), unique=True),
        sa.Column("run_id", BigId, unique=True),
        sa.Column("run_url", sa.String(500)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("conclusion", sa.String(20)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched_at", UTCDateTime()),
        sa.Column("completed_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_deploys_surface_created", "deploys", ["surface_id", "created_at"])
    op.create_index("ix_deploys_status", "deploys", ["status"])


def downgrade() -> None:
    op.drop_table("deploys")
