"""The audit log. The runbooks query it by name: ``audit_log`` and the view ``console_audit_log``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, BigId, JSONDocument


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action_created_at", "action", "created_at"),
        # Newest-first keyset pages of the audit page (migration 0009).
        Index("ix_audit_log_created_at_id", "created_at", "id"),
        Index("ix_audit_log_actor_created_at_id", "actor", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    selected_env: Mapped[str] = mapped_column(String(20), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
