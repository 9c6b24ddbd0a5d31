"""Heroku Platform API: read and set one config var of an app, and nothing else.

``GET``/``PATCH /apps/{app}/config-vars`` answer with *every* config var of the app — the
database URL, API keys, the session key. This adapter takes the one var it was asked about out
of that answer and drops the rest at once; no answer body ever reaches a log line, an exception
message or a caller. Errors are :class:`HerokuError` with a fixed ``reason`` (and the HTTP
status), so whatever Heroku or a proxy puts in a body cannot travel further.

Reasons: ``heroku_not_configured``, ``heroku_auth_error`` (401/403), ``heroku_app_not_found``
(404), ``heroku_rate_limited`` (429), ``heroku_unavailable`` (5xx, timeout, connection),
``heroku_rejected`` (other 4xx) and ``heroku_unexpected_response`` (not a JSON object).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import quote

import httpx

from raxx_console.config import Settings

ACCEPT = "application/vnd.heroku+json; version=3"
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,29}$")


class HerokuError(Exception):
    """A failed call; the message is the reason and the app, safe to log and show."""

    def __init__(self, reason: str, app: str, status: int | None = None) -> None:
        super().__init__(f"{reason} (app {app}{f', HTTP {status}' if status else ''})")
        self.reason, self.app, self.status = reason, app, status


@dataclass(frozen=True)
class HerokuConfig:
    api_url: str
    token: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HerokuConfig:
        return cls(
            api_url=settings.HEROKU_API_URL,
            token=settings.secret("HEROKU_API_TOKEN"),
            timeout=settings.SECRETS_TIMEOUT_SECONDS,
        )


class HerokuClient:
    """Thread-safe (one httpx pool); never follows redirects."""

    def __init__(self, config: HerokuConfig) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.api_url,
            timeout=config.timeout,
            follow_redirects=False,
            headers={"Accept": ACCEPT, "User-Agent": "raxx-console"},
        )

    def get_config_var(self, app: str, name: str) -> str | None:
        """The value of ``name`` on ``app`` (None when unset)."""
        return _pick(self._call("GET", app, None), name, app)

    def set_config_var(self, app: str, name: str, value: str) -> None:
        """Set ``name`` on ``app`` (Heroku restarts the app's dynos with it)."""
        if _pick(self._call("PATCH", app, {name: value}), name, app) != value:
            raise HerokuError("heroku_unexpected_response", app)

    def _call(self, method: str, app: str, body: dict[str, str] | None) -> dict[str, object]:
        if not self.config.token:
            raise HerokuError("heroku_not_configured", app)
        if not _APP_NAME.match(app):
            raise HerokuError("heroku_rejected", app)
        try:
            response = self._http.request(
                method,
                f"/apps/{quote(app)}/config-vars",
                json=body,
                headers={"Authorization": f"Bearer {self.config.token}"},
            )
        except httpx.HTTPError:
            raise HerokuError("heroku_unavailable", app) from None
        status = response.status_code
        if status in (401, 403):
            raise HerokuError("heroku_auth_error", app, status)
        if status == 404:
            raise HerokuError("heroku_app_not_found", app, status)
        if status == 429:
            raise HerokuError("heroku_rate_limited", app, status)
        if status >= 500:
            raise HerokuError("heroku_unavailable", app, status)
        if status != 200:
            raise HerokuError("heroku_rejected", app, status)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise HerokuError("heroku_unexpected_response", app, status)
        return data

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HerokuClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _pick(config_vars: dict[str, object], name: str, app: str) -> str | None:
    value = config_vars.get(name)
    if value is not None and not isinstance(value, str):
        raise HerokuError("heroku_unexpected_response", app)
    return value
