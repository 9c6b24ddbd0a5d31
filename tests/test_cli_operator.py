"""The terminal as an operator meets it: fast help, help everywhere, user chores, no secrets in logs."""

# ruff: noqa: F811  (pytest fixtures imported from tests.test_cli are parameters here)

from __future__ import annotations

import json
import stat
import subprocess
import sys

import click
import pytest
from sqlalchemy import select

from raxx_console.auth.models import ApiToken, User
from raxx_console.cli import ensure_first_admin, main
from tests.support.accounts import PASSWORD, login, make_token, make_user
from tests.support.rows import audit_rows
from tests.test_cli import cli  # noqa: F401  (the fixture)

NEW_PASSWORD = "another long password"

#: Modules whose import is the cost ``--help`` must not pay.
HEAVY_MODULES = (
    "sqlalchemy.engine",
    "sqlalchemy.orm",
    "aiohttp",
    "playwright",
    "flask",
    "pydantic",
    "httpx",
    "raxx_console.sandbox.stack",
    "raxx_console.sandbox.freescout",
    "raxx_console.sandbox.slack",
    "raxx_console.sandbox.surfaces",
)


def test_help_imports_none_of_the_heavy_modules():
    probe = (
        "import json, sys\n"
        "from raxx_console.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Commands:" in done.stdout
    loaded = set(json.loads(done.stderr))
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY_MODULES))
    assert heavy == []
    assert "raxx_console.cli" in loaded  # the probe did import the command line


def _every_command(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_every_command(command, f"{prefix}{name} "))
    return found


def test_every_command_and_option_has_help_and_shows_its_default():
    for name, command in _every_command(main):
        assert command.help, f"`{name}` has no help"
        assert "``" not in command.help, f"`{name}` shows raw markup"
        for param in command.params:
            if not isinstance(param, click.Option) or param.name == "help":
                continue
            assert param.help, f"`{name} {param.opts[0]}` has no help"
            if not param.is_flag and not param.required:
                assert param.show_default, f"`{name} {param.opts[0]}` hides its default"


def test_web_help_names_the_port_default():
    result = click.testing.CliRunner().invoke(main, ["web", "--help"])
    assert "[default: ($PORT, else 8000)]" in result.output


def test_user_list_shows_role_state_and_live_tokens(cli, console):
    make_user(console, "ops@raxx.app", "operator")
    make_user(console, "viewer@raxx.app", "viewer")
    make_token(console, "ops@raxx.app")
    result = cli("user", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["ops@raxx.app", "viewer@raxx.app"]
    assert "operator" in lines[0] and "active" in lines[0] and lines[0].endswith("tokens 1")
    assert lines[1].endswith("tokens 0")


def test_user_set_password_changes_the_login_and_is_audited(cli, console, client):
    make_user(console, "ops@raxx.app", "operator")
    result = cli("user", "set-password", "--email", "OPS@raxx.app", RAXX_CONSOLE_PASSWORD=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert login(client, "ops@raxx.app", PASSWORD).status_code != 302
    assert login(client, "ops@raxx.app", NEW_PASSWORD).status_code == 302
    [row] = audit_rows(console, "console.user.password_set")
    assert row.actor == "system:cli" and row.payload["email"] == "ops@raxx.app"
    assert NEW_PASSWORD not in json.dumps(row.payload)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("nobody@raxx.app", NEW_PASSWORD, "no user with email nobody@raxx.app"),
        ("ops@raxx.app", "short", "password must be at least 12 characters"),
    ],
)
def test_user_set_password_refuses_bad_input_and_changes_nothing(
    cli, console, client, email, password, message
):
    make_user(console, "ops@raxx.app", "operator")
    result = cli("user", "set-password", "--email", email, RAXX_CONSOLE_PASSWORD=password)
    assert result.exit_code != 0 and message in result.output
    assert not audit_rows(console, "console.user.password_set")
    assert login(client, "ops@raxx.app", PASSWORD).status_code == 302


def test_user_disable_revokes_tokens_and_ends_the_session_at_once(cli, console, client, app):
    make_user(console, "ops@raxx.app", "operator")
    token = make_token(console, "ops@raxx.app")
    bearer = {"Authorization": f"Bearer {token}"}
    assert login(client, "ops@raxx.app").status_code == 302
    assert client.get("/console/flags.json").status_code == 200
    assert client.get("/console/flags.json", headers=bearer).status_code == 200

    result = cli("user", "disable", "--email", "ops@raxx.app")
    assert result.exit_code == 0, result.output
    assert "revoked 1 token" in result.output and token not in result.output

    assert client.get("/console/flags.json").status_code == 401  # the open session ended
    assert client.get("/console/flags.json", headers=bearer).status_code == 401
    assert login(client, "ops@raxx.app").status_code != 302
    with console.db.session() as session:
        assert session.scalar(select(User.disabled).where(User.email == "ops@raxx.app")) is True
        assert session.scalar(select(ApiToken.revoked_at)) is not None
    [row] = audit_rows(console, "console.user.disabled")
    assert row.payload["revoked_tokens"] == [token[:10]]

    again = cli("user", "disable", "--email", "ops@raxx.app")
    assert again.exit_code != 0 and "already disabled" in again.output
    token_again = cli("token", "create", "--email", "ops@raxx.app")
    assert token_again.exit_code != 0 and "is disabled" in token_again.output
    assert len(audit_rows(console, "console.user.disabled")) == 1


def test_the_first_admin_password_goes_to_an_owner_only_file_when_stdout_is_not_a_terminal(
    console, client, capsys
):
    ensure_first_admin(console)
    out = capsys.readouterr().out
    path = console.settings.instance_path / "first-admin-password.txt"
    password = path.read_text().strip()
    assert len(password) >= 20
    assert password not in out
    assert str(path.resolve()) in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert login(client, "admin@localhost", password).status_code == 302


def test_the_first_admin_password_is_printed_on_a_terminal(console, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    ensure_first_admin(console)
    out = capsys.readouterr().out
    assert "password: " in out
    assert not (console.settings.instance_path / "first-admin-password.txt").exists()
