"""The link to the other console: staging knows prod, prod knows staging. Built once per Console.

``CONSOLE_PEER_URLS`` names both consoles' base URLs (the same value can be set on both apps);
each console calls the *other* one, server to server, with ``CONSOLE_PEER_TOKEN`` (a service
token the peer issued with ``raxx-console token create --service NAME``) and, when set, the
Cloudflare Access service-token headers (``CF_ACCESS_SVC_CONSOLE_CLIENT_ID``/``_SECRET``).

``integrations.registry.peer_link(console)`` builds it once per Console. Every call answers a
``PeerOutcome`` — never an exception for HTTP or transport trouble:

- ``ok``: a 2xx, with its JSON body;
- ``rejected``: the peer understood and said no (409, 404, 400), with its JSON error;
- ``refused``: 401/403 or an Access redirect — the token or the Access pair is wrong;
- ``unreachable``: no answer, a timeout, a 5xx or a body that is not JSON;
- ``not_configured``: no peer URL or token here, so nothing was sent.

The page that needed the peer shows ``outcome.banner`` and changes nothing; the last outcome is
kept for the health panel, and ``doctor`` calls the peer's version through the link.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx

from raxx_console.clock import Clock
from raxx_console.config import ConsoleEnv, Settings
from raxx_console.integrations._cf_access import cf_access_service_headers

log = logging.getLogger("raxx_console.peers")

#: The authenticated twin of the peer's public ``/version`` (health/views.py).
VERSION_PATH = "/api/peer/version"
#: Where the peer enrols this console's next service token and retires the old ones (auth/views.py).
SERVICE_TOKENS_PATH = "/api/peer/service-tokens"
SERVICE_TOKENS_RETIRE_PATH = "/api/peer/service-tokens/retire"


class PeerStatus(StrEnum):
    OK = "ok"
    REJECTED = "rejected"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class PeerOutcome:
    """What one call to the peer came to; ``reason`` is for people and never holds a secret."""

    status: PeerStatus
    peer: str
    body: Any = None
    reason: str = ""
    http_status: int | None = None
    at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is PeerStatus.OK

    @property
    def banner(self) -> str:
        """One line for the page that needed the peer."""
        what = {
            PeerStatus.REFUSED: "refused this console's call",
            PeerStatus.UNREACHABLE: "did not answer",
            PeerStatus.NOT_CONFIGURED: "is not configured here",
            PeerStatus.REJECTED: "declined the request",
            PeerStatus.OK: "answered",
        }[self.status]
        return f"The {self.peer} console {what}: {self.reason}. Nothing was changed on either side."


@dataclass(frozen=True)
class PeerVersion:
    sha: str
    env: str
    deployed_at: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.sha) and self.sha != "unknown"


def peer_env(own: ConsoleEnv, urls: Mapping[ConsoleEnv, str]) -> ConsoleEnv | None:
    """Prod's peer is staging and staging's is prod; a development console takes prod if named."""
    wanted = {ConsoleEnv.production: ConsoleEnv.staging, ConsoleEnv.staging: ConsoleEnv.production}
    if own in wanted:
        return wanted[own] if wanted[own] in urls else None
    for env in (ConsoleEnv.production, ConsoleEnv.staging):
        if env in urls:
            return env
    return None


class PeerLink:
    """One HTTP pool to the other console; thread-safe, shared by web requests and the doctor."""

    def __init__(
        self,
        *,
        env: ConsoleEnv | None,
        base_url: str | None,
        token: str | None,
        cf_headers: Mapping[str, str],
        timeout: float,
        clock: Clock,
    ) -> None:
        self.env, self.base_url, self.clock = env, base_url, clock
        self._token = token
        headers = {"Accept": "application/json", **cf_headers}
        self._http = httpx.Client(headers=headers, timeout=timeout, follow_redirects=False)
        self.last: PeerOutcome | None = None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> PeerLink:
        env = peer_env(settings.CONSOLE_ENV, settings.CONSOLE_PEER_URLS)
        cf_secret = settings.secret("CF_ACCESS_SVC_CONSOLE_CLIENT_SECRET")
        return cls(
            env=env,
            base_url=settings.CONSOLE_PEER_URLS[env] if env is not None else None,
            token=settings.secret("CONSOLE_PEER_TOKEN"),
            cf_headers=cf_access_service_headers(settings.CF_ACCESS_SVC_CONSOLE_CLIENT_ID, cf_secret),
            timeout=settings.CONSOLE_PEER_TIMEOUT_SECONDS,
            clock=clock,
        )

    @property
    def name(self) -> str:
        return self.env.value if self.env is not None else "other"

    def missing(self) -> list[str]:
        """The settings that keep the link from calling (names only)."""
        missing = [] if self.base_url else ["CONSOLE_PEER_URLS"]
        return missing + ([] if self._token else ["CONSOLE_PEER_TOKEN"])

    def close(self) -> None:
        self._http.close()

    def use_token(self, token: str) -> None:
        """Call with ``token`` from now on: the rotation that replaced the old one retired it at
        the peer, before the restart that reads the new config var (secrets/handlers.py)."""
        self._token = token

    # ------------------------------------------------------------------------------ calls

    def get(self, path: str, *, token: str | None = None) -> PeerOutcome:
        """``token`` sends this one call with another token (a rotation proving its new one)."""
        return self._call("GET", path, token=token)

    def post(self, path: str, body: Mapping[str, Any], *, token: str | None = None) -> PeerOutcome:
        return self._call("POST", path, body, token=token)

    def version(self) -> tuple[PeerOutcome, PeerVersion | None]:
        """The peer's ``/version`` document, read through the link (so the token is checked too)."""
        outcome = self.get(VERSION_PATH)
        body = outcome.body if outcome.ok and isinstance(outcome.body, dict) else {}
        sha = body.get("sha")
        if not outcome.ok or not isinstance(sha, str):
            return outcome, None
        deployed = body.get("deployed_at")
        return outcome, PeerVersion(
            sha=sha, env=str(body.get("env", "")), deployed_at=deployed if isinstance(deployed, str) else None
        )

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> PeerOutcome:
        missing = self.missing()
        if missing:
            return self._done(PeerStatus.NOT_CONFIGURED, f"{', '.join(missing)} not set", method, path)
        headers = {"Authorization": f"Bearer {token or self._token}"}
        try:
            response = self._http.request(method, f"{self.base_url}{path}", json=body, headers=headers)
        except httpx.TimeoutException:
            return self._done(PeerStatus.UNREACHABLE, "timed out", method, path)
        except httpx.HTTPError as exc:
            return self._done(PeerStatus.UNREACHABLE, f"no connection ({type(exc).__name__})", method, path)
        code = response.status_code
        if code in (401, 403) or response.is_redirect:
            why = (
                "its Cloudflare Access gate redirected to a login"
                if response.is_redirect
                else _error(response)
            )
            return self._done(PeerStatus.REFUSED, f"HTTP {code}, {why}", method, path, code)
        if code >= 500:
            return self._done(PeerStatus.UNREACHABLE, f"HTTP {code}", method, path, code)
        try:
            payload = response.json()
        except ValueError:
            return self._done(PeerStatus.UNREACHABLE, f"HTTP {code} without a JSON body", method, path, code)
        if code >= 400:
            return self._done(
                PeerStatus.REJECTED, f"HTTP {code}, {_error(response)}", method, path, code, payload
            )
        return self._done(PeerStatus.OK, f"HTTP {code}", method, path, code, payload)

    def _done(
        self,
        status: PeerStatus,
        reason: str,
        method: str,
        path: str,
        code: int | None = None,
        payload: Any = None,
    ) -> PeerOutcome:
        outcome = PeerOutcome(status, self.name, payload, reason, code, self.clock.now())
        if status not in (PeerStatus.OK, PeerStatus.REJECTED):
            log.warning("peer_link degraded op=%s %s status=%s reason=%s", method, path, status, reason)
        self.last = outcome
        return outcome


def _error(response: httpx.Response) -> str:
    """The peer's own error message (our JSON errors say what is wrong), else the status phrase."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no message"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:200] if message else response.reason_phrase or "no message"
