"""A Slack Web API sandbox: ``auth.test``, ``conversations.open`` and ``chat.postMessage``.

It speaks Slack's wire protocol closely enough for the real slack_sdk client: methods under
``/api/<method>``, form-encoded or JSON bodies, the token as ``Authorization: Bearer`` or a
``token`` parameter, HTTP 200 with ``{"ok": false, "error": ...}`` for API errors and HTTP 429
with ``Retry-After`` when rate limited. Point ``SLACK_API_URL`` at ``<server>/api/``.

Faults for tests and demos (``POST /_sandbox/faults``): ``ok``, ``down`` (503 from the edge,
an HTML body as a load balancer sends), ``error500`` (500, ``internal_error``),
``ratelimited`` (429 + ``Retry-After``) and ``slow`` (answer after ``latency_ms``, which can
also be added to any other mode). Delivered DMs are listed at ``GET /_sandbox/messages``
and on the HTML page at ``/`` for whoever watches a demo.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from raxx_console.sandbox.faults import (
    FaultedSandbox,
    FaultSwitch,
    Knob,
    add_sandbox_controls,
    down_response,
    whole_number,
)

SANDBOX_TOKEN = "xoxb-sandbox-token"  # the sandbox's published test token, not a secret
BOT_USER_ID = "U0SANDBOT"
BOT_ID = "B0SANDBOT"
TEAM_ID = "T0SANDBOX"
TEAM_NAME = "Raxx Sandbox"
FAULT_MODES = ("ok", "down", "error500", "ratelimited", "slow")
MAX_TEXT = 40_000  # Slack's limit on chat.postMessage text
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


class SlackSandbox(FaultedSandbox):
    """The sandbox app; its state lives on the instance so each server is independent."""

    def __init__(
        self,
        token: str,
        *,
        users: Iterable[str] | None = None,
        revoked_tokens: Iterable[str] = (),
        inactive_tokens: Iterable[str] = (),
    ) -> None:
        super().__init__(
            "raxx_console.sandbox.slack",
            FaultSwitch(
                FAULT_MODES,
                default_latency_ms={"slow": 3000},
                knobs={"retry_after": Knob(1, whole_number(0, 3600), "an integer from 0 to 3600 (seconds)")},
            ),
        )
        self.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
        self.token = token
        self.users = None if users is None else frozenset(users)
        self.revoked_tokens = frozenset(revoked_tokens)
        self.inactive_tokens = frozenset(inactive_tokens)
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self.reset()

    # --- state --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget channels, messages and faults; wake any request sleeping in a fault."""
        with self._lock:
            self._channels: dict[str, list[str]] = {}  # channel id -> member user ids
            self._ims: dict[str, str] = {}  # user id -> IM channel id
            self._messages: list[dict[str, Any]] = []
            self._calls: list[str] = []
        self.fault_switch.reset()

    def messages(self, user: str | None = None) -> list[dict[str, Any]]:
        """Delivered messages, oldest first (``user`` narrows to one recipient)."""
        with self._lock:
            return [dict(m) for m in self._messages if user is None or m["user"] == user]

    def calls(self) -> list[str]:
        """Web API methods requested so far (faulted ones too), for tests to count."""
        with self._lock:
            return list(self._calls)

    def _next_ts(self) -> str:
        with self._lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
        return f"{now:.6f}"

    def _im_for(self, user: str) -> tuple[str, bool]:
        with self._lock:
            if user in self._ims:
                return self._ims[user], False
            channel = f"D{next(self._ids):08d}"
            self._ims[user] = channel
            self._channels[channel] = [user]
            return channel, True

    def _known_user(self, user: str) -> bool:
        if not _USER_ID.match(user):
            return False
        return self.users is None or user in self.users


def _ok(**data: Any) -> Response:
    return jsonify({"ok": True, **data})


def _error(error: str, status: int = 200, **extra: Any) -> Response:
    response = jsonify({"ok": False, "error": error, **extra})
    response.status_code = status
    return response


