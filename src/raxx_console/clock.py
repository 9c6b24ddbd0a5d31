"""Time as a dependency: services take a Clock so tests can move it by hours in microseconds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, overload


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; used by tests and the benchmarks."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: datetime | None) -> str | None: ...
def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``, as every JSON route and API answer of the console writes times."""
    return as_utc(value).isoformat().replace("+00:00", "Z") if value else None


def ago(now: datetime, when: datetime) -> str:
    """How long ago, in words ("5 minutes ago"): what a person reads first at 3 a.m."""
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"
