"""The alerts page, its JSON twins and ``raxx-console alerts``: "why no ticket? why two?" answered."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from raxx_console.cli import main
from tests.alerts.helpers import AUTO_RESOLVE_FLAG, AUTO_TICKET_FLAG, deliver, fire, set_flag


@pytest.fixture
def cli(settings_overrides, console):
    env = {name: str(value) for name, value in settings_overrides.items()}

    def run(*args):
        result = CliRunner().invoke(main, ["alerts", *args], env=env)
        assert "Traceback" not in result.output
        return result

    return run


def test_the_page_says_why_there_is_no_ticket(viewer, console):
    fire(console, "P3", check="quiet")
    fire(console, "P1", check="flagged")
    page = viewer.get("/console/alerts").get_data(as_text=True)
    assert "P3 is below the P2 ticket threshold: Slack-only" in page
    assert f"{AUTO_TICKET_FLAG} is off: Slack-only" in page
    assert "auto_ticket" in page and "slack_dm" in page, "the registered hooks are listed"


def test_the_json_lists_alerts_with_decisions_and_the_hooks(viewer, console):
    key = fire(console, "P3").alert_key
    fire(console, "P3", status="resolved")
    body = viewer.get("/console/alerts.json").get_json()
    [listed] = body["alerts"]
    assert (listed["alert_key"], listed["state"], listed["lifetime"]) == (key, "resolved", 1)
    assert [(d["hook"], d["decision"]) for d in listed["decisions"] if d["event"] == "fire"] == [
        ("aggregator", "first"),
        ("slack_dm", "no_recipients"),
        ("auto_ticket", "below_threshold"),
    ]
    assert [hook["name"] for hook in body["hooks"]] == ["slack_dm", "auto_ticket", "surface_recovery"]
    assert viewer.get("/console/alerts.json?state=firing").get_json()["alerts"] == []
    assert viewer.get("/console/alerts.json?state=bogus").status_code == 400


def test_an_alert_page_and_its_json(viewer, console):
    key = fire(console, "P2", labels={"surface_id": "api-prod"}).alert_key
    page = viewer.get(f"/console/alerts/{key}")
    assert page.status_code == 200
    assert "No ticket was ever reserved for this alert" in page.get_data(as_text=True)
    body = viewer.get(f"/console/alerts/{key}.json").get_json()
    assert (body["surface_id"], body["ticket"], body["tickets"]) == ("api-prod", None, [])
    assert viewer.get("/console/alerts/ci:0000000000000000").status_code == 404
    assert viewer.get("/console/alerts/ci:0000000000000000.json").get_json()["error"] == "not_found"


def test_the_page_needs_a_login(client, console):
    response = client.get("/console/alerts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/console/alerts.json").status_code == 401


def test_why_two_tickets(alerts_settings, request):
    """A person closed the first ticket; the alert fired again: a second ticket, and the reason."""
    console = request.getfixturevalue("console")
    freescout_sandbox = request.getfixturevalue("freescout_sandbox")
    viewer = request.getfixturevalue("viewer")
    cli = request.getfixturevalue("cli")
    set_flag(console, AUTO_TICKET_FLAG)
    set_flag(console, AUTO_RESOLVE_FLAG)
    key = fire(console).alert_key
    deliver(console)
    [first] = freescout_sandbox.conversations()
    freescout_sandbox.api("PUT", f"conversations/{first.id}", json={"status": "closed", "byUser": 2})
    fire(console, status="resolved")
    deliver(console)
    fire(console)
    deliver(console)
    body = viewer.get(f"/console/alerts/{key}.json").get_json()
    assert len(body["tickets"]) == 2
    [why] = [d for d in body["decisions"] if (d["hook"], d["decision"]) == ("auto_ticket", "new_lifetime")]
    assert why["reason"].startswith(f"ticket #{first.id} was closed by a person: new ticket for lifetime 2")
    assert "2 tickets over its lifetimes" in viewer.get("/console/alerts").get_data(as_text=True)
    out = cli("why", key).output
    assert f"ticket #{first.id} was closed by a person" in out
    assert out.count(" filed ") == 2


def test_cli_list_why_and_hooks(cli, console):
    key = fire(console, "P3").alert_key
    for _ in range(3):
        fire(console, "P3")
    listed = cli("list")
    assert listed.exit_code == 0
    assert key in listed.output and "below_threshold" in listed.output
    why = cli("why", key)
    assert "below_threshold" in why.output and "emitted x4 this lifetime" in why.output
    assert cli("why", key.split(":")[1]).output == why.output, "an alert_id prefix works too"
    missing = cli("why", "ci:0000000000000000")
    assert missing.exit_code == 2 and "there is no alert ci:0000000000000000" in missing.output
    assert cli("hooks").output.splitlines()[0].startswith("slack_dm")
    assert cli("list", "--state", "resolved").output.strip() == "no alerts"
