"""The start-up check of RCA 2026-06-19 (action item 1): ERROR + Sentry, names only, never values."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from raxx_console import create_app
from raxx_console.health.startup import (
    COMPONENT_KEY,
    StartupCheck,
    startup_check_investigate_configured,
    warn_if_investigate_misconfigured,
)

FLAG = "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS"
#: Values for the variables that ARE set: none of them may appear in a log line or an event.
SENTINELS = {
    "FREESCOUT_API_URL": "https://sentinel-host-93c1.example",
    "FREESCOUT_API_KEY": "sentinel-api-key-4e2d9a",
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID": "sentinel-cf-id-0b7f.access",
}
MISSING = [
    "FREESCOUT_INSTANCE_URL",
    "FREESCOUT_OPERATIONS_MAILBOX_ID",
    "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
    "FREESCOUT_BOT_USER_ID",
]


@pytest.fixture
def half_configured(settings_overrides, sentry_endpoint):
    settings_overrides.update(SENTINELS, SENTRY_DSN=sentry_endpoint.dsn)
    return settings_overrides


def _health_errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "raxx_console.health" and r.levelno >= logging.ERROR]


def _assert_no_values(text: str) -> None:
    for value in SENTINELS.values():
        assert value not in text


def test_a_flag_pinned_on_with_missing_prerequisites_is_an_error_and_a_sentry_event(
    half_configured, sentry_endpoint, monkeypatch, caplog, request
):
    monkeypatch.setenv(FLAG, "1")
    console = request.getfixturevalue("console")  # create_app runs the check

    (record,) = _health_errors(caplog)
    message = record.getMessage()
    assert "investigate_prereq_missing" in message and FLAG in message
    assert all(name in message for name in MISSING)
    assert "FREESCOUT_API_KEY" not in message.split("missing=")[1]
    _assert_no_values(caplog.text)

    check = console.components[COMPONENT_KEY]
    assert isinstance(check, StartupCheck) and check.failing
    assert check.flags_on == (FLAG,) and list(check.missing) == MISSING
    assert check.checked_at == console.clock.now() and check.skipped is None

    (event,) = sentry_endpoint.wait_for_events(1)
    assert event["level"] == "error"
    (sent,) = sentry_endpoint.messages()
    assert "investigate_prereq_missing" in sent and all(name in sent for name in MISSING)
    for body in sentry_endpoint.bodies:
        _assert_no_values(body)


def test_a_flag_turned_on_in_the_database_is_checked_too(half_configured, caplog, request):
    console = request.getfixturevalue("console")
    assert not _health_errors(caplog)
    with console.db.session() as session:
        console.flags.set(session, "FLAG_CONSOLE_ALERTS_AUTO_TICKET", True, actor="test", env="development")
    console.flags.clear_cache()

    check = startup_check_investigate_configured(console)

    assert check.flags_on == ("FLAG_CONSOLE_ALERTS_AUTO_TICKET",) and check.failing
    (record,) = _health_errors(caplog)
    assert "FLAG_CONSOLE_ALERTS_AUTO_TICKET" in record.getMessage()
    assert warn_if_investigate_misconfigured(console.settings, console.flags) == MISSING
    _assert_no_values(caplog.text)


def test_flags_off_means_no_error_but_the_gaps_are_still_recorded(
    half_configured, sentry_endpoint, caplog, request
):
    console = request.getfixturevalue("console")

    assert not _health_errors(caplog)
    check = console.components[COMPONENT_KEY]
    assert check.flags_on == () and not check.failing and list(check.missing) == MISSING
    assert warn_if_investigate_misconfigured(console.settings, console.flags) == []
    assert sentry_endpoint.wait_for_events(1, timeout=0.5) == []


def test_everything_set_means_no_error(settings_overrides, monkeypatch, caplog, request):
    monkeypatch.setenv(FLAG, "on")
    settings_overrides.update(
        FREESCOUT_API_URL="https://tickets.example",
        FREESCOUT_INSTANCE_URL="https://tickets.example",
        FREESCOUT_API_KEY="k",
        FREESCOUT_OPERATIONS_MAILBOX_ID="2",
        CF_ACCESS_SVC_TICKETS_CLIENT_ID="id.access",
        CF_ACCESS_SVC_TICKETS_CLIENT_SECRET="secret",
        FREESCOUT_BOT_USER_ID="1",
    )
    console = request.getfixturevalue("console")

    check = console.components[COMPONENT_KEY]
    assert check.flags_on == (FLAG,) and check.missing == () and not check.failing
    assert not _health_errors(caplog)


def test_an_unmigrated_database_skips_the_check_with_a_warning(tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setenv(FLAG, "1")
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "INSTANCE_PATH": str(tmp_path / "instance")}
    )
    console = app.extensions["raxx_console"]
    try:
        check = console.components[COMPONENT_KEY]
        assert check.skipped and check.flags_on == () and not check.failing
        warnings = [r for r in caplog.records if r.name == "raxx_console.health"]
        assert [r.levelno for r in warnings] == [logging.WARNING]
        assert "skipped" in warnings[0].getMessage()
    finally:
        console.db.dispose()
