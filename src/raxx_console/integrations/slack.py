"""Slack: a thin, typed adapter over slack_sdk's WebClient for alert DMs.

Every call returns a :class:`SlackOutcome` and never raises for a Slack or transport
problem, so a Slack outage can never take an alert (or a FreeScout ticket) down with it.
Failures are logged once, at WARNING, on ``raxx_console.slack`` as
``slack degraded reason=<reason> …`` — never the token, never a stack trace.

Reasons: ``slack_not_configured`` (no token), ``slack_auth_error`` (invalid_auth,
not_authed, account_inactive, token_revoked), ``slack_rate_limited`` (HTTP 429, with
``retry_after`` seconds), ``slack_unavailable`` (5xx, timeout, connection failure, or Slack's
own transient errors) and ``slack_rejected`` (any other ``ok: false``, e.g.
channel_not_found, user_not_found). ``retryable`` is true for rate limiting and
unavailability only; the durable outbox owns retries, so slack_sdk's retry handlers are off
and the timeout is short.
"""

from __future__ import annotations

import functools
import http.client
import logging
import ssl
import threading
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

log = logging.getLogger("raxx_console.slack")

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_TIMEOUT_SECONDS = 5.0

NOT_CONFIGURED = "slack_not_configured"
AUTH_ERROR = "slack_auth_error"
RATE_LIMITED = "slack_rate_limited"
UNAVAILABLE = "slack_unavailable"
REJECTED = "slack_rejected"

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})
# Errors Slack documents as transient ("try again"): they are an outage, not a refusal.
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


class _DemoteToDebug(logging.Filter):
    """slack_sdk logs transport failures at ERROR; ours is the one WARNING line per failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_sdk_log = logging.getLogger("raxx_console.slack.sdk")
_sdk_log.addFilter(_DemoteToDebug())


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context per process. slack_sdk calls urllib, which opens a connection per
    call (no keep-alive to reuse) and, given no context, builds one per connection: ~15 ms of
    CPU loading the CA bundle, on every DM."""
    return ssl.create_default_context()


class _KeptOpenerWebClient(WebClient):
    """slack_sdk's WebClient with its urllib opener built once instead of on every call.

    Given an SSL context, slack_sdk calls ``urlopen(req, context=…)``, and urllib builds a new
    opener for it each time: a dozen handler objects and a scan of the environment for proxies,
    about a third of the CPU of a DM (bench/drain.py ``--profile``). This overrides the one
    private method that sends (slack_sdk 3.x's ``_perform_urllib_http_request_internal``) with
    the same steps through a kept opener; the sdk's request building, errors (urllib's
    ``HTTPError`` still propagates to it) and response parsing stay the sdk's.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.ssl))

    def _perform_urllib_http_request_internal(self, url: str, req: urllib.request.Request) -> dict[str, Any]:
        if not url.lower().startswith("http"):  # urllib would open file:// too
            raise SlackRequestError(f"Invalid URL detected: {url}")
        with self._opener.open(req, timeout=self.timeout) as resp:
            body: bytes = resp.read()
            if resp.headers.get_content_type() == "application/gzip":
                return {"status": resp.code, "headers": resp.headers, "body": body}
            charset = resp.headers.get_content_charset() or "utf-8"
            return {"status": resp.code, "headers": resp.headers, "body": body.decode(charset)}


@dataclass(frozen=True)
class SlackOutcome:
    """What a Slack call came to. ``error`` is Slack's own code (``channel_not_found`` …)."""

    ok: bool
    reason: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    error: str | None = None
    channel: str | None = None
    ts: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def success(cls, **kwargs: Any) -> SlackOutcome:
        return cls(ok=True, **kwargs)

    @classmethod
    def failure(cls, reason: str, **kwargs: Any) -> SlackOutcome:
        retryable = reason in (RATE_LIMITED, UNAVAILABLE)
        return cls(ok=False, reason=reason, retryable=retryable, **kwargs)


