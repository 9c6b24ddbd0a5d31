"""/metrics: the named series carry what the database says, on both backends."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from raxx_console.outbox.service import Result
from raxx_console.status import service as status_service
from tests.health.rows import ALL_PREREQS, enqueue, filed, finish, heartbeat, turn_on
from tests.support.accounts import make_token, make_user


def scrape(client, **kwargs):
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_tickets_filed_by_entry_come_from_the_audit_log(console, client):
    for ticket_id in (1, 2):
        filed(
            console,
            "console.alerts.ticket_filed",
            alert_key=f"src:{ticket_id}",
            severity="P2",
            ticket_id=ticket_id,
        )
    filed(console, "console.status.ticket_filed", surface_id="api-prod", ticket_id=3, idempotent=False)
    filed(console, "console.status.ticket_filed", surface_id="api-prod", ticket_id=3, idempotent=True)
    filed(console, "console.status.ticket_filed", surface_id="api-prod", ticket_id=None, idempotent=False)
    samples = scrape(client)
    assert samples[("raxx_console_tickets_filed_total", (("entry", "alert"),))] == 2
    assert samples[("raxx_console_tickets_filed_total", (("entry", "status"),))] == 1
    assert (
        samples[("raxx_console_last_ticket_filed_timestamp_seconds", ())] == console.clock.now().timestamp()
    )


def test_backlog_failures_and_the_deliverer_lag(console, client):
    waiting = enqueue(console, "a")
    finish(console, waiting, Result.retry("freescout_unavailable", retry_after=10))
    enqueue(console, "b")
    enqueue(console, "dm", kind="slack.dm")
    finish(console, enqueue(console, "c"), Result.failed("cf_access_denied"))
    finish(console, enqueue(console, "d"), Result.failed("cf_access_denied"))
    finish(console, enqueue(console, "e"), Result.expired("expired_before_delivery"))
    finish(console, enqueue(console, "f"), Result.cancelled("flag_off"))
    console.clock.advance(90)
    samples = scrape(client)
    kind = (("kind", "freescout.create"),)
    assert samples[("raxx_console_outbox_pending", kind)] == 2
    assert samples[("raxx_console_outbox_retrying", kind)] == 1
    assert samples[("raxx_console_outbox_oldest_pending_age_seconds", kind)] == 90
    assert samples[("raxx_console_outbox_pending", (("kind", "slack.dm"),))] == 1
    assert samples[("raxx_console_outbox_oldest_due_age_seconds", ())] == 90

    def failures(reason):
        labels = (("component", "freescout"), ("kind", "freescout.create"), ("reason", reason))
        return samples.get(("raxx_console_delivery_failures_total", labels))

    assert failures("cf_access_denied") == 2
    assert failures("expired_before_delivery") == 1
    assert failures("flag_off") is None, "a deliberate cancel is not a failure"


def test_surface_status_is_one_series_per_status(console, client):
    with console.db.session() as session:
        status_service.set_status(
            session, console.clock, console.surfaces, "api-prod", "degraded", actor="test", env="development"
        )
    samples = scrape(client)

    def status(surface_id, name):
        return samples[("raxx_console_surface_status", (("status", name), ("surface_id", surface_id)))]

    assert status("api-prod", "degraded") == 1
    assert status("api-prod", "operational") == 0
    assert status("api-staging", "unknown") == 1


def test_prerequisites_flags_poller_and_the_blocked_gauge(console, client):
    turn_on(console)
    heartbeat(console, cycle_ago=12, seconds=0.75, surfaces=6)
    samples = scrape(client)
    assert samples[("raxx_console_ticketing_prerequisites_missing", ())] == 7
    assert samples[("raxx_console_ticketing_prerequisite_missing", (("name", "FREESCOUT_API_KEY"),))] == 1
    flag = (("flag", "FLAG_CONSOLE_ALERTS_AUTO_TICKET"), ("source", "db"))
    assert samples[("raxx_console_ticketing_flag_enabled", flag)] == 1
    assert samples[("raxx_console_tickets_blocked", ())] == 1
    assert (
        samples[("raxx_console_health_problem", (("code", "prerequisites_missing"), ("severity", "stop")))]
        == 1
    )
    assert samples[("raxx_console_poller_last_cycle_seconds", ())] == 0.75
    assert samples[("raxx_console_poller_last_cycle_surfaces", ())] == 6
    assert (
        samples[("raxx_console_poller_last_cycle_timestamp_seconds", ())]
        == console.clock.now().timestamp() - 12
    )


def test_nothing_is_blocked_while_ticketing_is_off(console, client):
    samples = scrape(client)
    assert samples[("raxx_console_tickets_blocked", ())] == 0


@pytest.fixture
def production(settings_overrides):
    settings_overrides.update(CONSOLE_ENV="production", **ALL_PREREQS)


def test_in_production_metrics_need_an_api_token(production, console, client):
    base = "https://console.raxx.app"
    refused = client.get("/metrics", base_url=base)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    make_user(console, "prometheus@raxx.app", "viewer")
    token = make_token(console, "prometheus@raxx.app")
    samples = scrape(client, base_url=base, headers={"Authorization": f"Bearer {token}"})
    assert samples[("raxx_console_health_collect_success", ())] == 1
