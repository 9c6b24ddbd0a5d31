"""The grid's data: each surface's status, set by the poller, the CLI, or a test degradation.

The grid is built set-based: one statement reads every surface's status row (simulations are
in it, so always fresh) with the newest check's id; the history strips come from one windowed
statement, cached per process until a poll cycle writes a newer check; the tickets are two
statements (``ticket_view``). ``/console/status`` and ``status.json`` render the same tiles.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, defer

from raxx_console.audit import service as audit
from raxx_console.clock import Clock, iso
from raxx_console.status import ticket_view
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from raxx_console.status.surfaces import STATUSES, Surface, SurfaceRegistry
from raxx_console.status.ticket_view import OpenTicket, TicketView

HISTORY_LENGTH = 20
#: Statuses a tile flags for attention, and that Investigate files tickets for.
ATTENTION_STATUSES = ("degraded", "down")
#: Test degradations (rollout Step 2): what may be simulated, and for how long.
SIMULATED_STATUSES = ("degraded", "down")
SIMULATION_MINUTES = (1, 240)
DEFAULT_SIMULATION_MINUTES = 15
#: How far back a tile looks for its Investigate outcome (the dedup window's default).
DEFAULT_TICKET_WINDOW_SECONDS = 3600.0


class StatusError(ValueError):
    """A status request the caller can fix."""


class SimulationError(StatusError):
    """Bad test-degradation input; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Check:
    """One point of a tile's history strip."""

    checked_at: datetime
    status: str
    latency_ms: int | None
    #: Its JSON and its tooltip, built once per poll cycle rather than on every request.
    json: dict[str, Any] = field(compare=False)
    title: str = field(compare=False)

    @classmethod
    def of(cls, checked_at: datetime, status: str, latency_ms: int | None) -> Check:
        json = {"checked_at": iso(checked_at), "status": status, "latency_ms": latency_ms}
        title = f"{checked_at:%H:%M:%S} {status}" + (f" {latency_ms} ms" if latency_ms is not None else "")
        return cls(checked_at, status, latency_ms, json, title)


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
    history: tuple[Check, ...]
    #: The newest Investigate reservation/ticket for the current status (queued, link, or reason).
    investigation: TicketView | None = None
    #: The surface's newest open ticket from either entry (FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET).
    linked_ticket: TicketView | None = None
    #: Every open ticket of the surface, newest first: the incident's whole story.
    open_tickets: tuple[OpenTicket, ...] = ()

    @property
    def needs_attention(self) -> bool:
        return self.status in ATTENTION_STATUSES

    def to_json(self) -> dict[str, object]:
        return {
            "surface_id": self.surface.id,
            "name": self.surface.name,
            "status": self.status,
            "probed_status": self.probed_status,
            "simulated": self.simulated,
            "simulated_until": iso(self.simulated_until),
            "checked_at": iso(self.checked_at),
            "latency_ms": self.latency_ms,
            "detail": self.detail,
            "target_env": self.surface.target_env,
            "history": [check.json for check in self.history],
            "investigation": self.investigation.to_json() if self.investigation else None,
            "linked_ticket": self.linked_ticket.to_json() if self.linked_ticket else None,
            "open_tickets": [ticket.to_json() for ticket in self.open_tickets],
        }


def effective_status(row: SurfaceStatus | None, now: datetime) -> tuple[str, bool]:
    """(status, simulated): a live test degradation wins over what the probes say."""
    if row is None:
        return "unknown", False
    if row.simulated_status and row.simulated_until and row.simulated_until > now:
        return row.simulated_status, True
    return row.status, False


def current_status(session: Session, clock: Clock, surface_id: str) -> str:
    """The status a surface's tile shows now (a live simulation wins), in one query."""
    return effective_status(session.get(SurfaceStatus, surface_id), clock.now())[0]


def tiles(
    session: Session,
    clock: Clock,
    registry: SurfaceRegistry,
    *,
    ticket_window: float = DEFAULT_TICKET_WINDOW_SECONDS,
    cache: MutableMapping[str, Any] | None = None,
) -> list[Tile]:
    """Every surface's tile, with its tickets from our table (FreeScout is never called here).

    ``cache`` (the Console's components) keeps the history strips until a newer check exists.
    """
    now = clock.now()
    newest_check = select(func.max(SurfaceCheck.id)).scalar_subquery()
    rows: dict[str, SurfaceStatus] = {}
    newest: int | None = None
    # The hysteresis document is the poller's business, not the grid's: not loaded.
    statuses = select(SurfaceStatus, newest_check).options(defer(SurfaceStatus.hysteresis))
    for row, newest_id in session.execute(statuses).all():
        rows[row.surface_id], newest = row, newest_id
    if cache is None:
        histories = _read_histories(session)
    else:
        histories = cache.setdefault(HISTORY_CACHE_KEY, _HistoryCache()).get(session, newest)
    built = [_tile(surface, rows.get(surface.id), histories.get(surface.id, ()), now) for surface in registry]
    return _with_tickets(session, built, now - timedelta(seconds=ticket_window), now)


def tile(session: Session, clock: Clock, registry: SurfaceRegistry, surface_id: str) -> Tile | None:
    """One surface's tile without its tickets (what an Investigate ticket body describes)."""
    surface = registry.get(surface_id)
    if surface is None:
        return None
    checks = session.execute(
        select(SurfaceCheck.checked_at, SurfaceCheck.status, SurfaceCheck.latency_ms)
        .where(SurfaceCheck.surface_id == surface.id)
        .order_by(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc())
        .limit(HISTORY_LENGTH)
    )
    history = tuple(reversed([Check.of(*check) for check in checks]))
    return _tile(surface, session.get(SurfaceStatus, surface_id), history, clock.now())


