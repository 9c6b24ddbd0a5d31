"""The secrets domain against the Heroku and Infisical sandboxes over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from raxx_console.context import Console
from raxx_console.integrations import registry as integrations
from raxx_console.sandbox.secrets_stack import SecretsSandboxes
from raxx_console.secrets import service
from raxx_console.secrets.handlers import HANDLERS
from raxx_console.secrets.registry import CONSOLE_APPS, get_spec
from raxx_console.secrets.service import RotationOutcome
from tests.peer_consoles import peer_settings, staging  # noqa: F401  (test_peer_token.py)
from tests.support.accounts import login, make_user

NAME = "SECRET_KEY"
SPEC = get_spec(NAME)
assert SPEC is not None
#: The value every test starts from, planted in the vault and both apps: it must never show.
OLD_VALUE = "old-s3ntinel-5f0c2a9e71b4d8a6e3c1"
ADMIN = "admin@raxx.app"
ROTATE_UI = "FLAG_CONSOLE_ROTATE_UI"
MODE_A = "FLAG_CONSOLE_ROTATION_MODE_A"


class Sandboxes:
    """The running sandboxes plus what tests read from them (in process: values never go over HTTP)."""

    def __init__(self, stack: SecretsSandboxes) -> None:
        self.stack = stack
        self.heroku, self.vault = stack.heroku_app, stack.infisical_app

    def vault_value(self) -> str | None:
        return self.vault.current(SPEC.vault_path, NAME)

    def vault_versions(self) -> int:
        return self.vault.versions(SPEC.vault_path, NAME)

    def app_values(self) -> dict[str, str | None]:
        return {app: self.heroku.config_var(app, NAME) for app in CONSOLE_APPS}


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    stack = SecretsSandboxes.start()
    stack.infisical_app.seed_secret(SPEC.vault_path, NAME, OLD_VALUE)
    for app in CONSOLE_APPS:
        stack.heroku_app.set_config_var(app, NAME, OLD_VALUE)
    yield Sandboxes(stack)
    stack.stop()


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], sandboxes: Sandboxes) -> dict[str, Any]:
    return {**settings_overrides, **sandboxes.stack.settings_overrides(), "SECRETS_TIMEOUT_SECONDS": 1}


def set_flag(console: Console, name: str, value: bool) -> None:
    with console.db.session() as session:
        console.flags.set(session, name, value, actor="test", env="development")
    console.flags.clear_cache()


@pytest.fixture
def flags_on(console: Console) -> None:
    set_flag(console, ROTATE_UI, True)
    set_flag(console, MODE_A, True)


@pytest.fixture
def admin(console: Console, client: FlaskClient) -> FlaskClient:
    make_user(console, ADMIN, "admin")
    assert login(client, ADMIN).status_code == 302
    return client


def run_rotation(console: Console, actor: str = ADMIN, name: str = NAME) -> RotationOutcome:
    """What the Rotate button runs for the secret ``name``, called directly."""
    return service.rotate(
        console.db,
        console.clock,
        get_spec(name),
        HANDLERS[name](console),
        vault=integrations.infisical(console),
        heroku=integrations.heroku(console),
        actor=actor,
        env="development",
    )
