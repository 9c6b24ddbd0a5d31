"""The failure history: every FreeScout or Slack call that failed, kept for a day.

An outbox item keeps only its newest reason, and a retried call that then succeeds ends
``done`` with nothing to show for its 503s; the incident runbook's Step 5 asks what failed
*recently*, recovered or not. So each failed attempt also leaves a row here, written by
``outbox.record`` in the same transaction as the item, and read by the health panel and
``doctor`` (which therefore never disagree). Rows older than ``RETENTION`` are pruned as new
ones arrive, so the table stays a day long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from raxx_console.db import Base, BigId
from raxx_console.outbox.kinds import component_of

RETENTION = timedelta(hours=24)
#: Components whose calls are recorded (an outbox kind is ``<component>.<call>``).
COMPONENTS = ("freescout", "slack")
#: Retry reasons that are deliberate waits for another item, not failed calls.
WAITS = frozenset({"ticket_not_filed", "close_in_flight", "waiting_for_earlier_dm", "waiting_for_item"})
_DETAIL_CHARS = 500


class CallFailure(Base):
    __tablename__ = "call_failures"
    __table_args__ = (Index("ix_call_failures_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    component: Mapped[str] = mapped_column(String(20), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    reason: Mapped[str] = mapped_column(String(60), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    outbox_item_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(nullable=False)


def note(
    session: Session,
    *,
    kind: str,
    status: str,
    reason: str | None,
    detail: str | None,
    item_id: int,
    at: datetime,
) -> None:
    """Record one outbox attempt's result if it was a failed FreeScout or Slack call."""
    component = component_of(kind)
    if status not in ("retry", "failed", "expired") or not reason or reason in WAITS:
        return
    if component not in COMPONENTS:
        return
    session.execute(delete(CallFailure).where(CallFailure.at < at - RETENTION))
    session.add(
        CallFailure(
            component=component,
            kind=kind,
            reason=reason,
            detail=(detail or None) and detail[:_DETAIL_CHARS],
            outbox_item_id=item_id,
            at=at,
        )
    )


@dataclass(frozen=True)
class FailureGroup:
    """The failures of one component for one reason inside the window."""

    component: str
    reason: str
    count: int
    kinds: list[str]
    first_at: datetime
    last_at: datetime
    #: A call of the component has succeeded since the last one.
    recovered: bool


def history(session: Session, now: datetime, last_success: dict[str, datetime | None]) -> list[FailureGroup]:
    """Failures of the last ``RETENTION`` by (component, reason), newest first.

    ``last_success`` is each component's newest successful call, to mark a group recovered.
    """
    rows = session.execute(
        select(
            CallFailure.component,
            CallFailure.reason,
            CallFailure.kind,
            func.count(),
            func.min(CallFailure.at),
            func.max(CallFailure.at),
        )
        .where(CallFailure.at >= now - RETENTION)
        .group_by(CallFailure.component, CallFailure.reason, CallFailure.kind)
    ).all()
    grouped: dict[tuple[str, str], list[tuple[str, int, datetime, datetime]]] = {}
    for component, reason, kind, count, first, last in rows:
        grouped.setdefault((component, reason), []).append((kind, count, first, last))
    groups = []
    for (component, reason), kinds in grouped.items():
        last_at = max(k[3] for k in kinds)
        success = last_success.get(component)
        groups.append(
            FailureGroup(
                component=component,
                reason=reason,
                count=sum(k[1] for k in kinds),
                kinds=sorted(k[0] for k in kinds),
                first_at=min(k[2] for k in kinds),
                last_at=last_at,
                recovered=success is not None and success > last_at,
            )
        )
    return sorted(groups, key=lambda g: (g.last_at, g.component, g.reason), reverse=True)
