"""status_poller: probe every surface each ``POLL_INTERVAL_SECONDS`` and feed the alert aggregator.

One cycle probes all surfaces concurrently (``probe.run_probe_cycle``, each under its own
timeout), then settles each surface in one short transaction of its own: a ``SurfaceCheck`` (the
newest ``HISTORY_KEEP`` are kept), the tile's status, and the hysteresis state, which lives in
``surface_status.hysteresis`` so a restarted or replacement worker keeps the counters. A
transition emits through ``alert_aggregator.emit`` (fire, severity change, resolve), and so does
every cycle while the surface fires: such a repeat is how the pipeline re-checks its mapping
each cycle (``auto_ticket cache hit`` in the log), and the hooks decide it costs nothing.

Exactly one poller runs, however many workers do: on PostgreSQL the leader holds a session-level
``pg_try_advisory_lock`` on a connection of its own for as long as it lives. A leader that dies
drops the connection and with it the lock, and a standby takes over at its next interval. SQLite
is the single-process embedded default, where this process is always the leader.

Who leads and how the last cycle went is kept in ``console.components["status_poller"]`` (this
process) and in the ``worker_heartbeats`` row ``status_poller`` (every process, for the health panel).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from raxx_console.alerts import alert_aggregator
from raxx_console.alerts.emission import AlertSignal
from raxx_console.alerts.models import FIRING, RESOLVED
from raxx_console.clock import iso
from raxx_console.context import Console
from raxx_console.status.hysteresis import HysteresisState, step
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from raxx_console.status.probe import ProbeResult, run_probe_cycle
from raxx_console.status.service import get_or_create_row
from raxx_console.status.surfaces import Surface
from raxx_console.worker import PeriodicJob, WorkerHeartbeat

log = logging.getLogger("raxx_console.status_poller")

NAME = "status_poller"
LEADERSHIP_KEY = "status_poller.leadership"
SOURCE = "status_poller"
#: Any fixed number, distinct from the migration lock's.
ADVISORY_LOCK_KEY = 0x5241_5850
HISTORY_KEEP = 50


def holder_name() -> str:
    """``host:pid``: which process leads, as the health panel shows it."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class PollerState:
    """This process's view: leader or standby, and its last cycle."""

    holder: str = field(default_factory=holder_name)
    leader: bool = False
    leader_since: datetime | None = None
    last_cycle_at: datetime | None = None
    last_cycle_seconds: float | None = None
    last_counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "leader": self.leader,
            "leader_since": iso(self.leader_since),
            "last_cycle_at": iso(self.last_cycle_at),
            "last_cycle_seconds": self.last_cycle_seconds,
            "last_counts": dict(self.last_counts),
        }


class Leadership:
    """The advisory lock on a dedicated PostgreSQL connection; SQLite always leads."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._conn: Any = None
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """True while this process leads: the lock is held (checked live) or was just taken."""
        if not self.console.db.is_postgres:
            return True
        import psycopg

        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("SELECT 1")
                    return True
                except psycopg.Error:
                    log.warning("status_poller lost its leader connection; trying to lead again")
                    self._close()
            url = self.console.db.engine.url.set(drivername="postgresql")
            try:
                conn = psycopg.connect(
                    url.render_as_string(hide_password=False),
                    autocommit=True,
                    connect_timeout=5,
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
                held = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
            except psycopg.Error:
                log.warning("status_poller could not reach the database to take the leader lock")
                return False
            if held and held[0]:
                self._conn = conn
                return True
            conn.close()
            return False

    def release(self) -> None:
        """Give the lead up (closing the connection releases the lock)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def poller_state(console: Console) -> PollerState:
    """This process's poller (leader or standby, last cycle), kept in ``console.components``."""
    return console.components.setdefault(NAME, PollerState())


def _leadership(console: Console) -> Leadership:
    return console.components.setdefault(LEADERSHIP_KEY, Leadership(console))


def release_leadership(console: Console) -> None:
    """Stop leading (a worker shutting down, or a test cleaning up)."""
    _leadership(console).release()
    poller_state(console).leader = False


def heartbeat(session: Session) -> WorkerHeartbeat | None:
    """The leader's last cycle as every process sees it (health panel, doctor)."""
    return session.get(WorkerHeartbeat, NAME)


@dataclass(frozen=True)
class CycleReport:
    surfaces: int
    seconds: float
    counts: dict[str, int]


