"""Entry A over HTTP: POST /console/status/investigate/<surface_id> against the FreeScout sandbox.

Real client, real HTTP, both databases. The sandbox runs on the test's clock, so the 60-minute
window and FreeScout's ``createdSince`` move together.
"""

from __future__ import annotations

import logging
import re

import pytest

from raxx_console.outbox import service as outbox
from tests.support.accounts import login, make_user
from tests.support.rows import audit_rows
from tests.tickets.helpers import (
    INVESTIGATE_FLAG,
    LINKED_TICKET_FLAG,
    OPERATOR,
    SURFACE,
    click,
    grid_token,
    items,
    set_flag,
    set_status,
    tickets,
    tile_json,
)

FILED = "console.status.ticket_filed"


@pytest.fixture(autouse=True)
def _wired(freescout_settings):
    """Every app in this module talks to the sandbox."""


@pytest.fixture
def op(console, operator):
    """An operator on the grid, Investigate on, api-prod degraded; yields (client, csrf token)."""
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    return operator, grid_token(operator)


def test_first_click_files_one_tagged_ticket_and_audits_it(console, op, freescout_sandbox, caplog):
    client, token = op
    caplog.set_level(logging.INFO)
    response = click(client, token=token)
    assert response.status_code == 200
    body = response.get_json()
    [conversation] = freescout_sandbox.conversations()
    assert body["ticket_id"] == conversation.id
    assert body["ticket_url"] == f"{freescout_sandbox.url}/conversation/{conversation.id}"
    assert (body["idempotent"], body["degraded"]) == (False, False)
    assert re.fullmatch(r"\[RX-[0-9A-F]{8}\] api-prod is degraded", conversation.subject)
    assert conversation.tags == ["auto:status", "auto:status:api-prod"]
    assert conversation.mailbox_id == 2
    [row] = audit_rows(console, FILED)
    assert row.actor == OPERATOR
    assert row.payload == {
        "surface_id": SURFACE,
        "status": "degraded",
        "ticket_id": conversation.id,
        "ticket_url": body["ticket_url"],
        "idempotent": False,
    }
    [ticket] = tickets(console)
    assert (ticket.state, ticket.tags_applied, ticket.fs_status) == ("filed", True, "active")
    assert ticket.ref in conversation.subject
    filed = [r for r in caplog.records if "ticket_filed" in r.getMessage()]
    assert [r.levelname for r in filed] == ["INFO"]
    assert re.search(
        rf"ticket_filed entry=A key=api-prod:degraded ticket_id={conversation.id} ref=RX-[0-9A-F]{{8}}",
        filed[0].getMessage(),
    )
    assert [i.state for i in items(console)] == ["done"]


def test_a_repeat_click_within_the_hour_reuses_the_open_ticket_after_one_read(
    console, op, clock, freescout_sandbox
):
    client, token = op
    first = click(client, token=token).get_json()
    clock.advance(59 * 60)
    freescout_sandbox.clear_requests()
    second = click(client, token=token).get_json()
    assert second == {
        "ticket_id": first["ticket_id"],
        "ticket_url": first["ticket_url"],
        "idempotent": True,
        "degraded": False,
        "ref": first["ref"],
        "message": f"already filed 59 minutes ago — #{first['ticket_id']}",
    }
    calls = [(r["method"], r["path"]) for r in freescout_sandbox.requests()]
    assert calls == [("GET", f"/api/conversations/{first['ticket_id']}")], "exactly one FreeScout read"
    assert len(freescout_sandbox.conversations()) == 1
    assert [r.payload["idempotent"] for r in audit_rows(console, FILED)] == [False, True]
    assert audit_rows(console, FILED)[1].payload["ticket_id"] == first["ticket_id"]


def test_a_ticket_closed_in_freescout_no_longer_counts(console, op, freescout_sandbox):
    client, token = op
    first = click(client, token=token).get_json()
    closed = freescout_sandbox.api(
        "PUT", f"conversations/{first['ticket_id']}", json={"byUser": 1, "status": "closed"}
    )
    assert closed.status_code == 204
    second = click(client, token=token).get_json()
    assert second["ticket_id"] != first["ticket_id"]
    assert second["idempotent"] is False
    assert [t.fs_status for t in tickets(console)] == ["closed", "active"]
    assert len(freescout_sandbox.conversations()) == 2
    third = click(client, token=token).get_json()
    assert (third["ticket_id"], third["idempotent"]) == (second["ticket_id"], True)


def test_a_ticket_filed_more_than_an_hour_ago_is_not_reused(console, op, clock, freescout_sandbox):
    client, token = op
    first = click(client, token=token).get_json()
    clock.advance(61 * 60)
    freescout_sandbox.clear_requests()
    second = click(client, token=token).get_json()
    assert second["ticket_id"] != first["ticket_id"]
    assert second["idempotent"] is False
    paths = [r["path"] for r in freescout_sandbox.requests()]
    assert f"/api/conversations/{first['ticket_id']}" not in paths, "the old one is not even read"


