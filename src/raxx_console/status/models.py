"""What the grid shows: each surface's current status and its recent checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, BigId, JSONDocument


class SurfaceStatus(Base):
    """One row per surface: the status the tile shows and the poller's hysteresis state."""

    __tablename__ = "surface_status"

    surface_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="unknown")
    checked_at: Mapped[datetime | None] = mapped_column()
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    changed_at: Mapped[datetime | None] = mapped_column()
    #: An operator's test degradation (rollout Step 2): wins over probes until it expires.
    simulated_status: Mapped[str | None] = mapped_column(String(20))
    simulated_until: Mapped[datetime | None] = mapped_column()
    simulated_by: Mapped[str | None] = mapped_column(String(255))
    #: ``status.hysteresis`` state, persisted so a restarted worker keeps its counters.
    hysteresis: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)


class SurfaceCheck(Base):
    """A probe result, kept for the tile's history strip and the ticket body."""

    __tablename__ = "surface_checks"
    __table_args__ = (Index("ix_surface_checks_surface_checked", "surface_id", "checked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    surface_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("surface_status.surface_id", ondelete="CASCADE"), nullable=False
    )
    checked_at: Mapped[datetime] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    condition: Mapped[str] = mapped_column(String(20), nullable=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
