"""A GitHub sandbox on the test's clock, and a console wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from raxx_console.clock import ManualClock
from raxx_console.sandbox.github import OWNER_REPO, GitHubSandboxState, create_github_sandbox
from raxx_console.sandbox.server import BackgroundServer

GITHUB_TOKEN = "ghs_test_sandbox_token_5d1e"


@dataclass
class GitHubSandbox:
    url: str
    state: GitHubSandboxState

    def settings(self) -> dict[str, Any]:
        return {"GITHUB_API_URL": self.url, "GITHUB_TOKEN": GITHUB_TOKEN, "GITHUB_REPOSITORY": OWNER_REPO}

    def control(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/_sandbox/{name}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def dispatches(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_sandbox/dispatches").json()


@pytest.fixture
def github_sandbox(clock: ManualClock) -> Iterator[GitHubSandbox]:
    app = create_github_sandbox(token=GITHUB_TOKEN, clock=clock)
    with BackgroundServer(app, name="github-sandbox") as server:
        yield GitHubSandbox(server.url, app.extensions["github_sandbox"])


@pytest.fixture
def github_settings(settings_overrides: dict[str, Any], github_sandbox: GitHubSandbox) -> dict[str, Any]:
    """``settings_overrides`` wired to the GitHub sandbox; request it before ``app``."""
    settings_overrides.update(github_sandbox.settings())
    return settings_overrides
