"""Infisical, the vault: read and write one secret by path and name, over its REST API (httpx).

Why not the official SDK: see docs/decisions.md ("Infisical over httpx"). The calls:

- ``POST /api/v1/auth/universal-auth/login`` ``{clientId, clientSecret}`` → ``accessToken``
  (cached until shortly before ``expiresIn``; a 401 on a later call logs in once more);
- ``GET /api/v3/secrets/raw/{name}?workspaceId&environment&secretPath[&version]``;
- ``PATCH`` (exists) or ``POST`` (new) ``/api/v3/secrets/raw/{name}`` with ``secretValue``.

Each write creates a new secret *version*; the rotation keeps the version numbers (never the
values), so a resumed rotation reads back exactly the value it wrote. Errors are
:class:`InfisicalError` with a fixed ``reason``; no body or value ever goes into a message.

Reasons: ``infisical_not_configured``, ``infisical_auth_error``, ``infisical_secret_not_found``,
``infisical_rate_limited``, ``infisical_unavailable``, ``infisical_rejected``,
``infisical_unexpected_response``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from raxx_console.config import Settings

#: Log in again this long before the access token expires.
TOKEN_MARGIN_SECONDS = 60.0


class InfisicalError(Exception):
    """A failed call; the message is the reason and the secret's name, safe to log and show."""

    def __init__(self, reason: str, name: str, status: int | None = None) -> None:
        super().__init__(f"{reason} (secret {name}{f', HTTP {status}' if status else ''})")
        self.reason, self.name, self.status = reason, name, status


@dataclass(frozen=True)
class VaultSecret:
    """One version of a secret; the value is kept out of ``repr``."""

    name: str
    version: int
    value: str = field(repr=False)


@dataclass(frozen=True)
class InfisicalConfig:
    api_url: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    project_id: str | None = None
    environment: str = "prod"
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> InfisicalConfig:
        return cls(
            api_url=settings.INFISICAL_API_URL,
            client_id=settings.INFISICAL_CLIENT_ID,
            client_secret=settings.secret("INFISICAL_CLIENT_SECRET"),
            project_id=settings.INFISICAL_PROJECT_ID,
            environment=settings.INFISICAL_ENVIRONMENT,
            timeout=settings.SECRETS_TIMEOUT_SECONDS,
        )

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.project_id)


class InfisicalClient:
    """Thread-safe: one httpx pool, one cached access token behind a lock."""

    def __init__(self, config: InfisicalConfig) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.api_url,
            timeout=config.timeout,
            follow_redirects=False,
            headers={"User-Agent": "raxx-console"},
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0

    def get_secret(self, path: str, name: str, version: int | None = None) -> VaultSecret:
        """The current (or the given) version of ``path``/``name``."""
        params: dict[str, Any] = self._scope(path)
        if version is not None:
            params["version"] = version
        data = self._call("GET", name, params=params)
        return _secret(data, name)

    def set_secret(self, path: str, name: str, value: str) -> int:
        """Write a new version of ``path``/``name`` (creating it if absent); returns its version."""
        body = {**self._scope(path), "secretValue": value, "type": "shared"}
        try:
            data = self._call("PATCH", name, json=body)
        except InfisicalError as exc:
            if exc.reason != "infisical_secret_not_found":
                raise
            data = self._call("POST", name, json=body)
        return _secret(data, name).version

    # -- plumbing -------------------------------------------------------------------
    def _scope(self, path: str) -> dict[str, Any]:
        return {
            "workspaceId": self.config.project_id,
            "environment": self.config.environment,
            "secretPath": path,
        }

    def _call(self, method: str, name: str, **kwargs: Any) -> dict[str, Any]:
        if not self.config.configured:
            raise InfisicalError("infisical_not_configured", name)
        response = self._send(method, name, self._access_token(name), **kwargs)
        if response.status_code == 401:  # expired or revoked early: log in once more
            response = self._send(method, name, self._access_token(name, fresh=True), **kwargs)
        return _json(response, name)

    def _send(self, method: str, name: str, token: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(
                method,
                f"/api/v3/secrets/raw/{quote(name, safe='')}",
                headers={"Authorization": f"Bearer {token}"},
                **kwargs,
            )
        except httpx.HTTPError:
            raise InfisicalError("infisical_unavailable", name) from None

    def _access_token(self, name: str, *, fresh: bool = False) -> str:
        with self._lock:
            if not fresh and self._token and time.monotonic() < self._token_expires:
                return self._token
            try:
                response = self._http.post(
                    "/api/v1/auth/universal-auth/login",
                    json={"clientId": self.config.client_id, "clientSecret": self.config.client_secret},
                )
            except httpx.HTTPError:
                raise InfisicalError("infisical_unavailable", name) from None
            data = _json(response, name)
            token, expires_in = data.get("accessToken"), data.get("expiresIn")
            if not isinstance(token, str) or not isinstance(expires_in, int | float):
                raise InfisicalError("infisical_unexpected_response", name, response.status_code)
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, float(expires_in) - TOKEN_MARGIN_SECONDS)
            return token

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfisicalClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _json(response: httpx.Response, name: str) -> dict[str, Any]:
    status = response.status_code
    if status in (401, 403):
        raise InfisicalError("infisical_auth_error", name, status)
    if status == 404:
        raise InfisicalError("infisical_secret_not_found", name, status)
    if status == 429:
        raise InfisicalError("infisical_rate_limited", name, status)
    if status >= 500:
        raise InfisicalError("infisical_unavailable", name, status)
    if status != 200:
        raise InfisicalError("infisical_rejected", name, status)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InfisicalError("infisical_unexpected_response", name, status)
    return data


def _secret(data: dict[str, Any], name: str) -> VaultSecret:
    secret = data.get("secret")
    if not isinstance(secret, dict):
        raise InfisicalError("infisical_unexpected_response", name)
    value, version = secret.get("secretValue"), secret.get("version")
    if not isinstance(value, str) or isinstance(version, bool) or not isinstance(version, int):
        raise InfisicalError("infisical_unexpected_response", name)
    return VaultSecret(name=name, version=version, value=value)
