"""Drops ``ix_alerts_surface_id``: no query reads alerts by ``surface_id``.

The surface's open tickets are found through ``tickets`` (its own ``surface_id`` index), never
through ``alerts``; the index was written by every new alert and every repeat that was not a HOT
update. On a database of 88,000 alerts, inserting 2,000 rows took 26.5-29.5 ms without it and
35.7-36.4 ms with it (docs/decisions.md, "Ingest: no JIT, and no index nobody reads").

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_alerts_surface_id", table_name="alerts")


def downgrade() -> None:
    op.create_index("ix_alerts_surface_id", "alerts", ["surface_id"])
