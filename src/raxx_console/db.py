"""Database access: one engine per process, sessions in UTC, SQLite tuned for web + worker threads.

PostgreSQL (psycopg 3) is production; SQLite is the embedded default. Both run the same
Alembic migrations. Services take a ``Session`` (or the ``Database`` when they must commit
more than once, e.g. to reserve a key before calling FreeScout) and never open their own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: PostgreSQL connections are replaced after this long, before a server or proxy drops them.
POOL_RECYCLE_SECONDS = 1800
#: A pooled connection idle longer than this is pinged at checkout; a warm one is trusted.
IDLE_PING_SECONDS = 30.0

#: JSONB on PostgreSQL (the runbooks query ``payload->>'alert_key'``), JSON text on SQLite.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit ids on PostgreSQL; SQLite only auto-increments a plain INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on both backends (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every model; ``raxx_console.models`` imports them all."""

    type_annotation_map = {datetime: UTCDateTime()}


@contextmanager
def committing(session: Session) -> Iterator[Session]:
    """One transaction of ``session``: committed on success, rolled back on error."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` cannot be used; the message says what was expected and never echoes it."""


#: SQLAlchemy backends the console runs on (psycopg 3 for PostgreSQL).
SUPPORTED_BACKENDS = frozenset({"postgresql", "sqlite"})
EXPECTED_URL = "expected postgres://user:password@host:port/name or sqlite:///path"


def check_url(url: str) -> str:
    """The normalized URL if it names a supported database; DatabaseUrlError (value-free) otherwise."""
    normalized = normalize_url(url.strip())
    try:
        parsed = make_url(normalized)
        backend = parsed.get_backend_name()
        port = parsed.port  # parses it: "host:abc" fails here
    except (ArgumentError, ValueError):
        raise DatabaseUrlError(f"not a database URL; {EXPECTED_URL}") from None
    if backend not in SUPPORTED_BACKENDS:
        raise DatabaseUrlError(f"unsupported database; {EXPECTED_URL}")
    if backend == "postgresql" and (not parsed.database or (port is not None and not 0 < port < 65536)):
        raise DatabaseUrlError(f"a PostgreSQL URL needs a database name and a valid port; {EXPECTED_URL}")
    if backend == "sqlite" and not parsed.database:
        raise DatabaseUrlError(f"a SQLite URL needs a file path; {EXPECTED_URL}")
    return normalized


