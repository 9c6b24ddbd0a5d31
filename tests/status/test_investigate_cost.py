"""What an Investigate click costs the database, counted (not timed): transactions and statements.

A first click reserves in the request's own transaction and settles in one more; a repeat click
reads FreeScout between its first look and one write that carries its audit row. Both databases,
the FreeScout sandbox over real HTTP; each test warms up with a click on another surface first
(the flag cache, the connection pool, the outbox's recovery state are per process).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from tests.tickets.helpers import INVESTIGATE_FLAG, click, grid_token, set_flag, set_status

OTHER = "api-staging"


@pytest.fixture(autouse=True)
def _wired(freescout_settings):
    """Every app in this module talks to the sandbox."""


@dataclass
class Seen:
    """Each statement with the number of the transaction it ran in (1, 2, …)."""

    transactions: int = 0
    statements: list[tuple[int, str]] = field(default_factory=list)

    def where(self, fragment: str) -> list[int]:
        """The transactions of the statements that contain ``fragment``."""
        return [tx for tx, sql in self.statements if fragment in sql]


@contextmanager
def counted(engine) -> Iterator[Seen]:
    seen = Seen()

    def begin(_conn) -> None:
        seen.transactions += 1

    def statement(_conn, _cursor, sql, *_args) -> None:
        seen.statements.append((seen.transactions, " ".join(sql.split())))

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "before_cursor_execute", statement)


@pytest.fixture
def warm(console, operator):
    """An operator on the grid, Investigate on, one click already made on another surface."""
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console, OTHER)
    set_status(console)
    token = grid_token(operator)
    assert click(operator, OTHER, token=token).get_json()["idempotent"] is False
    return operator, token


def test_a_first_click_reserves_in_the_requests_transaction_and_settles_in_one_more(console, warm):
    client, token = warm
    with counted(console.db.engine) as seen:
        body = click(client, token=token).get_json()
    assert (body["idempotent"], body["degraded"]) == (False, False) and body["ticket_id"]
    assert seen.transactions <= 3, seen.statements
    [reserved] = seen.where("INSERT INTO tickets")
    assert seen.where("INSERT INTO outbox") == [reserved], "the reservation and its item commit together"
    [settled] = seen.where("UPDATE tickets SET state")
    assert settled > reserved
    assert seen.where("INSERT INTO audit_log") == [settled], "the audit row commits with the settlement"
    assert not seen.where("flag_overrides"), "flags come from the process's cache"


def test_a_repeat_click_is_one_read_then_one_write_with_its_audit_row(console, warm):
    client, token = warm
    first = click(client, token=token).get_json()
    with counted(console.db.engine) as seen:
        again = click(client, token=token).get_json()
    assert (again["ticket_id"], again["idempotent"]) == (first["ticket_id"], True)
    assert seen.transactions <= 2, seen.statements
    [checked] = seen.where("UPDATE tickets SET fs_status")
    assert seen.where("INSERT INTO audit_log") == [checked], "the audit row commits with the check"
    assert not seen.where("INSERT INTO tickets") and not seen.where("INSERT INTO outbox")
    assert len(seen.statements) <= 6, seen.statements
    assert not seen.where("flag_overrides"), "flags come from the process's cache"


def test_a_bearer_token_costs_one_query(app, console, warm, operator_token):
    """A script's click (bearer token) finds its token and the token's user in one statement."""
    with counted(console.db.engine) as seen:
        body = click(app.test_client(), bearer=operator_token).get_json()
    assert body["ticket_id"] and body["degraded"] is False
    assert len(seen.where("FROM api_tokens")) == 1
    assert not [sql for _tx, sql in seen.statements if sql.startswith("SELECT users.")]
