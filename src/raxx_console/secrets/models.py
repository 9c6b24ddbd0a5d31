"""``secret_rotations``: one row per rotation run — its step and fingerprint, never a value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, JSONDocument

ROTATION_RUNNING = "running"
ROTATION_INCOMPLETE = "incomplete"
ROTATION_DONE = "done"
ROTATION_STATES = (ROTATION_RUNNING, ROTATION_INCOMPLETE, ROTATION_DONE)

#: The steps, in order; ``app:<name>`` is one per app holding the secret.
STEP_VAULT = "vault"
STEP_ENROL = "enrol"
STEP_VERIFY = "verify"
STEP_RETIRE = "retire"
STEP_DONE = "done"
APP_STEP_PREFIX = "app:"


class SecretRotation(Base):
    """A rotation of one secret. At most one per secret is open (running or incomplete), by a
    partial unique index, so two Rotate clicks never make two values (docs/decisions.md)."""

    __tablename__ = "secret_rotations"
    __table_args__ = (
        Index(
            "uq_secret_rotations_one_open",
            "secret_name",
            unique=True,
            postgresql_where=text("state != 'done'"),
            sqlite_where=text("state != 'done'"),
        ),
        Index("ix_secret_rotations_name_started", "secret_name", "started_at"),
        CheckConstraint("state IN ('running', 'incomplete', 'done')", name="ck_secret_rotations_state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret_name: Mapped[str] = mapped_column(String(100), nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False)
    #: The step running now, or the one that failed (``incomplete``).
    step: Mapped[str] = mapped_column(String(120), nullable=False)
    #: Why the step failed: an adapter's reason code, never a message from the far side.
    reason: Mapped[str | None] = mapped_column(String(100))
    #: sha256 prefix of the new value, recorded before the vault is written.
    fingerprint: Mapped[str | None] = mapped_column(String(16))
    #: The vault versions written (the new value) and replaced (the old one).
    vault_version: Mapped[int | None] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    apps_done: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False, default=list)
    retired: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column()