def poll_once(console: Console) -> CycleReport | None:
    """One cycle if this process leads; None (and nothing probed) while another process does."""
    state = poller_state(console)
    if not _leadership(console).acquire():
        if state.leader:
            log.info("status_poller standby holder=%s: another worker leads", state.holder)
        state.leader, state.leader_since = False, None
        return None
    clock = console.clock
    if not state.leader:
        state.leader, state.leader_since = True, clock.now()
        log.info("status_poller leader holder=%s", state.holder)
    started_at, started = clock.now(), time.monotonic()
    surfaces = list(console.surfaces)
    counts: Counter[str] = Counter()
    for surface, result in zip(surfaces, run_probe_cycle(surfaces), strict=True):
        try:
            with console.db.session() as session:
                transition = apply_result(console, session, surface, result)
        except Exception:
            log.exception("status_poller could not record surface=%s; next cycle retries", surface.id)
            counts["errors"] += 1
            continue
        counts[result.status] += 1
        if transition:
            counts[transition] += 1
    seconds = round(time.monotonic() - started, 3)
    state.last_cycle_at, state.last_cycle_seconds, state.last_counts = started_at, seconds, dict(counts)
    _beat(console, state)
    log.info(
        "status_poller cycle surfaces=%d seconds=%.3f %s",
        len(surfaces),
        seconds,
        " ".join(f"{name}={count}" for name, count in sorted(counts.items())),
    )
    return CycleReport(len(surfaces), seconds, dict(counts))


def apply_result(console: Console, session: Session, surface: Surface, result: ProbeResult) -> str | None:
    """Record one probe result and emit what it means; the hysteresis transition, if any."""
    now = console.clock.now()
    # A write first: on PostgreSQL it locks the row, on SQLite it takes the write lock before
    # anything is read (a read first would pin a snapshot another writer can invalidate).
    session.execute(
        update(SurfaceStatus)
        .where(SurfaceStatus.surface_id == surface.id)
        .values(surface_id=SurfaceStatus.surface_id)
        .execution_options(synchronize_session=False)
    )
    row = get_or_create_row(session, surface.id)
    try:
        before = HysteresisState.from_dict(row.hysteresis)
    except ValueError as exc:
        log.warning("status_poller reset an unreadable hysteresis state surface=%s: %s", surface.id, exc)
        before = HysteresisState()
    after, transition = step(before, result, surface)
    latency = round(result.latency_ms) if result.latency_ms is not None else None
    session.add(
        SurfaceCheck(
            surface_id=surface.id,
            checked_at=now,
            status=result.status,
            condition=result.condition,
            http_status=result.http_status,
            latency_ms=latency,
            detail=result.detail,
        )
    )
    if row.status != result.status:
        row.changed_at = now
    row.status, row.checked_at, row.latency_ms, row.detail = result.status, now, latency, result.detail
    row.hysteresis = after.to_dict()
    session.flush()
    _prune(session, surface.id)
    labels = {"surface_id": surface.id, "target_env": surface.target_env}
    if transition == "resolve":
        alert_aggregator.emit(
            console,
            AlertSignal(
                SOURCE,
                surface.id,
                before.severity or "P3",
                f"{surface.name} recovered",
                result.detail,
                labels,
                RESOLVED,
            ),
            session=session,
        )
    elif after.firing:
        assert after.severity is not None
        alert_aggregator.emit(
            console,
            AlertSignal(
                SOURCE,
                surface.id,
                after.severity,
                f"{surface.name} is {after.condition}",
                result.detail,
                labels,
                FIRING,
            ),
            session=session,
        )
    return transition


def _prune(session: Session, surface_id: str) -> None:
    """Keep the newest ``HISTORY_KEEP`` checks of a surface."""
    oldest_kept = session.scalar(
        select(SurfaceCheck.id)
        .where(SurfaceCheck.surface_id == surface_id)
        .order_by(SurfaceCheck.id.desc())
        .offset(HISTORY_KEEP - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(
            delete(SurfaceCheck).where(SurfaceCheck.surface_id == surface_id, SurfaceCheck.id < oldest_kept)
        )


def _beat(console: Console, state: PollerState) -> None:
    """Write the heartbeat row: an UPDATE, or the first INSERT."""
    values = {
        "holder": state.holder,
        "since": state.leader_since or console.clock.now(),
        "last_cycle_at": state.last_cycle_at,
        "last_cycle_seconds": state.last_cycle_seconds,
        "detail": {"counts": state.last_counts, "surfaces": len(console.surfaces), "env": console.env},
    }
    with console.db.session() as session:
        updated = session.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.name == NAME)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            session.add(WorkerHeartbeat(name=NAME, **values))


JOB = PeriodicJob(name=NAME, interval=lambda settings: settings.POLL_INTERVAL_SECONDS, run=poll_once)