def test_down_and_degraded_are_separate_keys(console, op, freescout_sandbox):
    client, token = op
    degraded = click(client, token=token).get_json()
    set_status(console, SURFACE, "down")
    down = click(client, token=token).get_json()
    assert down["ticket_id"] != degraded["ticket_id"]
    assert freescout_sandbox.conversations()[1].subject.endswith("api-prod is down")


def test_flag_off_means_404_and_no_button(console, operator):
    set_status(console)
    page = operator.get("/console/status").get_data(as_text=True)
    assert "Investigate</button>" not in page
    response = click(operator, token=grid_token(operator))
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert INVESTIGATE_FLAG in response.get_json()["message"]
    set_flag(console, INVESTIGATE_FLAG)
    page = operator.get("/console/status").get_data(as_text=True)
    assert page.count("Investigate</button>") == 1, "only on the degraded tile"


def test_unknown_and_healthy_surfaces_are_refused_in_json(console, op):
    client, token = op
    unknown = click(client, "no-such-surface", token=token)
    assert unknown.status_code == 404
    assert unknown.get_json()["error"] == "unknown_surface"
    set_status(console, "api-staging", "operational")
    healthy = click(client, "api-staging", token=token)
    assert healthy.status_code == 409
    assert healthy.get_json()["error"] == "surface_not_degraded"
    assert healthy.get_json()["surface_status"] == "operational"
    assert tickets(console) == []


def test_roles_csrf_and_bearer_tokens(app, console, operator_token, freescout_sandbox):
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    viewer = app.test_client()
    make_user(console, "viewer@raxx.app", "viewer")
    login(viewer, "viewer@raxx.app")
    assert click(viewer, token=grid_token(viewer)).status_code == 403
    operator = app.test_client()
    make_user(console, OPERATOR, "operator")
    login(operator, OPERATOR)
    assert click(operator).status_code == 400, "a session without the CSRF header is refused"
    assert tickets(console) == []
    response = click(app.test_client(), bearer=operator_token)
    assert response.status_code == 200
    assert response.get_json()["ticket_id"] == freescout_sandbox.conversations()[0].id
    assert audit_rows(console, FILED)[0].actor == "bot@raxx.app"
    assert click(app.test_client(), bearer="not-a-token").status_code == 401


def test_an_outage_queues_the_request_and_files_it_once_when_freescout_returns(
    console, op, clock, freescout_sandbox, caplog
):
    client, token = op
    caplog.set_level(logging.INFO)
    freescout_sandbox.faults(mode="down")
    body = click(client, token=token).get_json()
    assert body["degraded"] is True
    assert body["queued"] is True
    assert body["reason"] == "freescout_unavailable"
    assert "FreeScout" in body["message"] and "Queued" in body["message"]
    ref = body["ref"]
    assert audit_rows(console, FILED) == []
    assert tile_json(client)["investigation"]["state"] == "queued"
    assert "Queued — will file when FreeScout answers" in client.get("/console/status").get_data(as_text=True)
    again = click(client, token=token).get_json()
    assert (again["queued"], again["ref"]) == (True, ref), "the same reservation, not a second one"
    assert len(tickets(console)) == 1

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(re.search(r"freescout.*degraded.*freescout_unavailable", r.getMessage()) for r in warnings)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    freescout_sandbox.faults(mode="ok")
    clock.advance(outbox.BACKOFF_CAP_SECONDS)
    assert outbox.deliver_due(console) == 1
    clock.advance(outbox.BACKOFF_CAP_SECONDS)
    outbox.deliver_due(console)
    [conversation] = freescout_sandbox.conversations()
    assert ref in conversation.subject
    [row] = audit_rows(console, FILED)
    assert row.payload["ticket_id"] == conversation.id
    assert row.payload["idempotent"] is False
    assert row.actor == OPERATOR, "a queued click is audited when delivered, as its requester"
    shown = tile_json(client)["investigation"]
    assert (shown["state"], shown["ticket_id"]) == ("filed", conversation.id)
    assert f'href="{freescout_sandbox.url}/conversation/{conversation.id}"' in client.get(
        "/console/status"
    ).get_data(as_text=True)


def test_a_queued_request_expires_after_the_window_without_a_ticket(console, op, clock, freescout_sandbox):
    client, token = op
    freescout_sandbox.faults(mode="down")
    queued = click(client, token=token).get_json()
    clock.advance(61 * 60)
    freescout_sandbox.faults(mode="ok")
    outbox.deliver_due(console)
    assert freescout_sandbox.conversations() == []
    [ticket] = tickets(console)
    assert (ticket.state, ticket.last_reason) == ("expired", "expired_before_delivery")
    assert "freescout_unavailable" in ticket.last_detail
    assert [i.state for i in items(console)] == ["expired"]
    assert audit_rows(console, FILED) == []
    shown = tile_json(client)
    assert shown["investigation"] is None, "outside the window, the tile no longer shows it"
    fresh = click(client, token=token).get_json()
    assert fresh["ref"] != queued["ref"]
    assert fresh["idempotent"] is False
    assert len(freescout_sandbox.conversations()) == 1


