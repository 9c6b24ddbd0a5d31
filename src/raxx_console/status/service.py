"""The grid's data: each surface's status, set by the poller, the CLI, or a test degradation.

The grid is built set-based: one statement reads every surface's status row (simulations are
in it, so always fresh) with the newest check's id; the history strips are cached per process
and a poll cycle's new checks are merged in (one index range by id), never all read again; the
tickets are read fresh (``ticket_view``). ``/console/status`` and ``status.json`` render the
same tiles.
"""

from __future__ import annotations

import json
import threading
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from markupsafe import Markup, escape
from sqlalchemy import Row, Select, bindparam, func, select, true
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock, iso
from raxx_console.status import ticket_view
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from raxx_console.status.surfaces import STATUSES, Surface, SurfaceRegistry
from raxx_console.status.ticket_view import OpenTicket, SurfaceTickets, TicketView

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


class Check(NamedTuple):
    """One point of a tile's history strip."""

    checked_at: datetime
    status: str
    latency_ms: int | None

    def markup(self) -> str:
        """Its ``<li>`` in the strip, with a tooltip: HTML, built from escaped parts (Markup.format
        was most of the cost of taking in a poll cycle)."""
        status = escape(self.status)
        at = self.checked_at.time().isoformat("seconds")
        latency = "" if self.latency_ms is None else f" {int(self.latency_ms)} ms"
        return f'<li class="h-{status}" title="{at} {status}{latency}"></li>'

    def json(self) -> str:
        """Its JSON text in ``status.json``: what ``json.dumps`` writes, without its cost."""
        latency = "null" if self.latency_ms is None else int(self.latency_ms)
        status = json.dumps(self.status)
        return f'{{"checked_at":"{iso(self.checked_at)}","status":{status},"latency_ms":{latency}}}'


#: How ``status.json`` is encoded: compact and unsorted (Flask's sorted encoding was a third of it).
COMPACT = (",", ":")

#: A check as the grid caches it: ``(checked_at, id)`` (what orders a strip), its fields, its
#: ``<li>`` and its JSON text. Plain tuples and strings: the garbage collector stops tracking
#: them, where 20,000 cached objects made each full collection slower.
Point = tuple[tuple[datetime, int], tuple[datetime, str, int | None], str, str]


def point(check_id: int, check: Check) -> Point:
    fields = (check.checked_at, check.status, check.latency_ms)
    return ((check.checked_at, check_id), fields, check.markup(), check.json())


class Strip(NamedTuple):
    """A tile's history strip (oldest first) with its markup and JSON, each point built once,
    when it is read: at 1,000 surfaces, building 20,000 points per request was most of the cost."""

    points: tuple[Point, ...]
    markup: Markup
    json: str

    @classmethod
    def of(cls, points: list[Point]) -> Strip:
        # Keyed by (checked_at, id): a check read twice (a statement saw a newer cycle) counts once.
        return cls._newest(sorted({p[0]: p for p in points}.values()))

    def extended(self, points: list[Point]) -> Strip:
        """This strip with newer checks merged in (by ``checked_at``, then id), the oldest dropped."""
        points.sort()
        if self.points and points[0][0] <= self.points[-1][0]:  # an injected clock, a re-read
            return Strip.of([*self.points, *points])
        return Strip._newest(self.points + tuple(points))

    @classmethod
    def _newest(cls, ordered: Sequence[Point]) -> Strip:
        kept = tuple(ordered[-HISTORY_LENGTH:])
        markup = Markup("".join(p[2] for p in kept))  # noqa: S704 (each built from escaped parts)
        return cls(kept, markup, "[" + ",".join(p[3] for p in kept) + "]")


EMPTY_STRIP = Strip((), Markup(""), "[]")


