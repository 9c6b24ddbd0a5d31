"""Tickets (reservations + key → conversation mapping) and the durable outbox.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import BigId, JSONDocument, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry", sa.String(10), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("ref", sa.String(20), nullable=False, unique=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("surface_id", sa.String(100)),
        sa.Column("surface_status", sa.String(20)),
        sa.Column("severity", sa.String(2)),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("tags", JSONDocument, nullable=False),
        sa.Column("mailbox_id", sa.Integer),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("ticket_id", sa.Integer),
        sa.Column("ticket_url", sa.String(500)),
        sa.Column("filed_at", UTCDateTime()),
        sa.Column("tags_applied", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("fs_status", sa.String(12)),
        sa.Column("fs_checked_at", UTCDateTime()),
        sa.Column("auto_closed_at", UTCDateTime()),
        sa.Column("last_reason", sa.String(60)),
        sa.Column("last_detail", sa.Text),
    )
    op.create_index(
        "uq_tickets_one_pending_per_key",
        "tickets",
        ["entry", "dedup_key"],
        unique=True,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_tickets_key_created", "tickets", ["entry", "dedup_key", "created_at"])
    op.create_index("ix_tickets_surface", "tickets", ["surface_id", "state"])

    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id", ondelete="CASCADE")),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("last_reason", sa.String(60)),
        sa.Column("last_detail", sa.Text),
    )
    op.create_index(
        "uq_outbox_one_pending_per_key",
        "outbox",
        ["kind", "dedup_key"],
        unique=True,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("tickets")