def test_turning_the_flag_off_while_queued_cancels_the_delivery(console, op, clock, freescout_sandbox):
    client, token = op
    freescout_sandbox.faults(mode="down")
    click(client, token=token)
    set_flag(console, INVESTIGATE_FLAG, False)
    freescout_sandbox.faults(mode="ok")
    freescout_sandbox.clear_requests()
    clock.advance(outbox.BACKOFF_CAP_SECONDS)
    outbox.deliver_due(console)
    assert freescout_sandbox.requests() == [], "a flag flip stops deliveries before any FreeScout call"
    assert freescout_sandbox.conversations() == []
    [ticket] = tickets(console)
    assert (ticket.state, ticket.last_reason) == ("cancelled", "flag_off")
    assert [(i.state, i.last_reason) for i in items(console)] == [("cancelled", "flag_off")]


@pytest.mark.parametrize(
    ("setting", "value", "reason", "hint"),
    [
        ("CF_ACCESS_SVC_TICKETS_CLIENT_SECRET", "wrong-secret", "cf_access_denied", "CF_ACCESS_SVC_TICKETS"),
        ("FREESCOUT_API_KEY", "wrong-key", "freescout_auth_error", "FREESCOUT_API_KEY"),
        ("FREESCOUT_OPERATIONS_MAILBOX_ID", 99, "mailbox_not_found", "FREESCOUT_OPERATIONS_MAILBOX_ID"),
        ("CONSOLE_TICKET_CUSTOMER_EMAIL", " ", "freescout_rejected", "CONSOLE_TICKET_CUSTOMER_EMAIL"),
        ("FREESCOUT_API_URL", "", "freescout_not_configured", "FREESCOUT_API_URL"),
        ("FREESCOUT_OPERATIONS_MAILBOX_ID", "", "freescout_not_configured", "OPERATIONS_MAILBOX_ID"),
    ],
)
def test_reasons_that_retrying_cannot_fix_are_shown_not_queued(
    request, freescout_settings, freescout_sandbox, caplog, setting, value, reason, hint
):
    freescout_settings[setting] = value
    console = request.getfixturevalue("console")
    client = request.getfixturevalue("operator")
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console)
    caplog.set_level(logging.INFO)
    response = click(client, token=grid_token(client))
    assert response.status_code == 200
    body = response.get_json()
    assert body["degraded"] is True
    assert body["reason"] == reason
    assert "queued" not in body
    assert hint in body["message"]
    assert freescout_sandbox.conversations() == []
    assert [t.state for t in tickets(console)] == ["failed"]
    assert [i.state for i in items(console)] == ["failed"], "nothing left to retry"
    assert audit_rows(console, FILED) == []
    degraded = [
        r
        for r in caplog.records
        if re.search("freescout.*degraded", r.getMessage()) and reason in r.getMessage()
    ]
    assert degraded, "FM4's grep finds the reason"
    assert all(r.levelname == "WARNING" for r in degraded)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert tile_json(client)["investigation"]["reason"] == reason
    page = client.get("/console/status").get_data(as_text=True)
    assert hint in page, "the tile keeps the reason and what to check"
    again = click(client, token=grid_token(client)).get_json()
    assert again["reason"] == reason, "a failed reservation does not block the next click"


def test_the_grid_shows_the_open_ticket_with_the_linked_ticket_flag(console, op, freescout_sandbox):
    client, token = op
    filed = click(client, token=token).get_json()
    set_status(console, SURFACE, "operational")
    assert tile_json(client)["linked_ticket"]["ticket_id"] == filed["ticket_id"]
    page = client.get("/console/status").get_data(as_text=True)
    assert "Open Investigate ticket" not in page
    set_flag(console, LINKED_TICKET_FLAG)
    page = client.get("/console/status").get_data(as_text=True)
    assert "Open Investigate ticket" in page
    assert f"/conversation/{filed['ticket_id']}" in page
    [story] = tile_json(client)["open_tickets"]
    assert (story["ticket_id"], story["entry"], story["filed_for"]) == (
        filed["ticket_id"],
        "Investigate",
        "degraded",
    )
    requests_before = len(freescout_sandbox.requests())
    client.get("/console/status")
    client.get("/console/status.json")
    assert len(freescout_sandbox.requests()) == requests_before, "rendering the grid never calls FreeScout"


def test_a_page_form_without_script_is_answered_with_a_redirect(console, op, freescout_sandbox):
    client, token = op
    response = client.post(f"/console/status/investigate/{SURFACE}", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/status")
    page = client.get("/console/status").get_data(as_text=True)
    conversation = freescout_sandbox.conversations()[0]
    assert f"ticket #{conversation.id}" in page
