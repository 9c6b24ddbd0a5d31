"""``ticket_id`` means FreeScout's conversation id only: our foreign keys become ``ticket_pk``.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: RENAME COLUMN keeps the foreign key and its data on PostgreSQL and SQLite (3.25+) alike.
RENAMED = (("alerts", "ticket_id", "ticket_pk"), ("outbox", "ticket_id", "ticket_pk"))


def upgrade() -> None:
    for table, old, new in RENAMED:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")


def downgrade() -> None:
    for table, old, new in RENAMED:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {old}")
