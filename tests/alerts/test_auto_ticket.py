"""The auto-ticket hook and the ticket lifecycle, over real HTTP to the FreeScout and Slack sandboxes.

Emissions come straight from ``alert_aggregator.emit`` (the poller's own path is in
tests/status/test_poller.py); the outbox is delivered by calling it, and the clock is moved by hand.
"""

from __future__ import annotations

import logging

import pytest

from raxx_console.alerts.auto_ticket import FAILED_RETRY
from raxx_console.context import build_console
from raxx_console.tickets.models import Ticket
from tests.alerts.helpers import (
    AUTO_RESOLVE_FLAG,
    AUTO_TICKET_FLAG,
    FILED,
    alert,
    decided,
    decisions,
    deliver,
    fire,
    items,
    lines,
    rows,
    set_flag,
    tickets,
)
from tests.support.rows import audit_rows
from tests.support.sandboxes import CONSOLE_BASE_URL
from tests.tickets.helpers import INVESTIGATE_FLAG, click, set_status


@pytest.fixture
def console(alerts_console):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    return alerts_console


def notes(conversation) -> list[str]:
    return [t.body for t in reversed(conversation.threads) if t.type == "note"]


def close_as_a_person(freescout_sandbox, conversation_id: int) -> None:
    response = freescout_sandbox.api(
        "PUT", f"conversations/{conversation_id}", json={"status": "closed", "byUser": 2}
    )
    assert response.status_code == 204


def test_a_persistent_p2_alert_files_one_ticket(console, freescout_sandbox, caplog):
    caplog.set_level(logging.INFO)
    key = fire(console, labels={"host": "db-1", "surface_id": "api-prod"}).alert_key
    deliver(console)
    for _ in range(20):
        console.clock.advance(30)
        fire(console, labels={"host": "db-1", "surface_id": "api-prod"})
        deliver(console)
    [conversation] = freescout_sandbox.conversations()
    assert conversation.mailbox_id == 2
    assert conversation.tags == ["auto:alert", "auto:alert:ci"]
    [ticket] = tickets(console)
    assert conversation.subject == f"[{ticket.ref}] [P2] ci: disk-full on db-1"
    body = conversation.threads[-1].body
    for fact in (
        "98% used",
        "host=db-1",
        "surface_id=api-prod",
        key,
        f"{CONSOLE_BASE_URL}/console/alerts/{key}",
    ):
        assert fact in body
    [row] = audit_rows(console, FILED)
    assert row.payload == {
        "alert_key": key,
        "severity": "P2",
        "ticket_id": conversation.id,
        "ticket_url": f"{freescout_sandbox.url}/conversation/{conversation.id}",
    }
    assert row.actor == "system:alert_aggregator"
    assert len(lines(caplog, "auto_ticket cache miss")) == 1
    assert len(lines(caplog, f"auto_ticket cache hit alert_key={key}")) == 19
    ticket_decisions = decisions(console, key, "auto_ticket")
    assert [d.decision for d in ticket_decisions] == ["ticket_reserved", "deduped"]
    assert alert(console, key).emit_count == 21, "the repeats are counted on the alert row"
    assert ticket_decisions[1].reason == f"deduped to ticket #{conversation.id}"


def test_a_restarted_process_finds_the_ticket_in_the_database(console, freescout_sandbox, caplog):
    caplog.set_level(logging.INFO, logger="raxx_console.alerts.auto_ticket")
    fire(console)
    deliver(console)
    restarted = build_console(console.settings, clock=console.clock)
    try:
        result = fire(restarted)
        deliver(restarted)
    finally:
        restarted.db.dispose()
    assert result.hooks["auto_ticket"] == "deduped"
    assert lines(caplog, "auto_ticket cache miss"), "a cold cache falls back to the alert row"
    assert len(freescout_sandbox.conversations()) == 1


def test_p3_is_slack_only(console, freescout_sandbox, slack_sandbox):
    key = fire(console, "P3").alert_key
    deliver(console)
    assert freescout_sandbox.conversations() == []
    assert len(slack_sandbox.messages()) == 2, "one DM to each of SLACK_ALERT_DM_USER_IDS"
    assert decided(console, key, "auto_ticket") == ["below_threshold"]


def test_flag_off_is_slack_only_and_says_so(console, freescout_sandbox, slack_sandbox):
    set_flag(console, AUTO_TICKET_FLAG, False)
    key = fire(console, "P1").alert_key
    deliver(console)
    assert freescout_sandbox.conversations() == []
    assert sorted(m["user"] for m in slack_sandbox.messages()) == ["U0ONCALL1", "U0ONCALL2"]
    [decision] = decisions(console, key, "auto_ticket")
    assert (decision.decision, decision.reason) == ("flag_off", f"{AUTO_TICKET_FLAG} is off: Slack-only")


