"""Settings: a malformed value stops start-up, naming the variable and never echoing the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from raxx_console import create_app
from raxx_console.cli import main
from raxx_console.config import ConfigError, load_settings

SENTINEL = "SENTINEL-7f3a9c"

MALFORMED = [
    # (kind, variable, value): every value carries the sentinel, which must never be printed
    ("int", "WEB_CONCURRENCY", f"{SENTINEL}"),
    ("int", "FREESCOUT_OPERATIONS_MAILBOX_ID", f"ops-{SENTINEL}"),
    ("int", "MAX_CONTENT_LENGTH", f"2MB-{SENTINEL}"),
    ("float", "FREESCOUT_TIMEOUT_SECONDS", f"{SENTINEL}"),
    ("bool", "FREESCOUT_CF_ACCESS_REQUIRED", f"{SENTINEL}"),
    ("url", "FREESCOUT_API_URL", f"ftp://{SENTINEL}.example"),
    ("url", "FREESCOUT_INSTANCE_URL", f"tickets.raxx.app/{SENTINEL}"),
    ("url", "SLACK_API_URL", f"{SENTINEL}"),
    ("duration", "POLL_INTERVAL_SECONDS", f"{SENTINEL}s"),
    ("duration", "ALERT_REOPEN_COOLDOWN", f"1 fortnight {SENTINEL}"),
    ("host map", "CONSOLE_HOST_ENV_MAP", f"console.raxx.app-{SENTINEL}"),
    ("host map", "CONSOLE_HOST_ENV_MAP", f"console.raxx.app={SENTINEL}"),
    ("severity map", "ALERTMANAGER_SEVERITY_MAP", f"critical=P1,warning={SENTINEL}"),
    ("enum", "CONSOLE_ENV", f"{SENTINEL}"),
    ("enum", "LOG_LEVEL", f"{SENTINEL}"),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("FREESCOUT_", "CF_ACCESS_", "CONSOLE_", "SLACK_", "FLAG_")) or name in {
            "SECRET_KEY",
            "DATABASE_URL",
            "LOG_LEVEL",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))


@pytest.mark.parametrize(("kind", "name", "value"), MALFORMED, ids=[f"{k}-{n}" for k, n, _ in MALFORMED])
def test_a_malformed_value_stops_start_up_naming_the_variable_only(monkeypatch, kind, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as stopped:
        create_app()
    message = str(stopped.value)
    assert message.startswith("invalid configuration:")
    assert f"  {name}" in message
    assert SENTINEL not in message


def test_every_bad_variable_is_named_on_its_own_line(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "lots")
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "soon")
    with pytest.raises(ConfigError) as stopped:
        load_settings()
    lines = str(stopped.value).splitlines()
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["WEB_CONCURRENCY", "POLL_INTERVAL_SECONDS"]


def test_production_needs_a_secret_key(monkeypatch):
    monkeypatch.setenv("CONSOLE_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY is required when CONSOLE_ENV=production"):
        load_settings()


def test_a_malformed_flag_does_not_stop_start_up(monkeypatch, tmp_path):
    """Flags are read leniently (flags.service): a bad pin must not crash-loop the dynos mid-incident."""
    monkeypatch.setenv("FLAG_CONSOLE_ALERTS_AUTO_TICKET", "nope")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert create_app() is not None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("POLL_INTERVAL_SECONDS", "45", 45.0),
        ("ALERT_REOPEN_COOLDOWN", "15m", 900.0),
        ("SLACK_REPEAT_INTERVAL", "4h", 14400.0),
        ("INVESTIGATE_DEDUP_WINDOW", "1d", 86400.0),
        ("CONSOLE_HOST_ENV_MAP", "Console.Raxx.App=Production, ,x.dev=development",
         {"console.raxx.app": "production", "x.dev": "development"}),
        ("ALERTMANAGER_SEVERITY_MAP", "Critical=p1,page=P2", {"critical": "P1", "page": "P2"}),
        ("SLACK_ALERT_DM_USER_IDS", " U012AB3CD , ,U045EF6GH", ["U012AB3CD", "U045EF6GH"]),
        ("FREESCOUT_API_URL", "https://tickets.raxx.app/", "https://tickets.raxx.app"),
        ("FREESCOUT_OPERATIONS_MAILBOX_ID", "  ", None),
    ],
)  # fmt: skip
def test_well_formed_values_parse(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    assert getattr(load_settings(), name) == expected


def test_the_cli_prints_the_message_and_exits_non_zero_without_a_traceback(tmp_path):
    result = CliRunner().invoke(
        main, ["flags", "list"], env={"WEB_CONCURRENCY": SENTINEL, "INSTANCE_PATH": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "error: invalid configuration:" in result.stderr
    assert "WEB_CONCURRENCY" in result.stderr
    assert SENTINEL not in result.output
    assert "Traceback" not in result.output


def test_the_installed_command_does_the_same_in_a_real_process(tmp_path):
    command = Path(sys.executable).with_name("raxx-console")
    env = {**os.environ, "POLL_INTERVAL_SECONDS": SENTINEL, "INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run([command, "flags", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "POLL_INTERVAL_SECONDS: expected a duration" in done.stderr
    assert SENTINEL not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
