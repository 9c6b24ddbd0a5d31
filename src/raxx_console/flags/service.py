"""resolve(): a flag's effective value and where it came from — env pin > db > default.

An env var is the break-glass pin (``heroku config:set FLAG_...=0``) and always wins. A
malformed env value must not crash-loop the dynos mid-incident: it is logged at ERROR,
shown on the flags page, and ignored. DB overrides are cached per process for
``FLAG_CACHE_TTL_SECONDS`` (30 s, the runbook's promise) and the cache is cleared on a local write.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock
from raxx_console.db import Database
from raxx_console.flags.models import FlagOverride
from raxx_console.flags.registry import FLAGS, get_spec

log = logging.getLogger("raxx_console.flags")

TRUE_VALUES = frozenset({"1", "true", "on", "yes"})
FALSE_VALUES = frozenset({"0", "false", "off", "no"})
Source = Literal["env", "db", "default"]


class UnknownFlag(KeyError):
    """Not one of the flags in ``flags.registry``."""


@dataclass(frozen=True)
class Resolution:
    name: str
    value: bool
    source: Source
    db_value: bool | None
    env_raw: str | None
    env_invalid: bool
    updated_by: str | None
    updated_at: datetime | None

    @property
    def pinned(self) -> bool:
        return self.source == "env"


def parse_env_flag(raw: str) -> bool | None:
    """True/False for 1/0/true/false/on/off/yes/no (any case); None when malformed."""
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    return None


class FlagStore:
    """Per-process flag resolution with a TTL cache over the ``flag_overrides`` table."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ttl_seconds: float,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.db, self.clock, self.ttl = db, clock, ttl_seconds
        self.environ = environ
        self._lock = threading.Lock()
        self._cache: dict[str, FlagOverride] | None = None
        self._loaded_at: datetime | None = None
        self._reported_invalid: set[tuple[str, str]] = set()

    def clear_cache(self) -> None:
        with self._lock:
            self._cache = None

    def _overrides(self) -> dict[str, FlagOverride]:
        now = self.clock.now()
        with self._lock:
            fresh = (
                self._cache is not None
                and self._loaded_at is not None
                and (now - self._loaded_at).total_seconds() < self.ttl
            )
            if fresh:
                return self._cache  # type: ignore[return-value]
        with self.db.session() as session:
            rows = {row.name: row for row in session.scalars(select(FlagOverride))}
            session.expunge_all()
        with self._lock:
            self._cache, self._loaded_at = rows, now
        return rows

    def resolve(self, name: str) -> Resolution:
        spec = get_spec(name)
        if spec is None:
            raise UnknownFlag(name)
        row = self._overrides().get(name)
        raw = self.environ.get(name)
        env_value = parse_env_flag(raw) if raw is not None else None
        invalid = raw is not None and env_value is None
        if invalid and (name, raw) not in self._reported_invalid:
            self._reported_invalid.add((name, raw))  # type: ignore[arg-type]
            log.error(
                "flag_env_invalid flag=%s: expected 1/0/true/false/on/off; ignoring the env pin "
                "and falling back to the db/default value",
                name,
            )
        if env_value is not None:
            value, source = env_value, "env"
        elif row is not None:
            value, source = row.value, "db"
        else:
            value, source = spec.default, "default"
        return Resolution(
            name=name,
            value=value,
            source=source,  # type: ignore[arg-type]
            db_value=row.value if row is not None else None,
            env_raw=raw,
            env_invalid=invalid,
            updated_by=row.updated_by if row is not None else None,
            updated_at=row.updated_at if row is not None else None,
        )

    def is_enabled(self, name: str) -> bool:
        return self.resolve(name).value

    def resolve_all(self) -> list[Resolution]:
        return [self.resolve(spec.name) for spec in FLAGS]

    def set(self, session: Session, name: str, value: bool, *, actor: str, env: str) -> Resolution:
        """Write the DB override and its audit row (in ``session``'s transaction)."""
        if get_spec(name) is None:
            raise UnknownFlag(name)
        before = self.resolve(name)
        row = session.get(FlagOverride, name)
        now = self.clock.now()
        if row is None:
            row = FlagOverride(name=name, value=value, updated_at=now, updated_by=actor)
            session.add(row)
        else:
            row.value, row.updated_at, row.updated_by = value, now, actor
        audit.record(
            session,
            self.clock,
            action="console.flags.toggled",
            actor=actor,
            selected_env=env,
            payload={
                "flag": name,
                "before": {"value": before.value, "source": before.source, "db": before.db_value},
                "after": {"db": value, "effective": before.value if before.pinned else value},
                "pinned_by_env": before.pinned,
            },
        )
        return before
