"""The background worker: a declarative table of periodic jobs, each on its own thread.

A job's cycles never overlap (one thread each), a slow job never delays another, and a job that
raises is logged and retried next interval rather than taking the worker down. A job may be woken
early (new outbox work) through ``Worker.wake``; across processes it may bring its own waiter
(PostgreSQL LISTEN/NOTIFY).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.config import Settings
from raxx_console.context import Console
from raxx_console.db import Base, JSONDocument

log = logging.getLogger("raxx_console.worker")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    #: Seconds between the end of one run and the start of the next, read from the settings.
    interval: Callable[[Settings], float]
    run: Callable[[Console], object]
    #: Blocks until the next run is due or work arrives; default: the interval, or ``wake``.
    waiter: Callable[[Console, float, threading.Event], None] | None = None
    #: Asks a running cycle to wind down when the worker stops (finish what it started, start
    #: nothing new), so a stop never lands between its steps.
    stop: Callable[[Console], None] | None = None
    #: Run once on the job's thread before its first cycle: one-time costs (clients, their SSL
    #: contexts) paid at start rather than by the first item of work.
    prepare: Callable[[Console], object] | None = None


class Worker:
    def __init__(self, console: Console, jobs: tuple[PeriodicJob, ...]) -> None:
        self.console = console
        self.jobs = jobs
        self.stop_event = threading.Event()
        self._wakeups = {job.name: threading.Event() for job in jobs}
        self._threads: list[threading.Thread] = []

    def wake(self, name: str) -> None:
        """Run job ``name`` now instead of at its next interval (no-op for unknown names)."""
        event = self._wakeups.get(name)
        if event is not None:
            event.set()

    def run_job_once(self, job: PeriodicJob) -> bool:
        """One run of ``job``; False (and an ERROR line) if it raised."""
        try:
            job.run(self.console)
            return True
        except Exception:
            log.exception("worker job failed job=%s; it will run again next interval", job.name)
            return False

    def _loop(self, job: PeriodicJob) -> None:
        wakeup = self._wakeups[job.name]
        if job.prepare is not None:
            try:
                job.prepare(self.console)
            except Exception:
                log.exception("worker job preparation failed job=%s; it runs unprepared", job.name)
        while not self.stop_event.is_set():
            self.run_job_once(job)
            timeout = job.interval(self.console.settings)
            if job.waiter is not None:
                job.waiter(self.console, timeout, wakeup)
            else:
                wakeup.wait(timeout)
            wakeup.clear()

    def start(self) -> Worker:
        for job in self.jobs:
            thread = threading.Thread(target=self._loop, args=(job,), name=job.name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker started jobs=%s", ",".join(job.name for job in self.jobs) or "none")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for job in self.jobs:
            if job.stop is not None:
                job.stop(self.console)
        for event in self._wakeups.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)


class WorkerHeartbeat(Base):
    """A background component's liveness for the health panel (the status_poller's leader and cycle)."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    #: ``host:pid`` of the process doing the work.
    holder: Mapped[str] = mapped_column(String(255), nullable=False)
    since: Mapped[datetime] = mapped_column(nullable=False)
    last_cycle_at: Mapped[datetime | None] = mapped_column()
    last_cycle_seconds: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
