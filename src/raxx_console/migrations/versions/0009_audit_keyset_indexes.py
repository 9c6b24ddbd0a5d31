"""Audit log pages: indexes for newest-first keyset pages, unfiltered and by actor.

The page orders by ``(created_at, id)`` and continues below the last row it showed, so an
index in that order lets PostgreSQL start at the cursor instead of sorting the table; the
actor filter gets its own. An action prefix walks the ``(created_at, id)`` index (see
``bench/audit_pages.py`` for the plans and timings).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_created_at_id", "audit_log", ["created_at", "id"])
    op.create_index("ix_audit_log_actor_created_at_id", "audit_log", ["actor", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_created_at_id", table_name="audit_log")
    op.drop_index("ix_audit_log_created_at_id", table_name="audit_log")
