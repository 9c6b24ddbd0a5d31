"""No secret ever reaches a log line, a page, a JSON answer, an audit row or the terminal.

A sentinel goes into every secret variable; then the pages, the JSON API, the error paths, a
configuration error and the CLI are exercised, and every output is searched for it. Logs are
read twice: as the real stderr handler wrote them (capfd) and as raw records (caplog), so a
secret that only the redacting formatter hides is caught too.
"""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from raxx_console import create_app
from raxx_console.cli import main
from raxx_console.config import ConfigError, load_settings
from raxx_console.logging_setup import configure_logging
from tests.support.accounts import csrf_token, login, make_token, make_user
from tests.support.rows import audit_rows

SENTINEL = "s3ntinel-9d2e41"
SECRETS = {
    "FREESCOUT_API_KEY": f"fs-{SENTINEL}",
    "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": f"cf-{SENTINEL}",
    "SECRET_KEY": f"sk-{SENTINEL}-0123456789abcdef",
    "SLACK_BOT_TOKEN": f"xoxb-{SENTINEL}",
    "HEROKU_API_TOKEN": f"hrku-{SENTINEL}",
    "INFISICAL_CLIENT_SECRET": f"inf-{SENTINEL}",
    # a local, closed port: nothing is ever sent anywhere
    "SENTRY_DSN": f"http://{SENTINEL}@127.0.0.1:9/1",
}
NOT_SECRET = {
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID": "cf-id.access",
    "FREESCOUT_INSTANCE_URL": "https://tickets.raxx.app",
}


@pytest.fixture(autouse=True)
def real_stderr_handler():
    """Let the test install the console's own stderr handler afresh, and put the old one back after."""
    root = logging.getLogger()
    previous = [h for h in root.handlers if h.get_name() == "raxx-console"]
    yield
    for handler in [h for h in root.handlers if h.get_name() == "raxx-console"]:
        root.removeHandler(handler)
    for handler in previous:
        root.addHandler(handler)


