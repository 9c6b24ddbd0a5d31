"""Tickets we file in FreeScout.

A ``Ticket`` row is written *before* FreeScout is called: it is the reservation that makes
filing exactly-once (at most one pending row per entry + dedup key, by a partial unique index),
and afterwards the durable ``key → conversation`` mapping that survives restarts and extra
workers. Its short ``ref`` travels in the subject, so a create whose answer was lost (timeout)
can be found in FreeScout before anything is created again.
Its calls to FreeScout go through the outbox (``raxx_console.outbox``).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, BigId, JSONDocument

#: Entry points of the overview: A files from the status grid, B from the alerts pipeline.
ENTRY_STATUS = "status"
ENTRY_ALERT = "alert"

#: Ticket states. ``pending``: reserved, FreeScout not (yet) known to have it.
TICKET_PENDING = "pending"
TICKET_FILED = "filed"
TICKET_FAILED = "failed"
TICKET_EXPIRED = "expired"
TICKET_CANCELLED = "cancelled"


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index(
            "uq_tickets_one_pending_per_key",
            "entry",
            "dedup_key",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_tickets_key_created", "entry", "dedup_key", "created_at"),
        Index("ix_tickets_surface", "surface_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry: Mapped[str] = mapped_column(String(10), nullable=False)
    #: A: ``<surface_id>:<status>``; B: the ``alert_key``.
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    #: Short reference carried in the subject, e.g. ``RX-3F9A1C2B``.
    ref: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default=TICKET_PENDING)
    surface_id: Mapped[str | None] = mapped_column(String(100))
    surface_status: Mapped[str | None] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(2))
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    body_html: Mapped[str] = mapped_column(Text, nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    mailbox_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    #: After this a still-pending request is dropped with a reason (A: 60 min).
    expires_at: Mapped[datetime | None] = mapped_column()
    #: Filled once FreeScout has the conversation.
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    ticket_url: Mapped[str | None] = mapped_column(String(500))
    filed_at: Mapped[datetime | None] = mapped_column()
    tags_applied: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: FreeScout's status as last read (active, pending, closed, spam, deleted).
    fs_status: Mapped[str | None] = mapped_column(String(12))
    fs_checked_at: Mapped[datetime | None] = mapped_column()
    #: Set when *we* closed it (auto-resolve); a human close leaves it null.
    auto_closed_at: Mapped[datetime | None] = mapped_column()
    #: Why it is not (yet) filed: the last failure reason, e.g. ``freescout_unavailable``.
    last_reason: Mapped[str | None] = mapped_column(String(60))
    last_detail: Mapped[str | None] = mapped_column(Text)


#: The table itself, for Core statements where the ORM layer would only cost (a click's hot path).
TICKETS = cast(Table, Ticket.__table__)
