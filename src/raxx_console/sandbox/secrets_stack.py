"""The Heroku and Infisical sandboxes of ``serve --sandbox``, seeded with the secrets registry.

Every registry secret gets a random value in the vault sandbox at its path, and the same value
in each of its apps' config vars in the Heroku sandbox — the state a rotation starts from. A
per-app secret (``CONSOLE_PEER_TOKEN``) gets one value per app, at ``<vault path>/<app>``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from raxx_console.sandbox.heroku import HerokuSandbox, create_heroku_sandbox
from raxx_console.sandbox.infisical import InfisicalSandbox, create_infisical_sandbox
from raxx_console.sandbox.server import BackgroundServer
from raxx_console.secrets.registry import SECRETS

PROJECT_ID = "raxx-sandbox-project"
ENVIRONMENT = "prod"


@dataclass
class SecretsSandboxes:
    heroku: BackgroundServer
    infisical: BackgroundServer
    heroku_app: HerokuSandbox
    infisical_app: InfisicalSandbox
    heroku_token: str = field(repr=False)
    infisical_client_id: str = field(repr=False)
    infisical_client_secret: str = field(repr=False)

    @classmethod
    def start(
        cls, *, host: str = "127.0.0.1", heroku_port: int = 0, infisical_port: int = 0
    ) -> SecretsSandboxes:
        token = f"HRKU-sandbox-{secrets.token_hex(16)}"
        client_id = f"sandbox-identity-{secrets.token_hex(6)}"
        client_secret = secrets.token_hex(32)
        vault: dict[tuple[str, str], str] = {}
        apps: dict[str, dict[str, str]] = {}
        for registered in SECRETS:
            for spec in registered.shares():
                value = secrets.token_hex(32)
                vault[(spec.vault_path, spec.name)] = value
                for app in spec.apps:
                    apps.setdefault(app, {})[spec.name] = value
        heroku_app = create_heroku_sandbox(token, apps)
        infisical_app = create_infisical_sandbox(
            client_id=client_id,
            client_secret=client_secret,
            project_id=PROJECT_ID,
            environment=ENVIRONMENT,
            seed=vault,
        )
        heroku = BackgroundServer(heroku_app, host=host, port=heroku_port, name="heroku-sandbox").start()
        try:
            infisical = BackgroundServer(
                infisical_app, host=host, port=infisical_port, name="infisical-sandbox"
            ).start()
        except BaseException:
            heroku.stop()
            raise
        return cls(heroku, infisical, heroku_app, infisical_app, token, client_id, client_secret)

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "HEROKU_API_URL": self.heroku.url,
            "HEROKU_API_TOKEN": self.heroku_token,
            "INFISICAL_API_URL": self.infisical.url,
            "INFISICAL_CLIENT_ID": self.infisical_client_id,
            "INFISICAL_CLIENT_SECRET": self.infisical_client_secret,
            "INFISICAL_PROJECT_ID": PROJECT_ID,
            "INFISICAL_ENVIRONMENT": ENVIRONMENT,
        }

    def describe_lines(self) -> list[str]:
        return [
            f"    Heroku API     {self.heroku.url}/   both console apps' config vars (names + fingerprints)",
            f"    Infisical      {self.infisical.url}/   the vault (paths, versions, fingerprints)",
        ]

    def stop(self) -> None:
        for server in (self.infisical, self.heroku):
            server.stop()
