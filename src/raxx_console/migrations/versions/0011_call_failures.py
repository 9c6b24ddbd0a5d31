"""The failure history: FreeScout and Slack calls that failed, kept for a day.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import BigId, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_failures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("component", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("outbox_item_id", sa.Integer),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_call_failures_at", "call_failures", ["at"])


def downgrade() -> None:
    op.drop_index("ix_call_failures_at", table_name="call_failures")
    op.drop_table("call_failures")
