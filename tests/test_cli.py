"""The operator chores of ``raxx-console``, driven in-process against the test database."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from raxx_console.auth.models import User
from raxx_console.cli import main
from raxx_console.db import normalize_url
from tests.support.accounts import login, make_user
from tests.support.databases import PG_ADMIN_URL
from tests.support.rows import audit_rows

PASSWORD = "a long enough password"


@pytest.fixture
def cli(database_url, tmp_path):
    """Run ``raxx-console ARGS`` with the environment a staging dyno would have."""

    def run(*args, **env):
        environment = {
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "cli-instance"),
            "SECRET_KEY": "cli-secret-key-0123456789",
            "CONSOLE_ENV": "staging",
            **env,
        }
        result = CliRunner().invoke(main, list(args), env=environment)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


def users(console):
    with console.db.session() as session:
        return list(session.scalars(select(User.email).order_by(User.id)))


def test_user_create_takes_the_password_from_the_environment(cli, console):
    result = cli(
        "user", "create", "--email", " Ops@Raxx.app ", "--role", "operator", RAXX_CONSOLE_PASSWORD=PASSWORD
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created operator ops@raxx.app"
    assert users(console) == ["ops@raxx.app"]
    [row] = audit_rows(console, "console.user.created")
    assert (row.actor, row.selected_env, row.payload["role"]) == ("system:cli", "staging", "operator")
    assert PASSWORD not in str(row.payload)


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--role", "superuser"], PASSWORD, "Invalid value for '--role'"),
        (["--role", "viewer"], "short", "password must be at least 12 characters"),
        (["--role", "viewer", "--email", "not-an-email"], PASSWORD, "expected an email address"),
    ],
)
def test_user_create_refuses_bad_input_and_stores_nothing(cli, console, args, password, message):
    email = [] if "--email" in args else ["--email", "new@raxx.app"]
    result = cli("user", "create", *email, *args, RAXX_CONSOLE_PASSWORD=password)
    assert result.exit_code != 0
    assert message in result.output
    assert users(console) == []
    assert not audit_rows(console)


def test_user_create_refuses_a_duplicate(cli, console):
    make_user(console, "ops@raxx.app", "viewer")
    result = cli(
        "user", "create", "--email", "OPS@raxx.app", "--role", "admin", RAXX_CONSOLE_PASSWORD=PASSWORD
    )
    assert result.exit_code != 0
    assert "a user with email ops@raxx.app already exists" in result.output
    with console.db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(User.role_name)) == "viewer"


def test_a_created_token_works_as_a_bearer_token_until_revoked(cli, console, client):
    make_user(console, "bot@raxx.app", "operator")
    created = cli("token", "create", "--email", "bot@raxx.app", "--name", "grafana")
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    assert token.startswith("rxc_") and len(token) > 40
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/console/flags.json", headers=headers).status_code == 200

    revoked = cli("token", "revoke", token[:10])
    assert revoked.exit_code == 0, revoked.output
    assert "grafana" in revoked.output and token not in revoked.output
    assert client.get("/console/flags.json", headers=headers).status_code == 401
    assert cli("token", "revoke", token[:10]).exit_code != 0  # already revoked: nothing left to revoke


def test_token_create_for_an_unknown_user_fails_cleanly(cli, console):
    result = cli("token", "create", "--email", "nobody@raxx.app")
    assert result.exit_code != 0
    assert "no user with email nobody@raxx.app" in result.output
    assert not audit_rows(console)


def test_flags_list_shows_value_source_and_pins(cli, console, monkeypatch):
    monkeypatch.setenv("FLAG_CONSOLE_DEPLOY_UI", "0")
    monkeypatch.setenv("FLAG_CONSOLE_ROTATE_UI", "perhaps")
    assert cli("flags", "set", "FLAG_CONSOLE_DEPLOY_UI", "on").exit_code == 0
    result = cli("flags", "list")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert len(lines) == 9
    assert "db: on · effective: off (env pin)" in lines["FLAG_CONSOLE_DEPLOY_UI"]
    assert "'perhaps' is invalid and ignored" in lines["FLAG_CONSOLE_ROTATE_UI"]
    assert lines["FLAG_CONSOLE_DEPLOY_CHIP"].split()[1:3] == ["off", "default"]


def test_flags_set_writes_the_db_value_with_an_audit_row_in_console_env(cli, console):
    result = cli("flags", "set", "FLAG_CONSOLE_DEPLOY_ASYNC", "on", "--actor", "kristerpher@raxx.app")
    assert result.exit_code == 0, result.output
    assert result.output.split()[:3] == ["FLAG_CONSOLE_DEPLOY_ASYNC", "on", "db"]
    console.flags.clear_cache()  # the CLI is another process: the app's cache would wait out its TTL
    assert console.flags.resolve("FLAG_CONSOLE_DEPLOY_ASYNC").source == "db"
    [row] = audit_rows(console, "console.flags.toggled")
    assert (row.actor, row.selected_env) == ("kristerpher@raxx.app", "staging")


def test_flags_set_refuses_an_unknown_flag(cli, console):
    result = cli("flags", "set", "FLAG_NOPE", "on")
    assert result.exit_code != 0
    assert "unknown flag FLAG_NOPE" in result.output
    assert not audit_rows(console)


def test_flags_set_refuses_a_ticketing_flag_without_prerequisites_unless_forced(cli, console):
    refused = cli("flags", "set", "FLAG_CONSOLE_ALERTS_AUTO_TICKET", "on")
    assert refused.exit_code == 1
    assert "FREESCOUT_API_KEY" in refused.output and "--force" in refused.output
    assert not audit_rows(console)

    forced = cli("flags", "set", "FLAG_CONSOLE_ALERTS_AUTO_TICKET", "on", "--force")
    assert forced.exit_code == 0, forced.output
    assert "turned on although missing" in forced.stderr
    console.flags.clear_cache()
    assert console.flags.resolve("FLAG_CONSOLE_ALERTS_AUTO_TICKET").value is True


@pytest.fixture
def unmigrated_url(backend, tmp_path):
    """An empty database nobody ran ``db upgrade`` on."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"raxx_unmigrated_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(normalize_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("args", [["flags", "list"], ["token", "create", "--email", "a@raxx.app"]])
def test_a_never_migrated_database_gets_a_message_not_a_traceback(cli, unmigrated_url, args):
    result = cli(*args, DATABASE_URL=unmigrated_url)
    assert result.exit_code == 1
    assert "database error:" in result.output
    assert "raxx-console db upgrade" in result.output


@pytest.mark.parametrize(
    "url",
    [
        "postgres://ops:hunter2-secret@db.example:abc/console",
        "postgres://ops:hunter2-secret@db.example:99999/console",
        "mysql://ops:hunter2-secret@db.example/console",
        "hunter2-secret",
        "postgresql://ops:hunter2-secret@db.example",
        "sqlite://",
    ],
)
@pytest.mark.parametrize("args", [["db", "upgrade"], ["flags", "list"]])
def test_a_bad_database_url_is_one_line_naming_the_variable_never_its_value(cli, url, args):
    result = cli(*args, DATABASE_URL=url)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid configuration: DATABASE_URL:")
    assert "hunter2" not in result.output and "db.example" not in result.output


def test_user_set_role_changes_the_role_and_ends_the_users_sessions(cli, console, app):
    created = cli(
        "user", "create", "--email", "op@raxx.app", "--role", "operator", RAXX_CONSOLE_PASSWORD=PASSWORD
    )
    assert created.exit_code == 0
    browser = app.test_client()
    assert login(browser, "op@raxx.app", PASSWORD).status_code == 302
    assert browser.get("/console/status.json").status_code == 200
    result = cli("user", "set-role", "--email", "op@raxx.app", "--role", "viewer")
    assert result.exit_code == 0 and "is now viewer" in result.output
    assert browser.get("/console/status.json").status_code == 401
    with console.db.session() as session:
        assert session.scalar(select(User.role_name).where(User.email == "op@raxx.app")) == "viewer"
    assert cli("user", "set-role", "--email", "nobody@raxx.app", "--role", "viewer").exit_code == 2