def _bad_request(message: str, status: int = 400) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def create_slack_sandbox(
    token: str = SANDBOX_TOKEN,
    *,
    users: Iterable[str] | None = None,
    revoked_tokens: Iterable[str] = (),
    inactive_tokens: Iterable[str] = (),
) -> SlackSandbox:
    """The sandbox app. ``users`` is an allow-list (others get ``user_not_found``);
    ``revoked_tokens``/``inactive_tokens`` answer ``token_revoked``/``account_inactive``."""
    app = SlackSandbox(token, users=users, revoked_tokens=revoked_tokens, inactive_tokens=inactive_tokens)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if request.path.startswith("/api/"):
            return _error(
                {413: "request_too_large", 405: "method_not_allowed"}.get(exc.code or 0, "invalid_request"),
                exc.code or 400,
            )
        return _bad_request(exc.description or exc.name, exc.code or 400)

    # --- the Web API ----------------------------------------------------------------------
    def params() -> dict[str, Any] | Response:
        values: dict[str, Any] = dict(request.args.items())
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
            if body is None and request.get_data():
                return _error("invalid_json")
            if body is not None and not isinstance(body, dict):
                return _error("json_not_object")
            values.update(body or {})
        else:
            values.update(request.form.items())
        return values

    def authenticate(values: dict[str, Any]) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        token = token or values.get("token")
        if not token:
            return _error("not_authed")
        if token in app.revoked_tokens:
            return _error("token_revoked")
        if token in app.inactive_tokens:
            return _error("account_inactive")
        if token != app.token:
            return _error("invalid_auth")
        return None

    def inject_fault() -> Response | None:
        faults = app.faults()
        app.fault_switch.sleep(faults["latency_ms"])
        mode = faults["mode"]
        if mode == "down":
            return down_response()
        if mode == "error500":
            return _error("internal_error", 500)
        if mode == "ratelimited":
            response = _error("ratelimited", 429)
            response.headers["Retry-After"] = str(faults["retry_after"])
            return response
        return None

    @app.route("/api/<method>", methods=["GET", "POST"])
    def api(method: str) -> Response:
        handler = METHODS.get(method)
        if handler is None:
            return _error("unknown_method", 404, req_method=method)
        with app._lock:
            app._calls.append(method)
        fault = inject_fault()
        if fault is not None:
            return fault
        values = params()
        if isinstance(values, Response):
            return values
        refused = authenticate(values)
        if refused is not None:
            return refused
        return handler(values)

    def auth_test(values: dict[str, Any]) -> Response:
        return _ok(
            url="https://raxx-sandbox.slack.com/",
            team=TEAM_NAME,
            user="raxx-console",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def conversations_open(values: dict[str, Any]) -> Response:
        channel = values.get("channel")
        users = values.get("users")
        if channel:
            with app._lock:
                known = channel in app._channels
            return _ok(channel={"id": channel}) if known else _error("channel_not_found")
        if isinstance(users, list):
            users = ",".join(str(u) for u in users)
        wanted = [u.strip() for u in str(users or "").split(",") if u.strip()]
        if not wanted:
            return _error("users_list_not_supplied")
        if len(wanted) > 8:
            return _error("too_many_users")
        for user in wanted:
            if not app._known_user(user):
                return _error("user_not_found")
        if len(wanted) > 1:  # a group DM; the sandbox only needs it to exist
            channel = f"G{next(app._ids):08d}"
            with app._lock:
                app._channels[channel] = wanted
            return _ok(channel={"id": channel})
        channel, created = app._im_for(wanted[0])
        if created:
            return _ok(channel={"id": channel})
        return _ok(no_op=True, already_open=True, channel={"id": channel})

    def chat_post_message(values: dict[str, Any]) -> Response:
        channel = str(values.get("channel") or "").strip()
        if not channel:
            return _error("channel_not_found")
        with app._lock:
            members = app._channels.get(channel)
        if members is None and app._known_user(channel):
            channel, _ = app._im_for(channel)  # Slack lets a bot post to a user id: its DM
            with app._lock:
                members = app._channels[channel]
        if members is None:
            return _error("channel_not_found")
        text = values.get("text")
        blocks = values.get("blocks")
        if isinstance(blocks, str) and blocks.strip():
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return _error("invalid_blocks")
        if blocks is not None and not isinstance(blocks, list):
            return _error("invalid_blocks")
        if not text and not blocks and not values.get("attachments"):
            return _error("no_text")
        text = "" if text is None else str(text)
        if len(text) > MAX_TEXT:
            return _error("msg_too_long")
        thread_ts = str(values.get("thread_ts") or "").strip() or None
        if thread_ts is not None:
            with app._lock:
                parent = any(m["channel"] == channel and m["ts"] == thread_ts for m in app._messages)
            if not parent:
                return _error("thread_not_found")
        ts = app._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
            "ts": ts,
        }
        if blocks:
            message["blocks"] = blocks
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        record = {
            "channel": channel,
            "user": members[0] if len(members) == 1 else ",".join(members),
            "text": text,
            "ts": ts,
            "blocks": blocks or None,
        }
        if thread_ts is not None:
            record["thread_ts"] = thread_ts
        with app._lock:
            app._messages.append(record)
        return _ok(channel=channel, ts=ts, message=message)

    METHODS = {
        "auth.test": auth_test,
        "conversations.open": conversations_open,
        "chat.postMessage": chat_post_message,
    }

    # --- sandbox controls -------------------------------------------------------------------
    add_sandbox_controls(app, app.fault_switch, refuse=_bad_request, reset=app.reset)

    @app.get("/_sandbox/messages")
    def get_messages() -> Response:
        return jsonify(app.messages(request.args.get("user") or None))

    @app.get("/")
    def index() -> Response:
        rows = "".join(
            f'<tr><td title="ts {escape(m["ts"])}">{escape(_readable(m["ts"]))}</td>'
            f"<td>{escape(m['user'])}</td><td>{escape(m['channel'])}</td>"
            f"<td>{_thread_note(m)}<pre>{escape(m['text'])}</pre></td></tr>"
            for m in reversed(app.messages())
        )
        empty = '<tr><td colspan="4">No DMs delivered yet.</td></tr>'
        page = _PAGE.format(mode=escape(app.faults()["mode"]), rows=rows or empty, count=len(app.messages()))
        return Response(page, mimetype="text/html")

    return app


def _readable(ts: str) -> str:
    """A Slack ``ts`` (epoch seconds) as a person reads it: ``2026-12-01 14:03:07 UTC``."""
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ts


def _thread_note(message: dict[str, Any]) -> str:
    parent = message.get("thread_ts")
    return f'<p class="thread">↳ in the thread of {escape(_readable(parent))}</p>' if parent else ""


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="3">
<title>Slack sandbox — delivered DMs</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; vertical-align: top; }}
pre {{ margin: 0; white-space: pre-wrap; }}
.mode {{ font-weight: bold; }}
.thread {{ margin: 0 0 .2rem; color: #666; font-size: .85rem; }}
</style></head>
<body>
<h1>Slack sandbox</h1>
<p>Direct messages the console delivered ({count}); this page refreshes every 3 s.
Fault mode: <span class="mode">{mode}</span>.</p>
<table><thead><tr><th>sent</th><th>to user</th><th>channel</th><th>text</th></tr></thead>
<tbody>{rows}</tbody></table>
</body></html>
"""
