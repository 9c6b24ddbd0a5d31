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
