"""The Console: the process-wide objects every part shares, built once for web and worker alike.

The web app keeps it in ``app.extensions``; the worker builds its own. Services receive the
pieces they need (session, clock, settings) explicitly; only views reach for ``console()``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, g
from sqlalchemy.orm import Session

from raxx_console.clock import Clock, SystemClock
from raxx_console.config import ConfigError, Settings
from raxx_console.db import Database
from raxx_console.flags.service import FlagStore
from raxx_console.status.surfaces import SurfaceRegistry, SurfacesFileError, load_surfaces

EXTENSION_KEY = "raxx_console"


@dataclass
class Console:
    settings: Settings
    db: Database
    clock: Clock
    surfaces: SurfaceRegistry
    flags: FlagStore
    #: Per-process components registered by the domains at start-up (flag store, clients, hooks).
    components: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> str:
        """The deployment's env, for audit rows written outside a request."""
        return self.settings.CONSOLE_ENV.value


def database_url(settings: Settings) -> str:
    """``DATABASE_URL``, or the embedded SQLite file in the instance folder."""
    url = settings.secret("DATABASE_URL")
    if url:
        return url
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.instance_path / 'raxx-console.db'}"


def secret_key(settings: Settings) -> str:
    """``SECRET_KEY``, or (outside production) one generated once and kept in the instance folder."""
    key = settings.secret("SECRET_KEY")
    if key:
        return key
    path: Path = settings.instance_path / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def build_console(settings: Settings, *, clock: Clock | None = None, pool_size: int | None = None) -> Console:
    """Connect the database and load the surfaces registry; ConfigError if either is unusable.

    ``pool_size``: connections kept open (the worker keeps one per thread; default: a web process's).
    """
    try:
        surfaces = load_surfaces(settings.SURFACES_FILE)
    except SurfacesFileError as exc:
        raise ConfigError(f"invalid configuration:\n  SURFACES_FILE: {exc}") from None
    # A web process serves 4 request threads (``raxx-console web``) besides its monitor: a pool
    # smaller than that opens and closes a connection (a server process) per request under load.
    database = Database(database_url(settings), pool_size=pool_size or max(5, settings.WEB_CONCURRENCY))
    clock = clock or SystemClock()
    flags = FlagStore(database, clock, settings.FLAG_CACHE_TTL_SECONDS)
    return Console(settings=settings, db=database, clock=clock, surfaces=surfaces, flags=flags)


def console() -> Console:
    """The Console of the current Flask app."""
    return current_app.extensions[EXTENSION_KEY]


def db_session() -> Session:
    """The request's session: opened on first use, closed (uncommitted work rolled back) at teardown."""
    if "db_session" not in g:
        g.db_session = console().db.sessionmaker()
    return g.db_session


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
