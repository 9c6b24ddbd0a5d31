"""The grid's data: each surface's status, set by the poller, the CLI, or a test degradation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock
from raxx_console.status.models import STATUSES, SurfaceCheck, SurfaceStatus
from raxx_console.status.surfaces import Surface, SurfaceRegistry

HISTORY_LENGTH = 20


class StatusError(ValueError):
    """A status request the caller can fix."""


@dataclass(frozen=True)
class Tile:
    """One surface as the grid shows it."""

    surface: Surface
    status: str
    probed_status: str
    simulated: bool
    simulated_until: datetime | None
    checked_at: datetime | None
    latency_ms: int | None
    detail: str
    history: tuple[SurfaceCheck, ...]

    @property
    def needs_attention(self) -> bool:
        return self.status in ("degraded", "down")

    def to_json(self) -> dict[str, object]:
        return {
            "surface_id": self.surface.id,
            "name": self.surface.name,
            "status": self.status,
            "probed_status": self.probed_status,
            "simulated": self.simulated,
            "simulated_until": _iso(self.simulated_until),
            "checked_at": _iso(self.checked_at),
            "latency_ms": self.latency_ms,
            "detail": self.detail,
            "target_env": self.surface.target_env,
            "history": [
                {"checked_at": _iso(c.checked_at), "status": c.status, "latency_ms": c.latency_ms}
                for c in self.history
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def effective_status(row: SurfaceStatus | None, now: datetime) -> tuple[str, bool]:
    """(status, simulated): a live test degradation wins over what the probes say."""
    if row is None:
        return "unknown", False
    if row.simulated_status and row.simulated_until and row.simulated_until > now:
        return row.simulated_status, True
    return row.status, False


def tiles(session: Session, clock: Clock, registry: SurfaceRegistry) -> list[Tile]:
    rows = {r.surface_id: r for r in session.scalars(select(SurfaceStatus))}
    history: dict[str, list[SurfaceCheck]] = {}
    for surface in registry:
        checks = session.scalars(
            select(SurfaceCheck)
            .where(SurfaceCheck.surface_id == surface.id)
            .order_by(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc())
            .limit(HISTORY_LENGTH)
        )
        history[surface.id] = list(reversed(list(checks)))
    now = clock.now()
    result = []
    for surface in registry:
        row = rows.get(surface.id)
        status, simulated = effective_status(row, now)
        result.append(
            Tile(
                surface=surface,
                status=status,
                probed_status=row.status if row else "unknown",
                simulated=simulated,
                simulated_until=row.simulated_until if simulated and row else None,
                checked_at=row.checked_at if row else None,
                latency_ms=row.latency_ms if row else None,
                detail=row.detail if row else "",
                history=tuple(history[surface.id]),
            )
        )
    return result


def get_or_create_row(session: Session, surface_id: str) -> SurfaceStatus:
    row = session.get(SurfaceStatus, surface_id)
    if row is None:
        row = SurfaceStatus(surface_id=surface_id, status="unknown", detail="", hysteresis={})
        session.add(row)
        session.flush()
    return row


def set_status(
    session: Session,
    clock: Clock,
    registry: SurfaceRegistry,
    surface_id: str,
    status: str,
    *,
    detail: str = "",
    actor: str,
    env: str,
) -> SurfaceStatus:
    """Set a surface's status by hand (CLI, tests); audited as ``console.status.set``."""
    if registry.get(surface_id) is None:
        raise StatusError(f"unknown surface '{surface_id}'")
    if status not in STATUSES:
        raise StatusError(f"status must be one of {', '.join(STATUSES)}")
    row = get_or_create_row(session, surface_id)
    before = row.status
    now = clock.now()
    if status != before:
        row.changed_at = now
    row.status, row.checked_at, row.detail = status, now, detail
    audit.record(
        session,
        clock,
        action="console.status.set",
        actor=actor,
        selected_env=env,
        payload={"surface_id": surface_id, "before": before, "after": status, "detail": detail},
    )
    return row
