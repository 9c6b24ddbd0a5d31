"""Customers (entry point C: a customer's FreeScout tickets).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from raxx_console.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("email = lower(email)", name="ck_customers_email_lower"),
    )


def downgrade() -> None:
    op.drop_table("customers")
