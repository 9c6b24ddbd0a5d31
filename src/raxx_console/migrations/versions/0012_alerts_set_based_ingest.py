"""Set-based alert ingest: a repeat rewrites no index of the alerts table.

Drops ``ix_alerts_state_last_emit``: ``last_emit_at`` changes on every repeat, so the index made
every repeat a non-HOT update that rewrote all five indexes of the table, and no query needs it
(the alerts page sorts at most a few hundred rows). On PostgreSQL the table keeps free room in
each page (``fillfactor``) so a repeat's new row version stays in its page (a HOT update).

Drops ``alert_decisions.count`` and ``last_at``: a repeat no longer rewrites its decision row to
count itself — a decision is written only when it changes, and how often the alert repeated is
the alert row's ``emit_count`` and ``last_emit_at``.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_alerts_state_last_emit", table_name="alerts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts SET (fillfactor = 70)")
    with op.batch_alter_table("alert_decisions") as table:
        table.drop_column("count")
        table.drop_column("last_at")


def downgrade() -> None:
    with op.batch_alter_table("alert_decisions") as table:
        table.add_column(sa.Column("last_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
    op.execute("UPDATE alert_decisions SET last_at = created_at")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts RESET (fillfactor)")
    op.create_index("ix_alerts_state_last_emit", "alerts", ["state", "last_emit_at"])
