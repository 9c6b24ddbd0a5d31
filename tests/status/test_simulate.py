"""Test degradations (rollout Step 2): simulate a surface's status for a while, then clear it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from raxx_console.status.models import SurfaceStatus
from tests.support.rows import audit_rows
from tests.tickets.helpers import INVESTIGATE_FLAG, SURFACE, click, grid_token, set_flag, set_status


def simulate(client, token, surface_id=SURFACE, **kwargs):
    return client.post(
        f"/console/status/simulate/{surface_id}", headers={"Authorization": f"Bearer {token}"}, **kwargs
    )


def clear(client, token, surface_id=SURFACE):
    return client.post(
        f"/console/status/simulate/{surface_id}/clear", headers={"Authorization": f"Bearer {token}"}
    )


def tile(client, token, surface_id=SURFACE):
    surfaces = client.get("/console/status.json", headers={"Authorization": f"Bearer {token}"}).get_json()
    return next(s for s in surfaces["surfaces"] if s["surface_id"] == surface_id)


def simulated_rows(console):
    with console.db.session() as session:
        rows = session.scalars(select(SurfaceStatus).where(SurfaceStatus.simulated_status.is_not(None)))
        return [(r.surface_id, r.simulated_status) for r in rows]


def test_a_simulation_wins_over_polls_until_it_runs_out(console, client, operator_token, clock):
    set_status(console, SURFACE, "operational")
    response = simulate(client, operator_token, json={"status": "down", "minutes": 30})
    assert response.status_code == 200
    assert response.get_json() == {
        "surface_id": SURFACE,
        "status": "down",
        "simulated": True,
        "simulated_until": "2026-11-23T12:30:00Z",
    }
    set_status(console, SURFACE, "operational")  # the poller keeps writing what it sees
    shown = tile(client, operator_token)
    assert (shown["status"], shown["simulated"], shown["probed_status"]) == ("down", True, "operational")
    [row] = audit_rows(console, "console.status.simulated")
    assert row.actor == "bot@raxx.app"
    assert row.payload == {
        "surface_id": SURFACE,
        "status": "down",
        "minutes": 30,
        "until": "2026-11-23T12:30:00Z",
    }
    clock.advance(30 * 60 + 1)
    shown = tile(client, operator_token)
    assert (shown["status"], shown["simulated"]) == ("operational", False)


def test_the_tile_says_simulated_and_operators_get_the_form(console, operator):
    page = operator.get("/console/status").get_data(as_text=True)
    assert page.count("data-open-simulate>Test degradation</button>") == len(console.surfaces)
    assert page.count('id="simulate-dialog"') == 1, "every tile opens the one form"
    response = operator.post(
        f"/console/status/simulate/{SURFACE}", data={"csrf_token": grid_token(operator), "status": "degraded"}
    )
    assert response.status_code == 303
    page = operator.get("/console/status").get_data(as_text=True)
    assert "SIMULATED until 12:15 UTC" in page, "the form's default is 15 minutes"
    assert "Clear simulation" in page
    response = operator.post(
        f"/console/status/simulate/{SURFACE}/clear", data={"csrf_token": grid_token(operator)}
    )
    assert response.status_code == 303
    assert "SIMULATED" not in operator.get("/console/status").get_data(as_text=True)


def test_viewers_see_no_form_and_may_not_simulate(console, viewer, operator_token):
    assert "Test degradation" not in viewer.get("/console/status").get_data(as_text=True)
    response = viewer.post(
        f"/console/status/simulate/{SURFACE}",
        json={"status": "down"},
        headers={"X-CSRFToken": grid_token(viewer)},
    )
    assert response.status_code == 403
    assert simulated_rows(console) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"json": {"status": "operational"}}, "status"),
        ({"json": {"minutes": 5}}, "status"),
        ({"json": {"status": "down", "minutes": 0}}, "minutes"),
        ({"json": {"status": "down", "minutes": 241}}, "minutes"),
        ({"json": {"status": "down", "minutes": "ten"}}, "minutes"),
        ({"json": {"status": "down", "minutes": 2.5}}, "minutes"),
        ({"json": {"status": "down", "minutes": True}}, "minutes"),
        ({"json": ["down"]}, "body"),
        ({"data": "{not json", "content_type": "application/json"}, "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    console, client, operator_token, kwargs, field
):
    response = simulate(client, operator_token, **kwargs)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field
    assert field in body["message"] or field == "body"
    assert simulated_rows(console) == []
    assert audit_rows(console, "console.status.simulated") == []


def test_unknown_surfaces_are_404(client, operator_token):
    assert simulate(client, operator_token, "nope", json={"status": "down"}).status_code == 404
    assert clear(client, operator_token, "nope").status_code == 404


def test_clearing_is_audited_once(console, client, operator_token):
    simulate(client, operator_token, json={"status": "degraded", "minutes": 5})
    assert clear(client, operator_token).get_json() == {"surface_id": SURFACE, "cleared": True}
    assert clear(client, operator_token).get_json() == {"surface_id": SURFACE, "cleared": False}
    [row] = audit_rows(console, "console.status.simulation_cleared")
    assert row.payload == {"surface_id": SURFACE, "status": "degraded"}
    assert simulated_rows(console) == []


def test_investigate_on_a_simulated_surface_says_so_in_the_ticket(
    freescout_settings, console, client, operator_token, freescout_sandbox
):
    set_flag(console, INVESTIGATE_FLAG)
    simulate(client, operator_token, json={"status": "degraded", "minutes": 20})
    answer = click(client, bearer=operator_token).get_json()
    [conversation] = freescout_sandbox.conversations()
    assert answer["ticket_id"] == conversation.id
    assert conversation.subject.endswith("api-prod is degraded (simulated)")
    assert "SIMULATED test degradation until 2026-11-23 12:20:00 UTC" in conversation.threads[0].body
