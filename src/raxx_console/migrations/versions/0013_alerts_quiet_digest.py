"""A quiet repeat no longer reads every hook's latest decision: ``alerts.quiet_digest``.

The digest of the decisions the last quiet repeat of an alert made, which were then the latest
of each hook; a quiet repeat whose decisions have the same digest writes none and needs no
look-up of ``alert_decisions`` (a walk of its index per alert was two thirds of the row lock's
cost). Any other decision written for the alert clears it.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("quiet_digest", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.drop_column("quiet_digest")