@dataclass(frozen=True, slots=True)
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
    strip: Strip
    #: The newest Investigate reservation/ticket for the current status (queued, link, or reason).
    investigation: TicketView | None = None
    #: The surface's newest open ticket from either entry (FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET).
    linked_ticket: TicketView | None = None
    #: Every open ticket of the surface, newest first: the incident's whole story.
    open_tickets: tuple[OpenTicket, ...] = ()

    @property
    def history(self) -> tuple[Check, ...]:
        return tuple(Check(*fields) for _key, fields, _markup, _json in self.strip.points)

    @property
    def needs_attention(self) -> bool:
        return self.status in ATTENTION_STATUSES

    def json(self) -> str:
        """Its JSON text in ``status.json``; the history strip's text is cached with the strip."""
        body = {
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
            "investigation": self.investigation.to_json() if self.investigation else None,
            "linked_ticket": self.linked_ticket.to_json() if self.linked_ticket else None,
            "open_tickets": [ticket.to_json() for ticket in self.open_tickets],
        }
        return json.dumps(body, separators=COMPACT)[:-1] + ',"history":' + self.strip.json + "}"


def effective_status(row: SurfaceStatus | Row | None, now: datetime) -> tuple[str, bool]:
    """(status, simulated): a live test degradation wins over what the probes say.

    ``row`` may also be a row of ``STATUS_COLUMNS`` (the grid reads columns, not entities)."""
    if row is None:
        return "unknown", False
    if row.simulated_status and row.simulated_until and row.simulated_until > now:
        return row.simulated_status, True
    return row.status, False


def current_status(session: Session, clock: Clock, surface_id: str) -> str:
    """The status a surface's tile shows now (a live simulation wins), in one Core query
    (built once: an Investigate click spent more building an ORM ``get`` than running it)."""
    row = session.connection().execute(_STATUS_OF, {"surface_id": surface_id}).first()
    return effective_status(row, clock.now())[0]


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
    # Columns, not entities: the hysteresis document is the poller's business, and 1,000 ORM
    # objects per request were a fifth of it.
    statuses = select(*STATUS_COLUMNS, newest_check.label("newest"))
    rows: dict[str, Any] = {}  # rows of STATUS_COLUMNS
    newest: int | None = None
    for row in session.execute(statuses):
        rows[row.surface_id], newest = row, row.newest
    if cache is None:
        strips = _read_strips(session)
    else:
        strips = cache.setdefault(HISTORY_CACHE_KEY, _HistoryCache()).get(session, newest)
    shown = {surface.id: effective_status(rows.get(surface.id), now) for surface in registry}
    keys = {
        surface_id: ticket_view.status_key(surface_id, status)
        for surface_id, (status, _simulated) in shown.items()
        if status in ATTENTION_STATUSES
    }
    since = now - timedelta(seconds=ticket_window)
    investigations = ticket_view.latest_investigations(session, keys.values(), since)
    open_tickets = ticket_view.open_tickets(session, shown, now)
    return [
        _tile(
            surface,
            rows.get(surface.id),
            shown[surface.id],
            strips.get(surface.id, EMPTY_STRIP),
            investigation=investigations.get(keys.get(surface.id, "")),
            open_tickets=open_tickets.get(surface.id),
        )
        for surface in registry
    ]


#: What a tile shows of a surface's status row.
STATUS_COLUMNS = (
    SurfaceStatus.surface_id,
    SurfaceStatus.status,
    SurfaceStatus.checked_at,
    SurfaceStatus.latency_ms,
    SurfaceStatus.detail,
    SurfaceStatus.simulated_status,
    SurfaceStatus.simulated_until,
)
_STATUS_OF = select(*STATUS_COLUMNS).where(SurfaceStatus.surface_id == bindparam("surface_id"))


def tile(session: Session, clock: Clock, registry: SurfaceRegistry, surface_id: str) -> Tile | None:
    """One surface's tile without its tickets (what an Investigate ticket body describes)."""
    surface = registry.get(surface_id)
    if surface is None:
        return None
    checks = (
        select_checks()
        .where(SurfaceCheck.surface_id == surface.id)
        .order_by(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc())
        .limit(HISTORY_LENGTH)
    )
    strip = Strip.of(_read_checks(session, checks).get(surface.id, []))
    row: Any = session.connection().execute(_STATUS_OF, {"surface_id": surface_id}).first()
    shown = effective_status(row, clock.now())
    return _tile(surface, row, shown, strip, investigation=None, open_tickets=None)


