"""Test degradations are a staging tool: on production they need an admin and a typed confirmation,
and every ticket they cause is tagged ``auto:test`` and says so first."""

from __future__ import annotations

from sqlalchemy import select

from raxx_console.tickets.models import Ticket
from tests.status.test_simulate import simulate, simulated_rows
from tests.support.accounts import make_token, make_user
from tests.tickets.helpers import INVESTIGATE_FLAG, SURFACE, click, set_flag

PRODUCTION = {"base_url": "https://console.raxx.app"}


def test_on_production_an_operator_may_not_simulate(console, client, operator_token):
    response = simulate(client, operator_token, json={"status": "down", "confirm": SURFACE}, **PRODUCTION)
    assert response.status_code == 403
    assert response.get_json()["error"] == "admin_required"
    assert simulated_rows(console) == []


def test_on_production_an_admin_must_type_the_surface_id(console, client):
    make_user(console, "root@raxx.app", "admin")
    token = make_token(console, "root@raxx.app")
    for confirm in (None, "", "api-staging", "api-pro"):
        body = {"status": "down"} if confirm is None else {"status": "down", "confirm": confirm}
        response = simulate(client, token, json=body, **PRODUCTION)
        assert response.status_code == 400
        assert response.get_json()["field"] == "confirm"
        assert SURFACE in response.get_json()["message"]
    assert simulated_rows(console) == []
    response = simulate(client, token, json={"status": "down", "confirm": SURFACE}, **PRODUCTION)
    assert response.status_code == 200
    assert simulated_rows(console) == [(SURFACE, "down")]


def test_off_production_no_confirmation_is_asked(console, client, operator_token):
    assert simulate(client, operator_token, json={"status": "down"}).status_code == 200


def test_a_simulated_ticket_is_tagged_auto_test_and_says_so_in_its_first_line(
    freescout_settings, console, client, operator_token, freescout_sandbox
):
    set_flag(console, INVESTIGATE_FLAG)
    simulate(client, operator_token, json={"status": "degraded", "minutes": 20})
    click(client, bearer=operator_token)
    [conversation] = freescout_sandbox.conversations()
    first_line = conversation.threads[0].body.split("</p>")[0]
    assert "TEST: a simulated degradation, not an incident." in first_line
    with console.db.session() as session:
        tags = session.scalar(select(Ticket.tags))
    assert "auto:test" in tags and "auto:status" in tags


def test_on_production_the_form_asks_admins_to_type_the_id_and_is_not_offered_to_operators(
    console, client, operator_token
):
    make_user(console, "root@raxx.app", "admin")
    admin_token = make_token(console, "root@raxx.app")

    def grid(token):
        return client.get(
            "/console/status", headers={"Authorization": f"Bearer {token}"}, **PRODUCTION
        ).get_data(as_text=True)

    admin_page = grid(admin_token)
    assert admin_page.count('data-field="confirm"') == 1, "the one form asks, for the tile that opened it"
    assert admin_page.count("data-open-simulate") == len(console.surfaces)
    assert "Test degradation" not in grid(operator_token)
    staging = client.get("/console/status", headers={"Authorization": f"Bearer {operator_token}"})
    assert 'data-field="confirm"' not in staging.get_data(as_text=True)
