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


class FlagPromotionMark(Base):
    """On staging: "promote this flag's staging value to prod" (``flags.promotions``).

    ``closed_at`` is set when prod promotes it (through the peer link) or a newer mark replaces it.
    """

    __tablename__ = "flag_promotion_marks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    flag: Mapped[str] = mapped_column(String(100), nullable=False)
    value: Mapped[bool] = mapped_column(Boolean, nullable=False)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    marked_by: Mapped[str] = mapped_column(String(255), nullable=False)
    marked_at: Mapped[datetime] = mapped_column(nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by: Mapped[str | None] = mapped_column(String(255))
    #: ``promoted`` (by prod) or ``superseded`` (a newer mark of the same flag).
    closed_reason: Mapped[str | None] = mapped_column(String(20))


class FlagPromotion(Base):
    """On prod: one row per staging mark promoted here; the unique ``mark_id`` makes it once only."""

    __tablename__ = "flag_promotions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    mark_id: Mapped[int] = mapped_column(nullable=False, unique=True)
    flag: Mapped[str] = mapped_column(String(100), nullable=False)
    from_value: Mapped[bool] = mapped_column(Boolean, nullable=False)
    to_value: Mapped[bool] = mapped_column(Boolean, nullable=False)
    marked_by: Mapped[str] = mapped_column(String(255), nullable=False)
    marked_at: Mapped[datetime] = mapped_column(nullable=False)
    promoted_by: Mapped[str] = mapped_column(String(255), nullable=False)
    promoted_at: Mapped[datetime] = mapped_column(nullable=False)
    #: When staging confirmed the mark closed; None while that is still owed (peer was down).
    closed_on_peer_at: Mapped[datetime | None] = mapped_column()
