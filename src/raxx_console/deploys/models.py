"""One row per deploy: what was asked (surface, workflow, env, ref), by whom, and how its run went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, BigId

#: Written with the intent audit row; the web request (sync) or the worker (async) dispatches it.
REQUESTED = "requested"
#: A dispatcher has claimed it and is calling GitHub.
DISPATCHING = "dispatching"
#: GitHub refused or could not be reached; ``reason`` says why. Final.
DISPATCH_FAILED = "dispatch_failed"
#: GitHub accepted the dispatch (204) and the run id is still being looked up.
RESOLVING = "resolving"
#: The run's own statuses, as GitHub names them.
QUEUED = "queued"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"

#: Still moving: the chip and the tile's in-flight marker show these.
IN_FLIGHT = (REQUESTED, DISPATCHING, RESOLVING, QUEUED, IN_PROGRESS)
#: The worker's follow-up job looks at these.
FOLLOWED = (REQUESTED, RESOLVING, QUEUED, IN_PROGRESS)

#: How a deploy was started: the tile's modal, the break-glass CLI, a console-version promotion.
KIND_UI = "ui"
KIND_BREAKGLASS = "breakglass"
KIND_PROMOTION = "promotion"


class Deploy(Base):
    __tablename__ = "deploys"
    __table_args__ = (
        Index("ix_deploys_surface_created", "surface_id", "created_at"),
        Index("ix_deploys_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    surface_id: Mapped[str] = mapped_column(String(100), nullable=False)
    workflow: Mapped[str] = mapped_column(String(200), nullable=False)
    target_env: Mapped[str] = mapped_column(String(20), nullable=False)
    ref: Mapped[str] = mapped_column(String(255), nullable=False)
    #: The commit ``ref`` named when it was dispatched.
    sha: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default=KIND_UI)
    selected_env: Mapped[str] = mapped_column(String(20), nullable=False)
    #: One per deploy modal: a double submit finds the first row instead of dispatching again.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    run_id: Mapped[int | None] = mapped_column(BigId, unique=True)
    run_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=REQUESTED)
    conclusion: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    dispatched_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(nullable=False)

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT
