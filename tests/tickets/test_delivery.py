"""The FreeScout outbox handlers (create, tags, note) against the sandbox over real HTTP."""

from __future__ import annotations

import logging
import re

import pytest

from raxx_console.jobs import JOBS, OUTBOX_HANDLERS
from raxx_console.outbox import service as outbox
from raxx_console.tickets import delivery, render
from raxx_console.tickets import service as tickets_service
from raxx_console.tickets.models import ENTRY_ALERT
from raxx_console.tickets.service import TicketRequest, reserve
from tests.support.rows import audit_rows
from tests.tickets.helpers import (
    AUTO_TICKET_FLAG,
    INVESTIGATE_FLAG,
    SURFACE,
    click,
    grid_token,
    items,
    set_flag,
    set_status,
    tickets,
)


@pytest.fixture(autouse=True)
def _wired(freescout_settings):
    """Every app in this module talks to the sandbox."""


def reserve_alert(console, alert_key="status_poller:a3f9b812c0d1e2f3", surface_id=SURFACE):
    """What entry B does in its own transaction: reserve, and let the worker deliver."""
    request = TicketRequest(
        entry=ENTRY_ALERT,
        dedup_key=alert_key,
        title="[P2] status_poller: API (production) is degraded",
        tags=tickets_service.tags_for(ENTRY_ALERT, "status_poller"),
        requested_by="system:alert_aggregator",
        selected_env=console.env,
        build_body=lambda ref, related: render.body("alert", [("Severity", "P2")], ref=ref, related=related),
        surface_id=surface_id,
        severity="P2",
    )
    with console.db.session() as session:
        return reserve(session, console.clock, console.settings, request).ticket


def methods(sandbox):
    return [(r["method"], re.sub(r"/\d+", "/<id>", r["path"])) for r in sandbox.requests()]


def test_the_worker_files_an_alert_reservation_with_its_own_tags_and_audit(
    console, freescout_sandbox, caplog
):
    set_flag(console, AUTO_TICKET_FLAG)
    caplog.set_level(logging.INFO)
    ticket = reserve_alert(console)
    assert outbox.deliver_due(console) == 1
    [conversation] = freescout_sandbox.conversations()
    assert conversation.tags == ["auto:alert", "auto:alert:status_poller"]
    assert ticket.ref in conversation.subject
    assert methods(freescout_sandbox) == [
        ("POST", "/api/conversations"),
        ("PUT", "/api/conversations/<id>/tags"),
    ], "a first attempt creates and tags, without looking anything up"
    [row] = audit_rows(console, "console.alerts.ticket_filed")
    assert row.actor == "system:alert_aggregator"
    assert row.payload == {
        "alert_key": "status_poller:a3f9b812c0d1e2f3",
        "severity": "P2",
        "ticket_id": conversation.id,
        "ticket_url": f"{freescout_sandbox.url}/conversation/{conversation.id}",
    }
    assert any(
        f"ticket_filed entry=B key=status_poller:a3f9b812c0d1e2f3 ticket_id={conversation.id}"
        in r.getMessage()
        for r in caplog.records
        if r.levelname == "INFO"
    )
    assert outbox.deliver_due(console) == 0
    assert len(freescout_sandbox.conversations()) == 1


def test_the_alerts_flag_is_checked_again_at_delivery(console, freescout_sandbox):
    reserve_alert(console)
    outbox.deliver_due(console)
    assert freescout_sandbox.requests() == []
    assert [(t.state, t.last_reason) for t in tickets(console)] == [("cancelled", "flag_off")]


def test_a_create_that_timed_out_after_freescout_made_it_is_adopted_not_repeated(
    request, freescout_settings, freescout_sandbox, clock
):
    freescout_settings["FREESCOUT_TIMEOUT_SECONDS"] = 0.5
    console = request.getfixturevalue("console")
    client = request.getfixturevalue("operator")
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    freescout_sandbox.faults(mode="timeout_after_create", latency_ms=1500)
    answer = click(client, token=grid_token(client)).get_json()
    assert (answer["queued"], answer["reason"]) == (True, "freescout_unavailable")
    [made] = freescout_sandbox.conversations()
    [ticket] = tickets(console)
    assert (ticket.state, ticket.ref in made.subject) == ("pending", True)
    assert "uncertain" in ticket.last_detail

    freescout_sandbox.faults(mode="ok")
    freescout_sandbox.clear_requests()
    clock.advance(outbox.BACKOFF_CAP_SECONDS)
    assert outbox.deliver_due(console) == 1
    [conversation] = freescout_sandbox.conversations()
    assert conversation.id == made.id, "exactly one conversation"
    assert conversation.tags == ["auto:status", "auto:status:api-prod"]
    calls = methods(freescout_sandbox)
    assert calls[0] == ("GET", "/api/conversations"), "looked up by ref first"
    assert ("POST", "/api/conversations") not in calls
    [ticket] = tickets(console)
    assert (ticket.state, ticket.ticket_id, ticket.tags_applied) == ("filed", made.id, True)
    [row] = audit_rows(console, "console.status.ticket_filed")
    assert row.payload["ticket_id"] == made.id


@pytest.mark.parametrize(
    ("before", "looked_up"),
    [
        (["down"], False),  # 503 from the edge: FreeScout certainly made nothing
        (["error500"], True),  # a 500 on the create: it may have made the conversation
        (["error500", "down"], True),  # a later certain failure does not clear an earlier doubt
        (["killed"], True),  # a deliverer died mid-call: nothing recorded how it ended
    ],
)
def test_a_create_is_looked_up_first_only_after_an_attempt_that_may_have_made_it(
    console, freescout_sandbox, clock, before, looked_up
):
    set_flag(console, AUTO_TICKET_FLAG)
    ticket = reserve_alert(console)
    for fault in before:
        if fault == "killed":
            assert len(outbox.claim_due(console)) == 1  # leased, and never recorded
            clock.advance(outbox.LEASE_SECONDS + 1)
            continue
        freescout_sandbox.faults(mode=fault)
        assert outbox.deliver_due(console) == 1
        clock.advance(outbox.BACKOFF_CAP_SECONDS)
    freescout_sandbox.faults(mode="ok")
    freescout_sandbox.clear_requests()
    assert outbox.deliver_due(console) == 1
    lookup = [("GET", "/api/conversations")] if looked_up else []
    assert methods(freescout_sandbox) == [
        *lookup,
        ("POST", "/api/conversations"),
        ("PUT", "/api/conversations/<id>/tags"),
    ]
    [conversation] = freescout_sandbox.conversations()
    [filed] = tickets(console)
    assert (filed.state, filed.ticket_id, ticket.ref in conversation.subject) == (
        "filed",
        conversation.id,
        True,
    )


def test_a_failed_tag_call_leaves_the_ticket_standing_and_the_tags_follow(
    console, operator, freescout_sandbox, clock, caplog
):
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    caplog.set_level(logging.INFO)
    freescout_sandbox.faults(tags_module=False)
    answer = click(operator, token=grid_token(operator)).get_json()
    [conversation] = freescout_sandbox.conversations()
    assert (answer["ticket_id"], answer["degraded"]) == (conversation.id, False), "the ticket stands"
    assert conversation.tags == []
    [ticket] = tickets(console)
    assert (ticket.state, ticket.tags_applied) == ("filed", False)
    assert any("tags=pending" in r.getMessage() for r in caplog.records if "ticket_filed" in r.getMessage())
    [tags_item] = items(console, "freescout.tags")
    assert tags_item.state == "pending"

    outbox.deliver_due(console)
    assert items(console, "freescout.tags")[0].last_reason == "freescout_rejected", "retried, not dropped"
    assert items(console, "freescout.tags")[0].state == "pending"
    freescout_sandbox.faults(tags_module=True)
    clock.advance(outbox.BACKOFF_CAP_SECONDS)
    outbox.deliver_due(console)
    assert freescout_sandbox.conversations()[0].tags == ["auto:status", "auto:status:api-prod"]
    assert tickets(console)[0].tags_applied is True
    assert items(console, "freescout.tags")[0].state == "done"
    assert len(freescout_sandbox.conversations()) == 1, "never created again"


def test_filing_on_a_surface_with_an_open_ticket_from_the_other_entry_cross_links_both(
    console, operator, freescout_sandbox
):
    set_flag(console, AUTO_TICKET_FLAG)
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    alert_ticket = reserve_alert(console)
    outbox.deliver_due(console)
    [alert_conversation] = freescout_sandbox.conversations()
    answer = click(operator, token=grid_token(operator)).get_json()
    investigate_conversation = freescout_sandbox.conversations()[1]
    assert answer["ticket_id"] == investigate_conversation.id
    body = investigate_conversation.threads[-1].body
    assert f"conversation/{alert_conversation.id}" in body and alert_ticket.ref in body, "the body names it"
    [note_item] = items(console, "freescout.note")
    assert note_item.ticket_pk == alert_ticket.id
    outbox.deliver_due(console)
    notes = [t for t in freescout_sandbox.conversations()[0].threads if t.type == "note"]
    assert len(notes) == 1
    assert f"conversation/{investigate_conversation.id}" in notes[0].body
    assert notes[0].user_id == 1, "written by FREESCOUT_BOT_USER_ID"
    assert items(console, "freescout.note")[0].state == "done"


def test_a_note_waits_for_its_ticket_to_be_filed(console, freescout_sandbox, clock):
    ticket = reserve_alert(console)  # still pending: nothing has delivered it yet
    with console.db.session() as session:
        outbox.enqueue(
            session,
            clock,
            kind="freescout.note",
            dedup_key="n1",
            ticket_pk=ticket.id,
            payload={"text": "<p>hi</p>"},
        )
    [note] = items(console, "freescout.note")
    result = delivery.deliver_note(console, note)
    assert (result.status, result.reason) == ("retry", "ticket_not_filed")
    assert freescout_sandbox.requests() == []


def test_an_already_settled_ticket_is_not_filed_again(console, freescout_sandbox):
    set_flag(console, AUTO_TICKET_FLAG)
    reserve_alert(console)
    outbox.deliver_due(console)
    freescout_sandbox.clear_requests()
    result = delivery.deliver_create(console, items(console, "freescout.create")[0])
    assert result.status == "done"
    assert freescout_sandbox.requests() == []
    assert len(freescout_sandbox.conversations()) == 1


def test_every_process_knows_the_handlers_and_the_worker_runs_the_outbox():
    assert {"freescout.create", "freescout.tags", "freescout.note"} <= set(OUTBOX_HANDLERS)
    [job] = [job for job in JOBS if job.name == "outbox"]
    assert job.interval(None) == 5.0
    assert job.waiter is outbox.wait_for_work
    assert job.stop is outbox.stop_delivering, "a stopping worker lets its deliveries finish, starts none"
