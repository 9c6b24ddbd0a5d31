"""Mode A handlers: how the console rotates a secret by itself, one row per secret.

The rotation engine (``service.rotate``) owns the steps every handler shares — write the vault,
set each app's config var, check each by fingerprint, audit. A handler adds what only the
secret's own system knows: how to make a good value, a live call proving the new value works
(where one exists), and how to retire the old one. Adding a handler is adding a row to
``HANDLERS``; a registry row without one is rotated by its manual SOP.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

from raxx_console.context import Console


class HandlerFailed(Exception):
    """A handler step failed; ``reason`` is a short code, safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RotationHandler(Protocol):
    #: One line for the page: what the handler does beyond the shared steps.
    description: str

    def generate(self) -> str:
        """A new value."""

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

    def generate(self) -> str:
        return secrets.token_hex(32)

    def verify_live(self, value: str) -> bool:
        return False

    def retire(self, old_value: Callable[[], str | None]) -> str:
        return "nothing to revoke: sessions signed with the old key end when the apps restart"


#: Secret name → its handler, built with the Console it works for.
HANDLERS: dict[str, Callable[[Console], RotationHandler]] = {
    "SECRET_KEY": ConsoleSecretKey,
}
