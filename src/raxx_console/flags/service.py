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
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock, iso
from raxx_console.config import Settings
from raxx_console.db import Database
from raxx_console.flags.models import FlagOverride
from raxx_console.flags.registry import FLAGS, FlagSpec, get_spec
from raxx_console.health.prereqs import ticketing_prereqs_missing

log = logging.getLogger("raxx_console.flags")

TRUE_VALUES = frozenset({"1", "true", "on", "yes"})
FALSE_VALUES = frozenset({"0", "false", "off", "no"})
Source = Literal["env", "db", "default"]


class UnknownFlag(KeyError):
    """Not one of the flags in ``flags.registry``."""


class PrerequisitesMissing(Exception):
    """A ticketing flag asked to go on while runbook Step 0 is incomplete, without confirmation."""

    def __init__(self, name: str, missing: list[str]) -> None:
        super().__init__(f"{name} needs {', '.join(missing)}")
        self.name, self.missing = name, missing


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

    @property
    def spec(self) -> FlagSpec:
        return get_spec(self.name)  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        """The flag as ``/console/flags.json`` and the toggle API answer it."""
        return {
            "name": self.name,
            "description": self.spec.description,
            "value": self.value,
            "source": self.source,
            "default": self.spec.default,
            "db_value": self.db_value,
            "env_value": self.env_raw,
            "env_invalid": self.env_invalid,
            "pinned_by_env": self.pinned,
            "needs_ticketing": self.spec.needs_ticketing,
            "updated_by": self.updated_by,
            "updated_at": iso(self.updated_at),
        }

    def audit_state(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "db": self.db_value}


@dataclass(frozen=True)
class FlagChange:
    before: Resolution
    after: Resolution
    #: Prerequisites that were missing when the person confirmed turning the flag on anyway.
    confirmed_missing: tuple[str, ...] = ()


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

    def _resolution(self, spec: FlagSpec, row: FlagOverride | None) -> Resolution:
        raw = self.environ.get(spec.name)
        env_value = parse_env_flag(raw) if raw is not None else None
        invalid = raw is not None and env_value is None
        if invalid and (spec.name, raw) not in self._reported_invalid:
            self._reported_invalid.add((spec.name, raw))  # type: ignore[arg-type]
            log.error(
                "flag_env_invalid flag=%s: expected 1/0/true/false/on/off; ignoring the env pin "
                "and falling back to the db/default value",
                spec.name,
            )
        if env_value is not None:
            value, source = env_value, "env"
        elif row is not None:
            value, source = row.value, "db"
        else:
            value, source = spec.default, "default"
        return Resolution(
            name=spec.name,
            value=value,
            source=source,  # type: ignore[arg-type]
            db_value=row.value if row is not None else None,
            env_raw=raw,
            env_invalid=invalid,
            updated_by=row.updated_by if row is not None else None,
            updated_at=row.updated_at if row is not None else None,
        )

    def resolve(self, name: str) -> Resolution:
        spec = get_spec(name)
        if spec is None:
            raise UnknownFlag(name)
        return self._resolution(spec, self._overrides().get(name))

    def resolve_fresh(self, session: Session, name: str, *, for_update: bool = False) -> Resolution:
        """From the row itself, not the cache: for a decision that must not act on a 30 s old value."""
        spec = get_spec(name)
        if spec is None:
            raise UnknownFlag(name)
        return self._resolution(spec, session.get(FlagOverride, name, with_for_update=for_update))

    def is_enabled(self, name: str) -> bool:
        return self.resolve(name).value

    def resolve_all(self) -> list[Resolution]:
        return [self.resolve(spec.name) for spec in FLAGS]

    def set(
        self,
        session: Session,
        name: str,
        value: bool,
        *,
        actor: str,
        env: str,
        confirmed_missing: tuple[str, ...] = (),
    ) -> FlagChange:
        """Write the DB override and its audit row (in ``session``'s transaction).

        Before and after are read from the row itself, not the cache, so the audit log holds
        the true state even when another process changed the flag a moment ago. A pinned flag
        is written too: that is the rollout runbook's reconciling DB row after a break-glass flip.
        """
        spec = get_spec(name)
        if spec is None:
            raise UnknownFlag(name)
        row = session.get(FlagOverride, name, with_for_update=True)
        before = self._resolution(spec, row)
        now = self.clock.now()
        if row is None:
            row = FlagOverride(name=name, value=value, updated_at=now, updated_by=actor)
            session.add(row)
            session.flush()
        else:
            row.value, row.updated_at, row.updated_by = value, now, actor
        after = self._resolution(spec, row)
        payload: dict[str, Any] = {
            "flag": name,
            "before": before.audit_state(),
            "after": after.audit_state(),
            "pinned_by_env": after.pinned,
        }
        if confirmed_missing:
            payload["prerequisites_missing"] = list(confirmed_missing)
        audit.record(
            session,
            self.clock,
            action="console.flags.toggled",
            actor=actor,
            selected_env=env,
            payload=payload,
        )
        return FlagChange(before=before, after=after, confirmed_missing=confirmed_missing)

    def change(
        self,
        name: str,
        value: bool,
        *,
        settings: Settings,
        actor: str,
        env: str,
        confirm: bool = False,
    ) -> FlagChange:
        """A person's toggle (page, API, CLI): check prerequisites, write, commit, clear the cache.

        Turning a ticketing flag on while runbook Step 0 is incomplete raises PrerequisitesMissing
        unless ``confirm``: that is how tickets once failed silently (RCA 2026-06-19).
        """
        spec = get_spec(name)
        if spec is None:
            raise UnknownFlag(name)
        missing = ticketing_prereqs_missing(settings) if value and spec.needs_ticketing else []
        if missing and not confirm:
            raise PrerequisitesMissing(name, missing)
        try:
            change = self._commit(name, value, actor=actor, env=env, confirmed_missing=tuple(missing))
        except IntegrityError:
            # Two first-ever writes raced to insert the row; the loser updates it instead.
            change = self._commit(name, value, actor=actor, env=env, confirmed_missing=tuple(missing))
        self.clear_cache()
        return change

    def _commit(self, name: str, value: bool, **kwargs: Any) -> FlagChange:
        with self.db.session() as session:
            return self.set(session, name, value, **kwargs)