#: Where the Console keeps the grid's history strips.
HISTORY_CACHE_KEY = "status_history"


class _HistoryCache:
    """Every surface's history strip as of the newest check id: only a poll cycle changes it.

    A newer check is merged into its surface's strip (read by id, an index range) instead of
    reading every strip again; a smaller newest id reads them all again (a database emptied under
    a running process; rarely, a request whose statement ran just before another's). The poller
    writes checks from one thread, so ids commit in order.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.newest: int | None = None
        self.strips: dict[str, Strip] = {}

    def get(self, session: Session, newest: int | None) -> dict[str, Strip]:
        with self.lock:
            if self.newest == newest:
                return self.strips
            if self.newest is not None and newest is not None and newest > self.newest:
                strips = dict(self.strips)
                added = _read_checks(session, select_checks().where(SurfaceCheck.id > self.newest))
                for surface_id, rows in added.items():
                    strips[surface_id] = strips.get(surface_id, EMPTY_STRIP).extended(rows)
            else:
                strips = _read_strips(session)
            self.newest, self.strips = newest, strips
            return strips


def select_checks() -> Select[str, datetime, str, int | None, int]:
    """The columns of a history point, with what orders it."""
    return select(
        SurfaceCheck.surface_id,
        SurfaceCheck.checked_at,
        SurfaceCheck.status,
        SurfaceCheck.latency_ms,
        SurfaceCheck.id,
    )


def _read_checks(
    session: Session, query: Select[str, datetime, str, int | None, int]
) -> dict[str, list[Point]]:
    collected: dict[str, list[Point]] = {}
    for surface_id, checked_at, status, latency_ms, check_id in session.execute(query).all():
        collected.setdefault(surface_id, []).append(point(check_id, Check(checked_at, status, latency_ms)))
    return collected


def _read_strips(session: Session) -> dict[str, Strip]:
    """Every surface's history strip in one statement: a LATERAL join on PostgreSQL (an index
    range per surface), a window over the checks on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        newest = (
            select_checks()
            .where(SurfaceCheck.surface_id == SurfaceStatus.surface_id)
            .order_by(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc())
            .limit(HISTORY_LENGTH)
            .lateral()
        )
        query = select(
            SurfaceStatus.surface_id, newest.c.checked_at, newest.c.status, newest.c.latency_ms, newest.c.id
        ).join(newest, true())
    else:
        rank = (
            func.row_number()
            .over(
                partition_by=SurfaceCheck.surface_id,
                order_by=(SurfaceCheck.checked_at.desc(), SurfaceCheck.id.desc()),
            )
            .label("rank")
        )
        ranked = select_checks().add_columns(rank).subquery()
        query = select(
            ranked.c.surface_id, ranked.c.checked_at, ranked.c.status, ranked.c.latency_ms, ranked.c.id
        ).where(ranked.c.rank <= HISTORY_LENGTH)
    return {surface_id: Strip.of(rows) for surface_id, rows in _read_checks(session, query).items()}


def _tile(
    surface: Surface,
    row: Any,
    shown: tuple[str, bool],
    strip: Strip,
    *,
    investigation: TicketView | None,
    open_tickets: SurfaceTickets | None,
) -> Tile:
    status, simulated = shown
    return Tile(
        surface=surface,
        status=status,
        probed_status=row.status if row else "unknown",
        simulated=simulated,
        simulated_until=row.simulated_until if simulated and row else None,
        checked_at=row.checked_at if row else None,
        latency_ms=row.latency_ms if row else None,
        detail=row.detail if row else "",
        strip=strip,
        investigation=investigation,
        linked_ticket=open_tickets.linked if open_tickets else None,
        open_tickets=open_tickets.story if open_tickets else (),
    )


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
