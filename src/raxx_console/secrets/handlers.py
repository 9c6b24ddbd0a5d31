"""Mode A handlers: how the console rotates a secret by itself, one row per secret.

The rotation engine (``service.rotate``) owns the steps every handler shares — write the vault,
set each app's config var, check each by fingerprint, audit. A handler adds what only the
secret's own system knows: which apps hold it (``scope``), how to make a good value, how to have
the system that checks it accept the value before any app uses it (``enrol``), a live call
proving the new value works (where one exists), and how to retire the old one. Adding a handler
is adding a row to ``HANDLERS``; a registry row without one is rotated by its manual SOP.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

from raxx_console.auth.service import PREFIX_LENGTH, hash_token, new_service_token
from raxx_console.config import ConsoleEnv
from raxx_console.context import Console
from raxx_console.integrations.registry import peer_link
from raxx_console.peers import (
    SERVICE_TOKENS_PATH,
    SERVICE_TOKENS_RETIRE_PATH,
    VERSION_PATH,
    PeerOutcome,
    PeerStatus,
)
from raxx_console.secrets.registry import CONSOLE_APP_BY_ENV, SecretSpec


class HandlerFailed(Exception):
    """A handler step failed; ``reason`` is a short code, safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RotationHandler(Protocol):
    #: One line for the page: what the handler does beyond the shared steps.
    description: str

    def scope(self, spec: SecretSpec) -> SecretSpec:
        """The apps and vault path this console rotates (its own app's, for a per-app secret)."""

    def generate(self) -> str:
        """A new value; raise HandlerFailed when no rotation can work (before anything is written)."""

    def enrol(self, value: str) -> None:
        """Have the system that checks the secret accept ``value`` beside the old one, before any
        app uses it. Called on every attempt, so it must be idempotent."""

    def verify_live(self, value: str) -> bool:
        """Prove ``value`` works with a live call; False when no such call exists.
        Raise HandlerFailed when the call says it does not work."""

    def retire(self, old_value: Callable[[], str | None]) -> str:
        """Retire the old value where the system allows; returns what was done, for the audit row.
        ``old_value`` reads it back from the vault's previous version, if the handler needs it."""


class ConsoleSecretKey:
    """The console's own ``SECRET_KEY``: 256 random bits, set on both console apps.

    No live call can prove a session key (it is only ever used by the app itself), so it is
    verified by fingerprint alone; nothing needs revoking — Heroku restarts the dynos with the new
    config var, and cookies signed with the old key stop validating (everyone signs in again).
    """

    description = "Generates 256 random bits; the apps restart with it and every session signs in again."

    def __init__(self, console: Console) -> None:
        self.console = console

    def scope(self, spec: SecretSpec) -> SecretSpec:
        return spec

    def generate(self) -> str:
        return secrets.token_hex(32)

    def enrol(self, value: str) -> None:
        """Nothing checks a session key but the apps themselves."""

    def verify_live(self, value: str) -> bool:
        return False

    def retire(self, old_value: Callable[[], str | None]) -> str:
        return "nothing to revoke: sessions signed with the old key end when the apps restart"


class PeerServiceToken:
    """``CONSOLE_PEER_TOKEN``, the service token this console calls the other one with (peers.py).

    The other console issued it and keeps only its hash, so a rotation goes through it: the
    peer enrols the new token's hash (a call authenticated by the current token) before this
    app's config var gets it, a call with the new token proves it, and — only then — the peer
    revokes every other token of this console's service (a call made with the new token). Each
    console app holds its own token, so the rotation touches this console's app only
    (docs/decisions.md, "Rotating the peer link's service token").
    """

    description = (
        "The other console enrols a new service token, a peer call proves it, then the peer "
        "revokes the old one."
    )

    def __init__(self, console: Console) -> None:
        self.link = peer_link(console)
        #: The value ``verify_live`` proved; the engine always verifies before it retires.
        self._proven: str | None = None

    def scope(self, spec: SecretSpec) -> SecretSpec:
        """This console's app: the one whose peer is ``link.env`` (prod calls staging, and back)."""
        own = ConsoleEnv.production if self.link.env is ConsoleEnv.staging else ConsoleEnv.staging
        return spec.for_app(CONSOLE_APP_BY_ENV[own.value])

    def generate(self) -> str:
        if self.link.missing():
            raise HandlerFailed("peer_not_configured")
        return new_service_token()

    def enrol(self, value: str) -> None:
        body = {"token_hash": hash_token(value), "prefix": value[:PREFIX_LENGTH]}
        outcome = self.link.post(SERVICE_TOKENS_PATH, body)
        if outcome.status is PeerStatus.REFUSED:
            # A resume after the old token was already retired: the new one, if enrolled, speaks.
            outcome = self.link.post(SERVICE_TOKENS_PATH, body, token=value)
        _check(outcome)

    def verify_live(self, value: str) -> bool:
        _check(self.link.get(VERSION_PATH, token=value))
        self._proven = value
        return True

    def retire(self, old_value: Callable[[], str | None]) -> str:
        if self._proven is None:
            raise HandlerFailed("peer_token_not_verified")
        outcome = self.link.post(SERVICE_TOKENS_RETIRE_PATH, {}, token=self._proven)
        _check(outcome)
        self.link.use_token(self._proven)  # the old one is dead: this process calls with the new one
        revoked = outcome.body.get("revoked") if isinstance(outcome.body, dict) else None
        prefixes = ", ".join(f"{prefix}…" for prefix in revoked or [] if isinstance(prefix, str))
        return f"the {self.link.name} console revoked the old token(s): {prefixes or 'none left live'}"


def _check(outcome: PeerOutcome) -> None:
    """A peer call that did not answer 2xx fails the step by its status (``peer_refused`` …)."""
    if not outcome.ok:
        raise HandlerFailed(f"peer_{outcome.status.value}")


#: Secret name → its handler, built with the Console it works for.
HANDLERS: dict[str, Callable[[Console], RotationHandler]] = {
    "SECRET_KEY": ConsoleSecretKey,
    "CONSOLE_PEER_TOKEN": PeerServiceToken,
}