#: Where the Console keeps the grid's history strips.
HISTORY_CACHE_KEY = "status_history"


class _HistoryCache:
    """Every surface's history strip as of the newest check id: only a poll cycle changes it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.newest: int | None = None
        self.histories: dict[str, tuple[Check, ...]] = {}

    def get(self, session: Session, newest: int | None) -> dict[str, tuple[Check, ...]]:
        with self.lock:
            if newest is not None and self.newest == newest:
                return self.histories
        histories = _read_histories(session)
        with self.lock:
            self.newest, self.histories = newest, histories
        return histories


def _read_histories(session: Session) -> dict[str, tuple[Check, ...]]:
    """Every surface's history strip (oldest first), in one statement: a LATERAL join on
    PostgreSQL (an index range per surface), a window over the checks on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        newest = (
            select(SurfaceCheck.checked_at, SurfaceCheck.status, SurfaceCheck.latency_ms, SurfaceCheck.id)
            .where(SurfaceCheck.surface_id == SurfaceStatus.surface_id)
            .order_by(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc())
            .limit(HISTORY_LENGTH)
            .lateral()
        )
        query = (
            select(SurfaceStatus.surface_id, newest.c.checked_at, newest.c.status, newest.c.latency_ms)
            .join(newest, true())
            .order_by(SurfaceStatus.surface_id, newest.c.checked_at, newest.c.id)
        )
    else:
        rank = (
            func.row_number()
            .over(
                partition_by=SurfaceCheck.surface_id,
                order_by=(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc()),
            )
            .label("rank")
        )
        ranked = select(
            SurfaceCheck.surface_id,
            SurfaceCheck.checked_at,
            SurfaceCheck.status,
            SurfaceCheck.latency_ms,
            rank,
        ).subquery()
        query = (
            select(ranked.c.surface_id, ranked.c.checked_at, ranked.c.status, ranked.c.latency_ms)
            .where(ranked.c.rank <= HISTORY_LENGTH)
            .order_by(ranked.c.surface_id, ranked.c.rank.desc())
        )
    collected: dict[str, list[Check]] = {}
    for surface_id, checked_at, status, latency_ms in session.execute(query).all():
        collected.setdefault(surface_id, []).append(Check.of(checked_at, status, latency_ms))
    return {surface_id: tuple(checks) for surface_id, checks in collected.items()}


def _tile(surface: Surface, row: SurfaceStatus | None, history: tuple[Check, ...], now: datetime) -> Tile:
    status, simulated = effective_status(row, now)
    return Tile(
        surface=surface,
        status=status,
        probed_status=row.status if row else "unknown",
        simulated=simulated,
        simulated_until=row.simulated_until if simulated and row else None,
        checked_at=row.checked_at if row else None,
        latency_ms=row.latency_ms if row else None,
        detail=row.detail if row else "",
        history=history,
    )


def _with_tickets(session: Session, built: list[Tile], since: datetime, now: datetime) -> list[Tile]:
    keys = {t.surface.id: ticket_view.status_key(t.surface.id, t.status) for t in built if t.needs_attention}
    investigations = ticket_view.latest_investigations(session, keys.values(), since)
    linked = ticket_view.open_tickets(session, [t.surface.id for t in built])
    stories = ticket_view.open_tickets_by_surface(session, [t.surface.id for t in built], now)
    return [
        replace(
            t,
            investigation=investigations.get(keys.get(t.surface.id, "")),
            linked_ticket=linked.get(t.surface.id),
            open_tickets=tuple(stories.get(t.surface.id, ())),
        )
        for t in built
    ]


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


def simulate(
    session: Session,
    clock: Clock,
    registry: SurfaceRegistry,
    surface_id: str,
    status: object,
    minutes: object = DEFAULT_SIMULATION_MINUTES,
    *,
    actor: str,
    env: str,
) -> SurfaceStatus:
    """Start a test degradation (rollout Step 2); polls keep writing ``status`` beneath it."""
    if registry.get(surface_id) is None:
        raise StatusError(f"unknown surface '{surface_id}'")
    if status not in SIMULATED_STATUSES:
        raise SimulationError("status", f"status must be one of {', '.join(SIMULATED_STATUSES)}")
    low, high = SIMULATION_MINUTES
    if isinstance(minutes, str) and minutes.strip().isdigit():
        minutes = int(minutes.strip())
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not low <= minutes <= high:
        raise SimulationError("minutes", f"minutes must be a whole number from {low} to {high}")
    row = get_or_create_row(session, surface_id)
    until = clock.now() + timedelta(minutes=minutes)
    row.simulated_status, row.simulated_until, row.simulated_by = str(status), until, actor
    audit.record(
        session,
        clock,
        action="console.status.simulated",
        actor=actor,
        selected_env=env,
        payload={
            "surface_id": surface_id,
            "status": status,
            "minutes": minutes,
            "until": iso(until),
        },
    )
    return row


def clear_simulation(
    session: Session, clock: Clock, registry: SurfaceRegistry, surface_id: str, *, actor: str, env: str
) -> bool:
    """End a test degradation early; False (and no audit row) when none was running."""
    if registry.get(surface_id) is None:
        raise StatusError(f"unknown surface '{surface_id}'")
    row = session.get(SurfaceStatus, surface_id)
    _status, simulated = effective_status(row, clock.now())
    if row is None or not simulated:
        return False
    audit.record(
        session,
        clock,
        action="console.status.simulation_cleared",
        actor=actor,
        selected_env=env,
        payload={"surface_id": surface_id, "status": row.simulated_status},
    )
    row.simulated_status = row.simulated_until = row.simulated_by = None
    return True