def normalize_url(url: str) -> str:
    """Heroku's ``postgres://`` and plain ``postgresql://`` both mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_savepoint(connection: Any, _name: str) -> None:
    """Open the real transaction before a SAVEPOINT that would otherwise stand alone.

    pysqlite begins a transaction only at the first INSERT/UPDATE/DELETE, so reads run outside
    one and a write waits out ``busy_timeout`` instead of failing on a stale snapshot. The one
    casualty is a SAVEPOINT issued before any write: SQLite would make it a transaction of its
    own, committed at RELEASE, beyond the caller's rollback. A savepoint here always precedes
    a write (a reservation, an outbox item), so take the write lock now.
    """
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN IMMEDIATE")


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """No ping per checkout (it costs a round trip on every transaction of a click): only a
    connection that sat idle long enough to have been dropped is tried, and a dead one is
    replaced here, before the caller's transaction — the retry on a dead connection
    (``DisconnectionError`` makes the pool reconnect). A connection that dies mid-transaction
    invalidates the pool (SQLAlchemy's disconnect handling), so the next checkout is fresh."""
    idle_since = record.info.get("checked_in_at")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception as exc:
        raise DisconnectionError("idle connection is gone") from exc


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = check_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.engine: Engine = create_engine(
                self.url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                poolclass=NullPool,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "savepoint", _sqlite_savepoint)
        else:
            self.engine = create_engine(
                self.url,
                # Custom plans always: a cached generic plan, made while a table was small,
                # would go on scanning it whole once it grew (an alert storm fills one fast).
                # No JIT: its compilation (10-25 ms) is paid by each execution of a statement
                # estimated above jit_above_cost — as an ingest batch's lock became once its
                # tables outgrew their statistics — and none of ours runs long enough to repay it
                # (docs/decisions.md, "Ingest: no JIT, and no index nobody reads").
                connect_args={"options": "-c timezone=UTC -c plan_cache_mode=force_custom_plan -c jit=off"},
                pool_size=pool_size,
                max_overflow=20,
                pool_recycle=POOL_RECYCLE_SECONDS,
            )
            event.listen(self.engine, "checkin", _note_checkin)
            event.listen(self.engine, "checkout", _ping_if_idle)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessionmaker()
        try:
            with committing(session):
                yield session
        finally:
            session.close()

    def ping(self) -> bool:
        """True when the database answers ``SELECT 1``."""
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


# --- set-based statements: a whole batch as one JSON parameter -----------------------------------


def json_rowset(dialect: Dialect, columns: Sequence[tuple[str, str]]) -> str:
    """A JSON array of objects bound as ``:rows``, as a table ``v`` with ``columns`` (name, SQL type).

    PostgreSQL: ``jsonb_to_recordset``; SQLite: ``json_each``. A statement built on it has one
    parameter whatever the batch's size, so its text is the same for every batch (compiled and
    parsed once) and the server runs it once, not once per row.
    """
    quote = dialect.identifier_preparer.quote
    if dialect.name == "postgresql":
        spec = ", ".join(f"{quote(name)} {sql_type}" for name, sql_type in columns)
        return f"jsonb_to_recordset(CAST(:rows AS jsonb)) AS v({spec})"
    picked = ", ".join(f"json_extract(value, '$.\"{name}\"') AS {quote(name)}" for name, _ in columns)
    return f"(SELECT {picked} FROM json_each(:rows)) AS v"  # noqa: S608 - names from our tables


def json_rows(dialect: Dialect, rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as the ``:rows`` of ``json_rowset``: datetimes as each backend stores them."""

    postgres = dialect.name == "postgresql"
    texts: dict[datetime, str] = {}  # a batch's rows mostly share one ``now``: formatted once

    def stored(item: Any) -> Any:
        if not isinstance(item, datetime):
            raise TypeError(f"{type(item).__name__} is not JSON serializable")
        text = texts.get(item)
        if text is None:
            utc = item.astimezone(UTC)
            text = texts[item] = utc.isoformat() if postgres else f"{utc:%Y-%m-%d %H:%M:%S.%f}"
        return text

    return json.dumps(rows, default=stored)


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    on_conflict: str = "",
    returning: str = "",
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (dicts with the same keys) with one ``INSERT … SELECT`` from a JSON row set.

    ``on_conflict`` (e.g. ``"(alert_id) DO NOTHING"``) and ``returning`` (e.g. ``"id, ref"``) are
    appended as written; the rows come back in the order they were inserted.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect
    statement = _insert_statement(dialect, table, tuple(rows[0]), on_conflict, returning)
    result = session.connection().execute(statement, {"rows": json_rows(dialect, rows)})
    return [tuple(row) for row in result] if returning else []


@lru_cache(maxsize=64)
def _insert_statement(
    dialect: Dialect, table: Table, names: tuple[str, ...], on_conflict: str, returning: str
) -> TextClause:
    """``insert_rows``'s statement, built once per shape: a batch only binds its rows."""
    columns = [(name, table.c[name].type.compile(dialect=dialect)) for name in names]
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    source = json_rowset(dialect, columns)
    # SQLite needs a WHERE to tell an upsert's ON from a join's.
    sql = f"INSERT INTO {table.name} ({quoted}) SELECT {quoted} FROM {source} WHERE true"  # noqa: S608
    if on_conflict:
        sql += f" ON CONFLICT {on_conflict}"
    if returning:
        sql += f" RETURNING {returning}"
    return text(sql)
