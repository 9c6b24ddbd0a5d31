"""Secret rotations (/console/secrets): each run's step and fingerprint, never a value.

Revision ID: 0008
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import JSONDocument, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = sa.text("state != 'done'")


def upgrade() -> None:
    op.create_table(
        "secret_rotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("secret_name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("step", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(100)),
        sa.Column("fingerprint", sa.String(16)),
        sa.Column("vault_version", sa.Integer),
        sa.Column("previous_version", sa.Integer),
        sa.Column("apps_done", JSONDocument, nullable=False),
        sa.Column("retired", sa.String(255)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.CheckConstraint("state IN ('running', 'incomplete', 'done')", name="ck_secret_rotations_state"),
    )
    op.create_index(
        "uq_secret_rotations_one_open",
        "secret_rotations",
        ["secret_name"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_secret_rotations_name_started", "secret_rotations", ["secret_name", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_secret_rotations_name_started", table_name="secret_rotations")
    op.drop_index("uq_secret_rotations_one_open", table_name="secret_rotations")
    op.drop_table("secret_rotations")