def test_turning_the_flag_on_files_for_an_alert_already_firing(console, freescout_sandbox):
    set_flag(console, AUTO_TICKET_FLAG, False)
    key = fire(console).alert_key
    set_flag(console, AUTO_TICKET_FLAG, True)
    fire(console)
    deliver(console)
    assert len(freescout_sandbox.conversations()) == 1
    assert decided(console, key, "auto_ticket") == ["flag_off", "ticket_reserved"]


def test_escalation_from_p3_files_and_p1_notes_the_same_ticket(console, freescout_sandbox):
    key = fire(console, "P3").alert_key
    fire(console, "P2")
    deliver(console)
    fire(console, "P1")
    deliver(console)
    [conversation] = freescout_sandbox.conversations()
    [ticket] = tickets(console)
    assert conversation.subject == f"[{ticket.ref}] [P1] ci: disk-full on db-1", "the subject follows"
    assert ticket.subject == conversation.subject
    puts = [r for r in freescout_sandbox.requests() if r["method"] == "PUT"]
    assert [r["path"] for r in puts].count(f"/api/conversations/{conversation.id}") == 1
    [note] = notes(conversation)
    assert "Escalated: P2 → P1" in note
    assert decided(console, key, "auto_ticket") == ["below_threshold", "ticket_reserved", "noted"]
    assert "escalated P3 → P2 with no ticket yet" in decisions(console, key, "auto_ticket")[1].reason


def test_an_escalation_while_freescout_is_down_rewrites_the_subject_once_it_is_back(
    console, freescout_sandbox
):
    freescout_sandbox.faults(mode="down")
    fire(console, "P2")
    deliver(console)
    fire(console, "P1")
    deliver(console)
    freescout_sandbox.faults(mode="ok")
    for _ in range(3):
        console.clock.advance(120)
        deliver(console)
    [conversation] = freescout_sandbox.conversations()
    [ticket] = tickets(console)
    assert conversation.subject == f"[{ticket.ref}] [P1] ci: disk-full on db-1"
    [subject] = items(console, "freescout.subject")
    assert subject.state == "done"


def test_resolved_before_filing_cancels_the_create(console, freescout_sandbox, slack_sandbox):
    freescout_sandbox.faults(mode="down")
    key = fire(console).alert_key
    deliver(console)
    [ticket] = tickets(console)
    assert (ticket.state, ticket.last_reason) == ("pending", "freescout_unavailable")
    fire(console, status="resolved")
    freescout_sandbox.faults(mode="ok")
    console.clock.advance(600)
    deliver(console)
    assert freescout_sandbox.conversations() == []
    [ticket] = tickets(console)
    assert (ticket.state, ticket.last_reason) == ("cancelled", "alert_resolved")
    [create] = items(console, "freescout.create")
    assert (create.state, create.last_reason) == ("cancelled", "alert_resolved")
    assert decided(console, key, "auto_ticket")[-1] == "cancelled"
    assert len(slack_sandbox.messages()) == 4, "fire and resolve DMs went out regardless"


def test_resolve_notes_the_ticket_and_a_refire_notes_it_again(console, freescout_sandbox):
    """Auto-resolve off: the ticket stays open for the operator; the next lifetime reuses it."""
    key = fire(console).alert_key
    deliver(console)
    fire(console, status="resolved")
    deliver(console)
    [conversation] = freescout_sandbox.conversations()
    assert conversation.status == "active"
    assert "Resolved at" in notes(conversation)[0]
    console.clock.advance(7200)
    fire(console)
    deliver(console)
    [conversation] = freescout_sandbox.conversations()
    assert "Fired again" in notes(conversation)[1]
    assert decided(console, key, "auto_ticket") == [
        "ticket_reserved",
        "resolve_noted",
        "refire_check",
        "deduped",
    ]
    assert alert(console, key).ticket_lifetime == 2
    fire(console)
    assert decided(console, key, "auto_ticket")[-1] == "deduped"


def test_flapping_reopens_the_same_ticket_within_the_cooldown(console, freescout_sandbox):
    set_flag(console, AUTO_RESOLVE_FLAG)
    key = fire(console).alert_key
    deliver(console)
    for _ in range(3):  # fire / resolve / fire ... a minute apart
        console.clock.advance(60)
        fire(console, status="resolved")
        deliver(console)
        [conversation] = freescout_sandbox.conversations()
        assert conversation.status == "closed"
        console.clock.advance(60)
        fire(console)
        deliver(console)
        [conversation] = freescout_sandbox.conversations()
        assert conversation.status == "active"
    [ticket] = tickets(console)
    assert ticket.auto_closed_at is None
    assert (
        decided(console, key, "auto_ticket")
        == ["ticket_reserved"] + ["closing", "closed", "refire_check", "cooldown"] * 3
    )
    assert len(audit_rows(console, FILED)) == 1


