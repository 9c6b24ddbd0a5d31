"""The peer link's service tokens, admins' TOTP enrolments, flag promotion marks and promotions.

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_table(
        "totp_enrolments",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime()),
        sa.Column("last_used_step", sa.BigInteger),
        sa.Column("locked_until", UTCDateTime()),
    )
    op.create_table(
        "flag_promotion_marks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag", sa.String(100), nullable=False),
        sa.Column("value", sa.Boolean, nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("marked_by", sa.String(255), nullable=False),
        sa.Column("marked_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("closed_by", sa.String(255)),
        sa.Column("closed_reason", sa.String(20)),
    )
    op.create_table(
        "flag_promotions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("mark_id", sa.Integer, nullable=False, unique=True),
        sa.Column("flag", sa.String(100), nullable=False),
        sa.Column("from_value", sa.Boolean, nullable=False),
        sa.Column("to_value", sa.Boolean, nullable=False),
        sa.Column("marked_by", sa.String(255), nullable=False),
        sa.Column("marked_at", UTCDateTime(), nullable=False),
        sa.Column("promoted_by", sa.String(255), nullable=False),
        sa.Column("promoted_at", UTCDateTime(), nullable=False),
        sa.Column("closed_on_peer_at", UTCDateTime()),
    )


def downgrade() -> None:
    for table in ("flag_promotions", "flag_promotion_marks", "totp_enrolments", "service_tokens"):
        op.drop_table(table)
