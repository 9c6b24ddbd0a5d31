"""What an Investigate click costs the database, counted (not timed): transactions and statements.

A first click reserves in the request's own transaction and settles in one more; a repeat click
reads FreeScout between its first look and one write: its audit row, with what FreeScout said
when that changed or a minute has passed. Both databases,
the FreeScout sandbox over real HTTP; each test warms up with a click on another surface first
(the flag cache, the connection pool, the outbox's recovery state are per process).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, select

from raxx_console.tickets.models import Ticket
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
    [audited] = seen.where("INSERT INTO audit_log")
    assert audited == seen.transactions, "the audit row is the click's one write, after the read"
    assert not seen.where("UPDATE tickets"), "FreeScout said what we knew, a moment ago"
    assert not seen.where("INSERT INTO tickets") and not seen.where("INSERT INTO outbox")
    assert len(seen.statements) <= 5, seen.statements
    assert not seen.where("flag_overrides"), "flags come from the process's cache"


def test_a_repeat_click_records_freescouts_answer_when_it_changed_or_a_minute_passed(
    console, warm, clock, freescout_sandbox
):
    client, token = warm
    first = click(client, token=token).get_json()
    pending = {"byUser": 1, "status": "pending"}
    moved = freescout_sandbox.api("PUT", f"conversations/{first['ticket_id']}", json=pending)
    assert moved.status_code == 204
    with counted(console.db.engine) as changed:
        assert click(client, token=token).get_json()["ticket_id"] == first["ticket_id"]
    [checked] = changed.where("UPDATE tickets SET fs_status")
    assert changed.where("INSERT INTO audit_log") == [checked], "the audit row commits with the check"
    assert _ticket(console, first["ticket_id"]).fs_status == "pending"
    clock.advance(61)
    with counted(console.db.engine) as later:
        click(client, token=token)
    assert len(later.where("UPDATE tickets SET fs_status")) == 1
    assert _ticket(console, first["ticket_id"]).fs_checked_at == clock.now()


def _ticket(console, ticket_id: int) -> Ticket:
    with console.db.session() as session:
        return session.scalars(select(Ticket).where(Ticket.ticket_id == ticket_id)).one()


def test_a_bearer_token_costs_one_query(app, console, warm, operator_token):
    """A script's click (bearer token) finds its token and the token's user in one statement."""
    with counted(console.db.engine) as seen:
        body = click(app.test_client(), bearer=operator_token).get_json()
    assert body["ticket_id"] and body["degraded"] is False
    assert len(seen.where("FROM api_tokens")) == 1
    assert not [sql for _tx, sql in seen.statements if sql.startswith("SELECT users.")]
