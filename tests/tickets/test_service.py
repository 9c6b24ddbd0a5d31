"""tickets.service: the reservation both entries use, entry A's races, and what tiles show."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from raxx_console.outbox import service as outbox
from raxx_console.outbox.models import OutboxItem
from raxx_console.status import investigation, ticket_view
from raxx_console.status import service as status_service
from raxx_console.status.ticket_view import Answer, answer_for
from raxx_console.tickets import render
from raxx_console.tickets import service as tickets_service
from raxx_console.tickets.models import ENTRY_ALERT, ENTRY_STATUS, Ticket
from raxx_console.tickets.reasons import explain
from raxx_console.tickets.service import TicketRequest, reserve
from tests.support.rows import audit_rows
from tests.tickets.helpers import INVESTIGATE_FLAG, OPERATOR, SURFACE, items, set_flag, set_status, tickets


@pytest.fixture(autouse=True)
def _wired(freescout_settings):
    """Every app in this module talks to the sandbox."""


def request_for(console, key="api-prod:degraded", entry=ENTRY_STATUS, surface_id=SURFACE, title="t"):
    return TicketRequest(
        entry=entry,
        dedup_key=key,
        title=title,
        tags=tickets_service.tags_for(entry, surface_id),
        requested_by=OPERATOR,
        selected_env="staging",
        build_body=lambda ref, related: render.body(
            "heading", [("Detail", "<script>alert(1)</script>")], ref=ref, related=related
        ),
        surface_id=surface_id,
        surface_status="degraded",
    )


def add_ticket(console, **fields):
    """A Ticket row as another process would have left it."""
    now = console.clock.now()
    values = {
        "entry": ENTRY_STATUS,
        "dedup_key": "api-prod:degraded",
        "ref": tickets_service.new_ref(),
        "state": "filed",
        "surface_id": SURFACE,
        "surface_status": "degraded",
        "subject": "s",
        "body_html": "b",
        "tags": [],
        "requested_by": OPERATOR,
        "created_at": now,
        "filed_at": now,
        "ticket_id": 41,
        "ticket_url": "https://tickets.example/conversation/41",
        "fs_status": "active",
    } | fields
    with console.db.session() as session:
        ticket = Ticket(**values)
        session.add(ticket)
        session.flush()
        session.expunge(ticket)
    return ticket


def test_one_reservation_per_key_may_be_in_flight(console):
    with console.db.session() as session:
        first = reserve(session, console.clock, console.settings, request_for(console))
    with console.db.session() as session:
        assert reserve(session, console.clock, console.settings, request_for(console)) is None
        assert tickets_service.pending_for(session, ENTRY_STATUS, "api-prod:degraded").id == first.ticket.id
        other = reserve(session, console.clock, console.settings, request_for(console, key="api-prod:down"))
        assert other is not None, "another status is another key"
        same_key_b = reserve(
            session, console.clock, console.settings, request_for(console, entry=ENTRY_ALERT)
        )
        assert same_key_b is not None, "entries A and B never dedup against each other"
    with console.db.session() as session:
        session.get(Ticket, first.ticket.id).state = "failed"
    with console.db.session() as session:
        assert reserve(session, console.clock, console.settings, request_for(console)) is not None


def test_a_reservation_carries_its_ref_tags_body_and_a_create_item(console):
    with console.db.session() as session:
        plain = reserve(
            session, console.clock, console.settings, request_for(console, title="api-prod\nis x")
        )
        leased = reserve(
            session, console.clock, console.settings, request_for(console, key="k2"), lease_for=60
        )
        ticket, item = plain.ticket, plain.item
        assert re.fullmatch(r"RX-[0-9A-F]{8}", ticket.ref)
        assert ticket.subject == f"[{ticket.ref}] api-prod is x"
        assert ticket.tags == ["auto:status", "auto:status:api-prod"]
        assert "&lt;script&gt;" in ticket.body_html and "<script>" not in ticket.body_html
        assert f"Reference: {ticket.ref}" in ticket.body_html
        assert (ticket.state, ticket.mailbox_id) == (
            "pending",
            console.settings.FREESCOUT_OPERATIONS_MAILBOX_ID,
        )
        assert (item.kind, item.ticket_pk, item.payload) == (
            "freescout.create",
            ticket.id,
            {"selected_env": "staging"},
        )
        assert (item.attempts, item.lease_until) == (0, None), "the worker delivers it"
        assert leased.item.attempts == 1
        assert leased.item.lease_until == console.clock.now() + timedelta(seconds=60)


def test_the_body_names_the_other_entrys_open_ticket_on_the_surface(console):
    add_ticket(
        console,
        entry=ENTRY_ALERT,
        dedup_key="status_poller:abc",
        ref="RX-0000000B",
        ticket_id=7,
        ticket_url="https://tickets.example/conversation/7",
    )
    add_ticket(
        console,
        entry=ENTRY_ALERT,
        dedup_key="status_poller:old",
        ref="RX-0000000C",
        ticket_id=8,
        fs_status="closed",
    )
    with console.db.session() as session:
        body = reserve(session, console.clock, console.settings, request_for(console)).ticket.body_html
    assert "Also open for this surface" in body
    assert '<a href="https://tickets.example/conversation/7">#7</a>' in body
    assert "RX-0000000B" in body
    assert "RX-0000000C" not in body, "a closed ticket is not named"


def test_render_escapes_everything_and_links_only_http():
    html = render.body(
        "<b>x</b>",
        [("A&B", "<img src=x onerror=alert(1)>"), ("Link", render.link("javascript:alert(1)", "click"))],
        ref="RX-1",
    )
    assert "<img" not in html and "<b>x</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "A&amp;B" in html
    assert "javascript:" not in html
    assert str(render.link('https://a.example/"x', "t")) == '<a href="https://a.example/&#34;x">t</a>'
    assert render.subject("RX-1", "line\r\none\ttab") == "[RX-1] line one tab"
    assert len(render.subject("RX-1", "x" * 400)) == render.SUBJECT_MAX


def test_reasons_are_explained_with_what_to_check():
    assert "CF_ACCESS_SVC_TICKETS_CLIENT_ID/SECRET" in explain("cf_access_denied")
    assert "runbook Step 1.5" in explain("cf_access_denied")
    missing = explain("freescout_not_configured", detail="missing=FREESCOUT_API_URL,FREESCOUT_API_KEY")
    assert "Missing: FREESCOUT_API_URL, FREESCOUT_API_KEY." in missing
    assert "FLAG_CONSOLE_ALERTS_AUTO_TICKET" in explain("flag_off", entry=ENTRY_ALERT)
    assert "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS" in explain("flag_off")
    assert explain("something_new") == "Filing failed (something_new)."


def test_answers_by_reservation_state(console):
    filed = add_ticket(console)
    assert answer_for(filed, idempotent=True).to_json() == {
        "ticket_id": 41,
        "ticket_url": "https://tickets.example/conversation/41",
        "idempotent": True,
        "degraded": False,
        "ref": filed.ref,
    }
    queued = add_ticket(console, state="pending", dedup_key="k1", last_reason="freescout_unavailable")
    body = answer_for(queued, idempotent=False).to_json()
    assert (body["degraded"], body["queued"], body["reason"], body["ref"]) == (
        True,
        True,
        "freescout_unavailable",
        queued.ref,
    )
    assert "ticket_id" not in body and "Queued" in body["message"]
    failed = add_ticket(console, state="failed", dedup_key="k2", last_reason="freescout_auth_error")
    assert answer_for(failed, idempotent=False).to_json()["reason"] == "freescout_auth_error"
    assert "queued" not in answer_for(failed, idempotent=False).to_json()
    assert Answer().to_json() == {"degraded": False}


@pytest.fixture
def degraded(console):
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)


def investigate(console):
    """What the view does once it has checked the flag and the status."""

    def describe():
        with console.db.session() as session:
            return status_service.tile(session, console.clock, console.surfaces, SURFACE)

    return investigation.investigate(
        console, SURFACE, "degraded", describe=describe, actor=OPERATOR, env="development"
    )


def reserve_elsewhere(console, **changes):
    """Another process's click: its reservation committed, its FreeScout call not yet answered."""
    with console.db.session() as session:
        reservation = reserve(
            session, console.clock, console.settings, request_for(console), lease_for=outbox.LEASE_SECONDS
        )
        for name, value in changes.items():
            setattr(reservation.ticket, name, value)
        return reservation.ticket.id, reservation.item.id


def test_a_click_waits_for_a_reservation_in_flight_and_answers_its_ticket(
    console, degraded, freescout_sandbox
):
    _ticket_id, item_id = reserve_elsewhere(console)
    other_click = threading.Timer(0.3, outbox.deliver, args=(console, item_id))
    other_click.start()
    answer = investigate(console)
    other_click.join()
    [conversation] = freescout_sandbox.conversations()
    assert (answer.ticket_id, answer.idempotent) == (conversation.id, True)
    assert [r.payload["idempotent"] for r in audit_rows(console, "console.status.ticket_filed")] == [
        False,
        True,
    ]


def test_a_click_answers_queued_for_a_reservation_that_is_already_retrying(
    console, degraded, freescout_sandbox
):
    reserve_elsewhere(console, last_reason="freescout_unavailable")
    answer = investigate(console)
    ref = tickets(console)[0].ref
    assert (answer.queued, answer.degraded, answer.ref, answer.reason) == (
        True,
        True,
        ref,
        "freescout_unavailable",
    )
    assert freescout_sandbox.conversations() == []
    assert len(tickets(console)) == 1


def test_a_click_stops_waiting_after_a_few_seconds(console, degraded, monkeypatch):
    monkeypatch.setattr(investigation, "PENDING_WAIT_SECONDS", 0.2)
    reserve_elsewhere(console)
    answer = investigate(console)
    assert (answer.queued, answer.reason) == (True, "filing_in_progress")
    assert answer.ref == tickets(console)[0].ref


def test_the_recheck_after_insert_reuses_a_ticket_filed_since_the_first_look(console, degraded):
    """The race recipe: a concurrent click filed between our first look and our insert."""
    filed = add_ticket(console)
    with console.db.session() as session:
        tile = status_service.tile(session, console.clock, console.surfaces, SURFACE)
    found = investigation._reserve_click(console, SURFACE, "degraded", tile, actor=OPERATOR, env="dev")
    assert isinstance(found, Ticket) and found.id == filed.id
    assert [t.state for t in tickets(console)] == ["filed"], "our reservation was rolled back"
    assert items(console) == []


def test_an_expired_reservation_no_longer_blocks_its_key(console, degraded, clock, freescout_sandbox):
    with console.db.session() as session:
        request = request_for(console)
        stale = reserve(session, console.clock, console.settings, request).ticket
        stale.expires_at = clock.now() + timedelta(minutes=60)
    clock.advance(61 * 60)
    answer = investigate(console)
    assert answer.ticket_id == freescout_sandbox.conversations()[0].id
    states = {t.ref: (t.state, t.last_reason) for t in tickets(console)}
    assert states[stale.ref] == ("expired", "expired_before_delivery")


def test_tiles_show_the_newest_reservation_and_the_open_ticket(console, clock):
    add_ticket(console, ref="RX-00000001", ticket_id=1)
    clock.advance(60)
    add_ticket(
        console,
        ref="RX-00000002",
        state="failed",
        ticket_id=None,
        filed_at=None,
        last_reason="freescout_auth_error",
    )
    add_ticket(
        console,
        ref="RX-00000003",
        surface_id="api-staging",
        dedup_key="api-staging:down",
        fs_status="closed",
        ticket_id=3,
    )
    with console.db.session() as session:
        since = clock.now() - timedelta(hours=1)
        latest = ticket_view.latest_investigations(session, ["api-prod:degraded", "nope"], since)
        linked = ticket_view.open_tickets(session, [SURFACE, "api-staging"], clock.now())
    assert list(latest) == ["api-prod:degraded"]
    assert (latest["api-prod:degraded"].ref, latest["api-prod:degraded"].state) == ("RX-00000002", "failed")
    assert "FREESCOUT_API_KEY" in latest["api-prod:degraded"].message
    assert list(linked) == [SURFACE], "a ticket known closed is not shown as open"
    assert linked[SURFACE].linked.to_json()["ticket_id"] == 1
    assert [line.ref for line in linked[SURFACE].story] == ["RX-00000001"], "a failed reservation is no story"
    with console.db.session() as session:
        assert session.scalar(select(OutboxItem)) is None, "reading tiles never enqueues anything"