class SlackNotifier:
    """Sends the console's Slack DMs. Thread-safe; one per process is enough."""

    def __init__(
        self,
        token: str | None,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        recipients: Sequence[str] = (),
    ) -> None:
        self._token = (token or "").strip() or None
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.timeout = timeout
        self.recipients: tuple[str, ...] = tuple(recipients)
        self._client: WebClient | None = None
        if self._token:
            self._client = _KeptOpenerWebClient(
                token=self._token,
                base_url=self.api_url,
                timeout=timeout,
                ssl=_ssl_context(),
                retry_handlers=[],
                logger=_sdk_log,
            )
        self._dm_channels: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> SlackNotifier:
        """Built from ``SLACK_BOT_TOKEN``, ``SLACK_API_URL`` and ``SLACK_ALERT_DM_USER_IDS``."""
        return cls(
            settings.secret("SLACK_BOT_TOKEN"),
            api_url=settings.SLACK_API_URL,
            timeout=timeout,
            recipients=settings.SLACK_ALERT_DM_USER_IDS,
        )

    # --- configuration ------------------------------------------------------------------
    def missing(self) -> list[str]:
        """Env var names the alert DMs still need (names only, never values)."""
        names = []
        if not self._token:
            names.append("SLACK_BOT_TOKEN")
        if not self.recipients:
            names.append("SLACK_ALERT_DM_USER_IDS")
        return names

    def is_configured(self) -> bool:
        """True when alert DMs can go out: a token and at least one recipient."""
        return not self.missing()

    def __repr__(self) -> str:  # the token stays out of reprs, tracebacks and logs
        state = "configured" if self._token else "not configured"
        return f"<SlackNotifier {self.api_url} {state}>"

    # --- calls --------------------------------------------------------------------------
    def auth_test(self) -> SlackOutcome:
        """Who the token is (``doctor`` uses it): data has team, user_id, bot_id, url."""
        if self._client is None:
            return self._not_configured("auth.test")
        try:
            response = self._client.auth_test()
        except Exception as exc:
            return self._failed("auth.test", exc)
        keys = ("team", "team_id", "user", "user_id", "bot_id", "url")
        return SlackOutcome.success(data={k: response.get(k) for k in keys if k in response})

    def send_dm(
        self,
        user_id: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
    ) -> SlackOutcome:
        """DM one user: conversations.open (cached per user) then chat.postMessage.

        ``thread_ts`` posts the DM as a reply in the thread of an earlier DM to the same user.
        """
        if self._client is None:
            return self._not_configured("chat.postMessage", user=user_id)
        if not user_id or not user_id.strip():
            return self._log(SlackOutcome.failure(REJECTED, error="user_id_required"), "send_dm")
        for attempt in (1, 2):
            channel = self._dm_channels.get(user_id)
            if channel is None:
                opened = self._open_dm(user_id)
                if not opened.ok:
                    return opened
                channel = opened.channel
                assert channel is not None
            try:
                response = self._client.chat_postMessage(
                    channel=channel, text=text, blocks=list(blocks) if blocks else None, thread_ts=thread_ts
                )
            except Exception as exc:
                stale = (
                    isinstance(exc, SlackApiError)
                    and _error_code(exc) == "channel_not_found"
                    and channel == self._dm_channels.get(user_id)
                )
                if stale and attempt == 1:  # a cached DM channel went away: open it again
                    with self._lock:
                        self._dm_channels.pop(user_id, None)
                    continue
                return self._failed("chat.postMessage", exc, user=user_id)
            return SlackOutcome.success(
                channel=response.get("channel"), ts=response.get("ts"), data={"user": user_id}
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def broadcast(self, text: str, blocks: Sequence[dict[str, Any]] | None = None) -> dict[str, SlackOutcome]:
        """DM every ``SLACK_ALERT_DM_USER_IDS`` recipient; one outcome per user."""
        return {user: self.send_dm(user, text, blocks) for user in self.recipients}

    # --- internals ----------------------------------------------------------------------
    def _open_dm(self, user_id: str) -> SlackOutcome:
        assert self._client is not None
        try:
            response = self._client.conversations_open(users=user_id)
        except Exception as exc:
            return self._failed("conversations.open", exc, user=user_id)
        channel = (response.get("channel") or {}).get("id")
        if not channel:
            outcome = SlackOutcome.failure(REJECTED, error="no_channel_in_response")
            return self._log(outcome, "conversations.open", user=user_id)
        with self._lock:
            self._dm_channels[user_id] = channel
        return SlackOutcome.success(channel=channel)

    def _not_configured(self, method: str, user: str | None = None) -> SlackOutcome:
        outcome = SlackOutcome.failure(NOT_CONFIGURED, error="SLACK_BOT_TOKEN")
        return self._log(outcome, method, user=user)

    def _failed(self, method: str, exc: Exception, user: str | None = None) -> SlackOutcome:
        if not isinstance(exc, SlackClientError | OSError | http.client.HTTPException):
            raise exc  # a bug on our side, not a Slack problem: let it show
        return self._log(classify_error(exc), method, user=user)

    def _log(self, outcome: SlackOutcome, method: str, user: str | None = None) -> SlackOutcome:
        extra = f" retry_after={outcome.retry_after:g}" if outcome.retry_after is not None else ""
        log.warning(
            "slack degraded reason=%s method=%s error=%s user=%s%s",
            outcome.reason,
            method,
            outcome.error,
            user or "-",
            extra,
        )
        return outcome


def _error_code(exc: SlackApiError) -> str | None:
    data = exc.response.data if exc.response is not None else None
    return data.get("error") if isinstance(data, dict) else None


def classify_error(exc: Exception) -> SlackOutcome:
    """Map a slack_sdk or transport exception to an outcome (pure; no logging)."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code if exc.response is not None else 0
        error = _error_code(exc)
        if status == 429 or error == "ratelimited":
            headers = exc.response.headers if exc.response is not None else {}
            return SlackOutcome.failure(
                RATE_LIMITED, error=error or "ratelimited", retry_after=_retry_after(headers)
            )
        if status >= 500:
            return SlackOutcome.failure(UNAVAILABLE, error=f"http_{status}")
        if error in AUTH_ERRORS:
            return SlackOutcome.failure(AUTH_ERROR, error=error)
        if error in TRANSIENT_ERRORS:
            return SlackOutcome.failure(UNAVAILABLE, error=error)
        if status != 200 and not error:
            error = f"http_{status}"
        return SlackOutcome.failure(REJECTED, error=error or "unknown_error")
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return SlackOutcome.failure(UNAVAILABLE, error="timeout")
    if isinstance(exc, OSError | http.client.HTTPException):
        return SlackOutcome.failure(UNAVAILABLE, error=f"connection_error:{type(exc).__name__}")
    return SlackOutcome.failure(REJECTED, error=f"client_error:{type(exc).__name__}")


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (Slack sends an integer)."""
    lowered = {str(k).lower(): v for k, v in dict(headers or {}).items()}
    value = lowered.get("retry-after")
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None
