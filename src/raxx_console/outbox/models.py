"""The ``outbox`` table: one call to make to a third party (create, note, close, reopen, tag, Slack DM).

Items are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), retried with capped
backoff while the service is unavailable, and end ``done``, ``failed``, ``expired`` or
``cancelled`` with the reason recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, BigId, JSONDocument

OUTBOX_PENDING = "pending"
OUTBOX_DONE = "done"
OUTBOX_FAILED = "failed"
OUTBOX_EXPIRED = "expired"
OUTBOX_CANCELLED = "cancelled"


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "uq_outbox_one_pending_per_key",
            "kind",
            "dedup_key",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: One of ``outbox.kinds``.
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    #: Our ``tickets`` row the call is about (not FreeScout's conversation id).
    ticket_pk: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default=OUTBOX_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(nullable=False)
    #: A deliverer holds the item until then; a crashed one's lease simply runs out.
    lease_until: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    last_reason: Mapped[str | None] = mapped_column(String(60))
    last_detail: Mapped[str | None] = mapped_column(Text)
