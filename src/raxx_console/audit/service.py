"""``record()``: every mutation writes one audit row in the same transaction as the change.

And reading them back: ``AuditFilter`` builds the one query the audit page, its exports, its
JSON API and ``raxx-console audit tail`` all run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, cast, insert, literal, select, tuple_
from sqlalchemy.orm import Session

from raxx_console.audit import PAGE_SIZE
from raxx_console.audit.models import AuditLog
from raxx_console.clock import Clock, as_utc, iso
from raxx_console.config import ConsoleEnv, parse_duration
from raxx_console.db import BigId, UTCDateTime


def record(
    session: Session,
    clock: Clock,
    *,
    action: str,
    actor: str,
    selected_env: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """Write an audit row in ``session``'s transaction; it commits (or rolls back) with the
    change it records.

    ``actor`` is a user's email, or ``system:<component>`` for the worker's own acts. A Core
    insert, run at once: no caller needs the row back, and the ORM's unit of work was a
    twentieth of an Investigate repeat click's CPU.
    """
    row = {
        "created_at": clock.now(),
        "action": action,
        "actor": actor,
        "selected_env": selected_env,
        "payload": dict(payload or {}),
    }
    session.connection().execute(_INSERT, row)


_INSERT = insert(AuditLog)


def recent(
    session: Session,
    *,
    actions: tuple[str, ...] | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[AuditLog]:
    """Newest first, optionally filtered by action and time."""
    query = select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(limit)
    if actions:
        query = query.where(AuditLog.action.in_(actions))
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    return list(session.scalars(query))


# --- reading the log: one query builder for the page, its exports, its JSON and `audit tail` ---

#: The environments a row can name (``selected_env``).
ENVS = tuple(env.value for env in ConsoleEnv)
EXPORT_BATCH = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAYLOAD_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CURSOR = re.compile(r"(\d{1,18})-(\d{1,18})")  # 18 digits fit a BIGINT
#: The query parameters a filtered view understands; ``payload.<key>`` filters on a payload field.
FILTER_PARAMS = ("action", "actor", "env", "since", "until")
PAYLOAD_PARAM_PREFIX = "payload."


class FilterError(ValueError):
    """A filter value that cannot be used; ``parameter`` names it (the 400's ``parameter``)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter, self.message = parameter, message


def parse_time(parameter: str, value: str, now: datetime) -> datetime:
    """A point in time from ``1h``/``15m``/``2d`` (that long before ``now``) or ISO 8601 (UTC if naive)."""
    text = value.strip()
    try:
        return now - timedelta(seconds=parse_duration(text))
    except OverflowError:
        raise FilterError(parameter, f"{value!r} reaches back before the year 1") from None
    except ValueError:
        pass
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1)))
    except OverflowError:
        raise FilterError(parameter, f"{value!r} is out of range") from None
    except ValueError:
        raise FilterError(
            parameter,
            f"{value!r} is neither a duration (such as 90s, 15m, 1h, 2d) nor an ISO 8601 time "
            "(such as 2026-12-01T09:30:00Z)",
        ) from None


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's ``(created_at, id)``; the next page starts below it."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.created_at - _EPOCH) // timedelta(microseconds=1)}-{self.id}"

    @classmethod
    def decode(cls, text: str, parameter: str = "after") -> Cursor:
        match = _CURSOR.fullmatch(text.strip())
        try:
            if match:
                return cls(_EPOCH + timedelta(microseconds=int(match.group(1))), int(match.group(2)))
        except OverflowError:
            pass
        raise FilterError(parameter, "not a page cursor; use the link the previous page gave")

    @classmethod
    def of(cls, row: AuditLog) -> Cursor:
        return cls(as_utc(row.created_at), row.id)


@dataclass(frozen=True)
class AuditFilter:
    """A filtered view of the log. ``action`` is a prefix (``console.deploy.``); the rest match exactly."""

    action: str | None = None
    actor: str | None = None
    env: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    payload: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str], now: datetime) -> AuditFilter:
        """From query parameters (the page, its exports, the JSON API); empty values are no filter."""
        values = {key: value.strip() for key, value in params.items() if value.strip()}
        for key, value in values.items():
            if not value.isprintable():
                raise FilterError(key, "contains control characters")
        env = values.get("env")
        if env is not None and env not in ENVS:
            raise FilterError("env", f"must be one of {', '.join(ENVS)}")
        for name in ("action", "actor"):
            if len(values.get(name, "")) > 255:
                raise FilterError(name, "is longer than 255 characters")
        payload = []
        for key, value in values.items():
            if key.startswith(PAYLOAD_PARAM_PREFIX):
                field = key.removeprefix(PAYLOAD_PARAM_PREFIX)
                if not _PAYLOAD_KEY.fullmatch(field):
                    raise FilterError(key, "a payload field is letters, digits and _ (payload.flag=FLAG_X)")
                payload.append((field, value))
        since = parse_time("since", values["since"], now) if "since" in values else None
        until = parse_time("until", values["until"], now) if "until" in values else None
        if since is not None and until is not None and since > until:
            raise FilterError("until", "is before since")
        return cls(
            action=values.get("action"),
            actor=values.get("actor"),
            env=env,
            since=since,
            until=until,
            payload=tuple(sorted(payload)),
        )

    def query(self, after: Cursor | None = None) -> Select[AuditLog]:
        """Newest first by ``(created_at, id)``; ``after`` continues below a page's last row (keyset).

        The row comparison lets PostgreSQL start an index scan at the cursor, so a page 50,000
        rows deep costs what the first does (``bench/audit_pages.py``).
        """
        query = select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        if self.action:
            query = query.where(AuditLog.action.startswith(self.action, autoescape=True))
        if self.actor:
            query = query.where(AuditLog.actor == self.actor)
        if self.env:
            query = query.where(AuditLog.selected_env == self.env)
        if self.since is not None:
            query = query.where(AuditLog.created_at >= self.since)
        if self.until is not None:
            query = query.where(AuditLog.created_at < self.until)
        for field, value in self.payload:
            query = query.where(cast(AuditLog.payload[field].as_string(), String) == value)
        if after is not None:
            query = query.where(
                tuple_(AuditLog.created_at, AuditLog.id)
                < tuple_(literal(after.created_at, UTCDateTime()), literal(after.id, BigId))
            )
        return query


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditLog]
    next: Cursor | None


def page(
    session: Session, filters: AuditFilter, *, after: Cursor | None = None, limit: int = PAGE_SIZE
) -> AuditPage:
    """One page of the filtered view, and the cursor of the next one (None on the last page)."""
    rows = list(session.scalars(filters.query(after).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows=rows, next=Cursor.of(rows[-1]) if more else None)


def stream(session: Session, filters: AuditFilter) -> Iterator[AuditLog]:
    """Every row of the filtered view, fetched in batches (a server-side cursor on PostgreSQL)."""
    query = filters.query().execution_options(yield_per=EXPORT_BATCH)
    yield from session.scalars(query)


def row_json(row: AuditLog) -> dict[str, Any]:
    """A row as the JSON API, the exports and ``audit tail --json`` show it."""
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "action": row.action,
        "actor": row.actor,
        "selected_env": row.selected_env,
        "payload": row.payload,
    }