def test_a_refire_after_the_cooldown_files_a_new_ticket(console, freescout_sandbox):
    set_flag(console, AUTO_RESOLVE_FLAG)
    key = fire(console).alert_key
    deliver(console)
    fire(console, status="resolved")
    deliver(console)
    console.clock.advance(console.settings.ALERT_REOPEN_COOLDOWN + 60)
    fire(console)
    deliver(console)
    first, second = freescout_sandbox.conversations()
    assert (first.status, second.status) == ("closed", "active")
    assert decided(console, key, "auto_ticket")[-1] == "new_lifetime"
    assert "over ALERT_REOPEN_COOLDOWN" in decisions(console, key, "auto_ticket")[-1].reason
    assert len(audit_rows(console, FILED)) == 2


def test_a_ticket_a_person_closed_is_left_alone_and_not_reopened(console, freescout_sandbox):
    set_flag(console, AUTO_RESOLVE_FLAG)
    key = fire(console).alert_key
    deliver(console)
    [conversation] = freescout_sandbox.conversations()
    close_as_a_person(freescout_sandbox, conversation.id)
    fire(console)  # same lifetime: still that ticket, even closed
    fire(console, status="resolved")
    deliver(console)
    [ticket] = tickets(console)
    assert (ticket.fs_status, ticket.auto_closed_at) == ("closed", None)
    console.clock.advance(60)
    fire(console)
    deliver(console)
    first, second = freescout_sandbox.conversations()
    assert (first.status, second.status) == ("closed", "active")
    assert notes(first) == [], "a closed ticket gets no notes"
    [*_, new] = decisions(console, key, "auto_ticket")
    assert new.decision == "new_lifetime"
    assert f"ticket #{first.id} was closed by a person" in new.reason


def test_a_failed_create_is_retried_at_most_every_fifteen_minutes(alerts_settings, request):
    alerts_settings["FREESCOUT_OPERATIONS_MAILBOX_ID"] = 99  # FreeScout has no such mailbox
    console = request.getfixturevalue("console")
    key = fire(console).alert_key
    deliver(console)
    console.clock.advance(30)
    fire(console)
    deliver(console)
    [ticket] = tickets(console)
    assert (ticket.state, ticket.last_reason) == ("failed", "mailbox_not_found")
    assert decided(console, key, "auto_ticket") == ["ticket_reserved", "ticket_failed"]
    console.clock.advance(FAILED_RETRY.total_seconds())
    fire(console)
    assert len(tickets(console)) == 2


def test_the_other_entrys_open_ticket_is_named_and_noted_on_recovery(
    console, freescout_sandbox, client, operator_token
):
    """An Investigate ticket on api-prod; then the poller's alert on the same surface fires and resolves."""
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console, "api-prod", "degraded")
    investigate = click(client, "api-prod", bearer=operator_token).get_json()
    labels = {"surface_id": "api-prod", "target_env": "production"}
    key = fire(console, source="status_poller", check="api-prod", labels=labels).alert_key
    deliver(console)
    older, newer = freescout_sandbox.conversations()
    assert older.id == investigate["ticket_id"]
    assert f"#{older.id}" in newer.threads[-1].body, "the alert ticket names the open Investigate ticket"
    assert any(f"#{newer.id}" in note for note in notes(older)), "and the older ticket gets a cross-link note"
    fire(console, source="status_poller", check="api-prod", labels=labels, status="resolved")
    deliver(console)
    older, _ = freescout_sandbox.conversations()
    assert "Surface api-prod recovered" in notes(older)[-1]
    assert (
        f"Open tickets of this incident: #{older.id} (Investigate degraded), #{newer.id} (alert P2)."
        in notes(older)[-1]
    ), "the recovery note names every ticket of the incident"
    assert older.status == "active", "resolving an Investigate ticket stays the operator's act"
    assert decided(console, key, "surface_recovery") == ["noted"]


def test_alert_tickets_are_keyed_apart_from_investigate(console, freescout_sandbox):
    fire(console, source="status_poller", check="api-prod", labels={"surface_id": "api-prod"})
    deliver(console)
    [ticket] = rows(console, Ticket)
    assert (ticket.entry, ticket.dedup_key.startswith("status_poller:")) == ("alert", True)
