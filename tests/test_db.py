"""Database behaviour the services rely on, on both backends."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from raxx_console.db import normalize_url
from raxx_console.flags.models import FlagOverride


def test_a_savepoint_as_the_first_write_still_rolls_back_with_its_transaction(console):
    with console.db.sessionmaker() as session:
        with session.begin_nested():
            session.add(FlagOverride(name="F", value=True, updated_at=console.clock.now(), updated_by="t"))
        session.rollback()
    with console.db.session() as session:
        assert session.scalar(select(FlagOverride)) is None


def test_timestamps_come_back_aware_in_utc(console):
    moment = datetime(2026, 11, 23, 9, 30, tzinfo=UTC) + timedelta(microseconds=5)
    with console.db.session() as session:
        session.add(FlagOverride(name="F", value=True, updated_at=moment, updated_by="t"))
    with console.db.session() as session:
        assert session.scalar(select(FlagOverride.updated_at)) == moment


def test_naive_datetimes_are_refused(console):
    with pytest.raises(Exception, match="naive datetime"), console.db.session() as session:
        session.add(FlagOverride(name="F", value=True, updated_at=datetime(2026, 1, 1), updated_by="t"))
        session.flush()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://h/db", "postgresql+psycopg://h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_heroku_urls_mean_psycopg(given, expected):
    assert normalize_url(given) == expected


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(console):
    """No ping per checkout; a pooled connection idle long enough to be dead is tried and replaced."""
    if not console.db.is_postgres:
        pytest.skip("SQLite opens a connection per session (no pool)")
    import psycopg
    from sqlalchemy import text

    from raxx_console import db

    with console.db.session() as session:
        victim = session.scalar(text("SELECT pg_backend_pid()"))
    url = console.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (victim,))
    for record in list(console.db.engine.pool._pool.queue):  # type: ignore[attr-defined]
        record.info["checked_in_at"] -= db.IDLE_PING_SECONDS + 1
    for _ in range(2):  # whichever pooled connection comes first, the dead one is never handed out
        with console.db.session() as session:
            assert session.scalar(text("SELECT pg_backend_pid()")) != victim
