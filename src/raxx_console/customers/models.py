"""The console's customers: who an operator can look up to see their FreeScout tickets (entry C)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base


class Customer(Base):
    """One customer; FreeScout conversations are found by ``email`` (stored lower-case)."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("email = lower(email)", name="ck_customers_email_lower"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(nullable=False)
