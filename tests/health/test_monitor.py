"""RCA 2026-06-19 action item 2: > 2 ``freescout_not_configured`` in 10 minutes → one ERROR alert + Sentry.

The outcomes come from the real client (no FREESCOUT_* settings, so it stops before the network)
through the real hook: the handler ``install_monitor`` puts on the client's logger.
"""

from __future__ import annotations

import logging

import pytest

from raxx_console.clock import ManualClock
from raxx_console.config import load_settings
from raxx_console.context import build_console
from raxx_console.health.monitor import COMPONENT_KEY, install_monitor
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_client import logger as client_logger
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.integrations.freescout_outcomes import Reason
from tests.health.sentry_endpoint import SentryEndpoint

MINUTE = 60.0


@pytest.fixture
def monitored(tmp_path, clock: ManualClock, sentry_endpoint: SentryEndpoint):
    """A Console whose process-wide monitor watches the client logger, removed afterwards."""
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SENTRY_DSN": sentry_endpoint.dsn,
        }
    )
    console = build_console(settings, clock=clock)
    monitor = install_monitor(console)
    assert console.components[COMPONENT_KEY] is monitor
    yield console
    client_logger.removeHandler(monitor)
    console.db.dispose()


def _not_configured() -> None:
    outcome = FreeScoutClient(FreeScoutConfig()).list_conversations(status="active")
    assert outcome.reason is Reason.NOT_CONFIGURED


def _alerts(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "raxx_console.health" and "freescout_not_configured_alert" in r.getMessage()
    ]


def test_three_in_ten_minutes_raise_one_alert_and_one_sentry_event(monitored, clock, sentry_endpoint, caplog):
    for _ in range(3):
        _not_configured()
        clock.advance(4 * MINUTE)
    _not_configured()  # a fourth inside the same window does not alert again

    (alert,) = _alerts(caplog)
    assert alert.levelno == logging.ERROR
    message = alert.getMessage()
    assert "freescout_not_configured_alert count=3 window=10m" in message
    assert "missing=FREESCOUT_API_URL,FREESCOUT_API_KEY" in message

    events = sentry_endpoint.wait_for_events(1)
    assert len(events) == 1 and events[0]["level"] == "error"
    (sent,) = sentry_endpoint.messages()
    assert sent.startswith("freescout_not_configured_alert count=3 window=10m")
    assert "FREESCOUT_API_URL" in sent and "FREESCOUT_API_KEY" in sent
    assert events[0]["tags"]["alert"] == "freescout_not_configured"


def test_three_spread_over_more_than_ten_minutes_raise_nothing(monitored, clock, sentry_endpoint, caplog):
    for _ in range(3):
        _not_configured()
        clock.advance(5.5 * MINUTE)

    assert _alerts(caplog) == []
    assert sentry_endpoint.wait_for_events(1, timeout=0.5) == []


def test_the_alert_fires_again_in_a_later_window(monitored, clock, caplog):
    for _ in range(3):
        _not_configured()
    clock.advance(11 * MINUTE)
    for _ in range(3):
        _not_configured()

    assert [a.getMessage().split(":")[0] for a in _alerts(caplog)] == [
        "freescout_not_configured_alert count=3 window=10m missing=FREESCOUT_API_URL,FREESCOUT_API_KEY,"
        "CF_ACCESS_SVC_TICKETS_CLIENT_ID,CF_ACCESS_SVC_TICKETS_CLIENT_SECRET"
    ] * 2


def test_other_degraded_reasons_are_not_counted(monitored, caplog):
    config = FreeScoutConfig(api_url="http://127.0.0.1:9", api_key="k", cf_access_required=False)
    client = FreeScoutClient(config, get_attempts=1)
    for _ in range(3):
        assert client.list_conversations(status="active").reason is Reason.UNAVAILABLE

    assert _alerts(caplog) == []