def listen_on_captured_stderr():
    """Drop the console's handler so the next create_app installs it on *this* phase's stderr.

    capfd's stream during fixture setup is closed before the test body runs, so apps whose logs
    are checked here are built in the test body.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "raxx-console"]:
        root.removeHandler(handler)


@pytest.fixture
def secret_settings(settings_overrides, monkeypatch):
    settings_overrides.update(SECRETS, **NOT_SECRET)
    monkeypatch.setenv("FLAG_CONSOLE_DEPLOY_CHIP", "bogus")  # one ERROR line we know must appear
    return settings_overrides


def _pages(client, console, clock, settings):
    """Every kind of answer the foundation gives, as (label, body) pairs."""
    make_user(console, "op@raxx.app", "operator")
    make_user(console, "viewer@raxx.app", "viewer")
    yield "login page", client.get("/login")
    yield (
        "failed login",
        client.post(
            "/login", data={"email": "op@raxx.app", "password": SENTINEL, "csrf_token": csrf_token(client)}
        ),
    )
    assert login(client, "op@raxx.app").status_code == 302
    yield "grid", client.get("/console/status")
    yield "grid json", client.get("/console/status.json")
    yield "flags", client.get("/console/flags")
    yield "flags json", client.get("/console/flags.json")
    token = csrf_token(client, "/console/flags")
    yield (
        "confirm step",
        client.post(
            "/console/flags/FLAG_CONSOLE_ALERTS_AUTO_TICKET", data={"value": "on", "csrf_token": token}
        ),
    )
    yield (
        "toggle",
        client.post("/console/flags/FLAG_CONSOLE_DEPLOY_UI", data={"value": "on", "csrf_token": token}),
    )
    yield "csrf refusal", client.post("/console/flags/FLAG_CONSOLE_DEPLOY_UI", data={"value": "off"})
    yield "404 page", client.get("/console/no-such-page")
    bearer = {"Authorization": f"Bearer {make_token(console, 'op@raxx.app')}"}
    yield (
        "409 json",
        client.post("/console/flags/FLAG_CONSOLE_ALERTS_AUTO_TICKET", json={"value": True}, headers=bearer),
    )
    yield (
        "400 json",
        client.post("/console/flags/FLAG_CONSOLE_DEPLOY_UI", json={"value": "x"}, headers=bearer),
    )
    yield "401 json", client.get("/console/flags.json", headers={"Authorization": f"Bearer {SENTINEL}"})
    viewer = client.application.test_client()
    login(viewer, "viewer@raxx.app")
    yield (
        "403 page",
        viewer.post(
            "/console/flags/FLAG_CONSOLE_DEPLOY_UI",
            data={"value": "on", "csrf_token": csrf_token(viewer, "/console/flags")},
        ),
    )
    production = create_app({**settings, "CONSOLE_ENV": "production"}, clock=clock)
    yield "421 page", production.test_client().get("/console/status", base_url="http://unknown.example")
    yield "421 json", production.test_client().get("/console/status.json", base_url="http://unknown.example")
    production.extensions["raxx_console"].db.dispose()


def test_no_page_json_audit_row_or_log_line_holds_a_secret(secret_settings, clock, capfd, caplog):
    caplog.set_level(logging.INFO)
    listen_on_captured_stderr()
    app = create_app(secret_settings, clock=clock)
    app.config["TESTING"] = True
    client, console = app.test_client(), app.extensions["raxx_console"]
    for label, response in _pages(client, console, clock, secret_settings):
        assert SENTINEL not in response.get_data(as_text=True), label
        assert not any(SENTINEL in value for _, value in response.headers), label
    for row in audit_rows(console):
        assert SENTINEL not in f"{row.actor} {row.selected_env} {row.payload}", row.action
    console.db.dispose()
    captured = capfd.readouterr()
    assert "flag_env_invalid flag=FLAG_CONSOLE_DEPLOY_CHIP" in captured.err  # the handler was listening
    assert SENTINEL not in captured.err + captured.out
    assert SENTINEL not in caplog.text


def test_the_cli_never_prints_a_secret(secret_settings, database_url, tmp_path, capfd, caplog):
    caplog.set_level(logging.INFO)
    listen_on_captured_stderr()
    configure_logging(
        "INFO", []
    )  # the CLI refreshes this handler rather than binding one to CliRunner's stream
    env = {**SECRETS, **NOT_SECRET, "DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path)}
    runner = CliRunner()
    outputs = [
        runner.invoke(main, ["user", "create", "--email", "op@raxx.app", "--role", "operator"],
                      env={**env, "RAXX_CONSOLE_PASSWORD": f"pw-{SENTINEL}"}),
        runner.invoke(main, ["token", "create", "--email", "op@raxx.app"], env=env),
        runner.invoke(main, ["flags", "list"], env=env),
        runner.invoke(main, ["flags", "set", "FLAG_CONSOLE_ALERTS_AUTO_TICKET", "on"], env=env),
        runner.invoke(main, ["flags", "set", "FLAG_CONSOLE_ALERTS_AUTO_TICKET", "on", "--force"], env=env),
        # a configuration error while the secrets are set
        runner.invoke(main, ["flags", "list"], env={**env, "WEB_CONCURRENCY": "many"}),
        # a database that refuses the connection, with the password in its URL
        runner.invoke(main, ["flags", "list"], env={**env, "DATABASE_URL": f"postgresql://raxx:{SENTINEL}@127.0.0.1:9/raxx"}),
    ]  # fmt: skip
    assert [result.exit_code for result in outputs] == [0, 0, 0, 1, 0, 2, 1]
    for result in outputs:
        assert SENTINEL not in result.output
        assert "Traceback" not in result.output
    captured = capfd.readouterr()
    assert "flag_env_invalid flag=FLAG_CONSOLE_DEPLOY_CHIP" in captured.err
    assert SENTINEL not in captured.err + captured.out
    assert SENTINEL not in caplog.text


def test_a_configuration_error_names_no_secret(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CONSOLE_ENV", "prod")
    monkeypatch.setenv("FREESCOUT_API_URL", f"tickets-{SENTINEL}")
    with pytest.raises(ConfigError) as stopped:
        load_settings()
    message = str(stopped.value)
    assert "CONSOLE_ENV" in message and "FREESCOUT_API_URL" in message
    assert SENTINEL not in message
