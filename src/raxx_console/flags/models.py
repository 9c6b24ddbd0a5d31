"""DB overrides of feature flags; the registry of known flags lives in ``flags.registry``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base


class FlagOverride(Base):
    __tablename__ = "flag_overrides"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str] = mapped_column(String(255), nullable=False)
