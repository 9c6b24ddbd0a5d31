"""The FreeScout client's configuration: which settings it needs and which are missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

# --------------------------------------------------------------------------- config


def _default_user_agent() -> str:
    try:
        version = metadata.version("raxx-console")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        version = "0+unknown"
    return f"raxx-console/{version}"


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class FreeScoutConfig:
    """What the client needs to talk to FreeScout at all; mailbox ids stay with callers."""

    api_url: str | None = None
    instance_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    cf_client_id: str | None = field(default=None, repr=False)
    cf_client_secret: str | None = field(default=None, repr=False)
    cf_access_required: bool = True
    bot_user_id: int | None = None
    timeout: float = 10.0
    connect_timeout: float | None = None
    user_agent: str = field(default_factory=_default_user_agent)

    @classmethod
    def from_settings(cls, settings: Any) -> FreeScoutConfig:
        """Read the runbook's env vars from the console ``Settings``."""
        return cls(
            api_url=settings.FREESCOUT_API_URL,
            instance_url=settings.FREESCOUT_INSTANCE_URL,
            api_key=settings.secret("FREESCOUT_API_KEY"),
            cf_client_id=settings.CF_ACCESS_SVC_TICKETS_CLIENT_ID,
            cf_client_secret=settings.secret("CF_ACCESS_SVC_TICKETS_CLIENT_SECRET"),
            cf_access_required=settings.FREESCOUT_CF_ACCESS_REQUIRED,
            bot_user_id=settings.FREESCOUT_BOT_USER_ID,
            timeout=settings.FREESCOUT_TIMEOUT_SECONDS,
        )

    def missing_for_api(self) -> list[str]:
        """Env var names without which no API call is attempted (``freescout_not_configured``)."""
        names = []
        if _blank(self.api_url):
            names.append("FREESCOUT_API_URL")
        if _blank(self.api_key):
            names.append("FREESCOUT_API_KEY")
        if self.cf_access_required:
            if _blank(self.cf_client_id):
                names.append("CF_ACCESS_SVC_TICKETS_CLIENT_ID")
            if _blank(self.cf_client_secret):
                names.append("CF_ACCESS_SVC_TICKETS_CLIENT_SECRET")
        return names

    def missing(self) -> list[str]:
        """Every missing client prerequisite, by env var name (never a value).

        For the start-up check and ``doctor``. ``FREESCOUT_OPERATIONS_MAILBOX_ID`` is not
        here: callers check the mailbox id they use.
        """
        names = self.missing_for_api()
        if _blank(self.instance_url):
            names.insert(1 if "FREESCOUT_API_URL" in names else 0, "FREESCOUT_INSTANCE_URL")
        if self.bot_user_id is None:
            names.append("FREESCOUT_BOT_USER_ID")
        return names
