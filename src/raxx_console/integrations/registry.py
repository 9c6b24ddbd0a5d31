"""One client per third party per Console (FreeScout, Slack, GitHub, Heroku, Infisical, the peer console).

Each holds an HTTP connection pool and is thread-safe, so web requests and worker jobs share
them instead of building a client per call. They live in ``console.components`` (per Console,
so each test app gets clients wired to its own settings).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from raxx_console.context import Console
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.integrations.github import GitHubClient, GitHubConfig
from raxx_console.integrations.heroku import HerokuClient, HerokuConfig
from raxx_console.integrations.infisical import InfisicalClient, InfisicalConfig
from raxx_console.integrations.slack import SlackNotifier
from raxx_console.peers import PeerLink

T = TypeVar("T")

FREESCOUT_KEY = "freescout_client"
SLACK_KEY = "slack_notifier"
GITHUB_KEY = "github_client"
HEROKU_KEY = "heroku_client"
INFISICAL_KEY = "infisical_client"
PEER_KEY = "peer_link"

_lock = threading.Lock()


def _component(console: Console, key: str, build: Callable[[], T]) -> T:
    existing: Any = console.components.get(key)
    if existing is not None:
        return existing
    with _lock:  # two first requests at once must not build (and leak) two pools
        if key not in console.components:
            console.components[key] = build()
        return console.components[key]


def freescout(console: Console) -> FreeScoutClient:
    """The Console's FreeScout client, configured from its settings."""
    return _component(
        console, FREESCOUT_KEY, lambda: FreeScoutClient(FreeScoutConfig.from_settings(console.settings))
    )


def slack(console: Console) -> SlackNotifier:
    """The Console's Slack notifier, configured from its settings."""
    return _component(console, SLACK_KEY, lambda: SlackNotifier.from_settings(console.settings))


def github(console: Console) -> GitHubClient:
    """The Console's GitHub client (deploys, console versions), configured from its settings."""
    return _component(console, GITHUB_KEY, lambda: GitHubClient(GitHubConfig.from_settings(console.settings)))


def heroku(console: Console) -> HerokuClient:
    """The Console's Heroku Platform API client (config vars), configured from its settings."""
    return _component(console, HEROKU_KEY, lambda: HerokuClient(HerokuConfig.from_settings(console.settings)))


def infisical(console: Console) -> InfisicalClient:
    """The Console's Infisical (vault) client, configured from its settings."""
    return _component(
        console, INFISICAL_KEY, lambda: InfisicalClient(InfisicalConfig.from_settings(console.settings))
    )


def peer_link(console: Console) -> PeerLink:
    """The Console's link to the other console (``peers.py``), configured from its settings."""
    return _component(console, PEER_KEY, lambda: PeerLink.from_settings(console.settings, console.clock))
