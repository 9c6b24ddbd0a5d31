"""``raxx-console secrets list``: the registry from a terminal, names only."""

from __future__ import annotations

from click.testing import CliRunner

from raxx_console.cli import main
from tests.secrets.conftest import NAME, OLD_VALUE, run_rotation


def test_secrets_list_shows_modes_and_rotations_never_values(database_url, tmp_path, console, sandboxes):
    run_rotation(console)
    env = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "cli"),
        "SECRET_KEY": "cli-secret-key-0123456789",
        "FLAG_CONSOLE_ROTATION_MODE_A": "on",
    }

    result = CliRunner().invoke(main, ["secrets", "list"], env=env)

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert lines[NAME].split()[1] == "handler" and "by admin@raxx.app" in lines[NAME]
    assert lines["SLACK_BOT_TOKEN"].split()[1:3] == ["manual", "no"]
    assert OLD_VALUE not in result.output and sandboxes.vault_value() not in result.output
