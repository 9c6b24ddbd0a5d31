"""The Slack sandbox speaks Slack's Web API wire protocol, over real HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from slack_sdk import WebClient

from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.slack import BOT_USER_ID, create_slack_sandbox

TOKEN = "xoxb-test-sandbox"
ALICE, BOB = "U0ALICE", "U0BOB"


@pytest.fixture(scope="module")
def sandbox():
    app = create_slack_sandbox(token=TOKEN, users={ALICE, BOB}, revoked_tokens={"xoxb-revoked"})
    with BackgroundServer(app, name="slack-sandbox") as server:
        app.base_url = server.url
        yield app


@pytest.fixture
def http(sandbox):
    sandbox.reset()
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as client:
        yield client
    sandbox.reset()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def api(http, method, data=None, *, json_body=None, headers=AUTH, params=None):
    if json_body is not None:
        return http.post(f"/api/{method}", json=json_body, headers=headers, params=params)
    return http.post(f"/api/{method}", data=data or {}, headers=headers, params=params)


# --- auth ---------------------------------------------------------------------------------


def test_auth_test_with_bearer(http):
    response = api(http, "auth.test")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["user_id"] == BOT_USER_ID
    assert {"url", "team", "user", "team_id", "bot_id"} <= set(body)


def test_token_as_form_or_query_parameter(http):
    assert api(http, "auth.test", {"token": TOKEN}, headers={}).json()["ok"] is True
    assert http.get("/api/auth.test", params={"token": TOKEN}).json()["ok"] is True


@pytest.mark.parametrize(
    ("headers", "data", "error"),
    [
        ({}, {}, "not_authed"),
        ({"Authorization": "Bearer xoxb-wrong"}, {}, "invalid_auth"),
        ({}, {"token": "xoxb-wrong"}, "invalid_auth"),
        ({"Authorization": "Bearer xoxb-revoked"}, {}, "token_revoked"),
    ],
)
def test_auth_errors_are_ok_false_with_http_200(http, headers, data, error):
    response = api(http, "auth.test", data, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": error}


def test_inactive_token():
    app = create_slack_sandbox(token=TOKEN, inactive_tokens={"xoxb-gone"})
    response = app.test_client().post("/api/auth.test", headers={"Authorization": "Bearer xoxb-gone"})
    assert response.get_json() == {"ok": False, "error": "account_inactive"}


def test_unknown_method_is_404(http):
    response = api(http, "users.list")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_method"


# --- conversations.open --------------------------------------------------------------------


def test_conversations_open_creates_then_reuses_the_dm(http):
    first = api(http, "conversations.open", {"users": ALICE}).json()
    again = api(http, "conversations.open", {"users": ALICE}).json()

    assert first["ok"] and first["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == first["channel"]["id"]
    assert again["already_open"] is True
    other = api(http, "conversations.open", json_body={"users": BOB}).json()
    assert other["channel"]["id"] != first["channel"]["id"]


def test_conversations_open_by_channel(http):
    channel = api(http, "conversations.open", {"users": ALICE}).json()["channel"]["id"]
    assert api(http, "conversations.open", {"channel": channel}).json()["channel"]["id"] == channel
    missing = api(http, "conversations.open", {"channel": "D999"}).json()
    assert missing == {"ok": False, "error": "channel_not_found"}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "users_list_not_supplied"),
        ({"users": "U0NOBODY"}, "user_not_found"),
        ({"users": "not-a-user-id"}, "user_not_found"),
        ({"users": ",".join(f"U0{i:04d}" for i in range(9))}, "too_many_users"),
    ],
)
def test_conversations_open_errors(http, data, error):
    assert api(http, "conversations.open", data).json() == {"ok": False, "error": error}


def test_group_dm(http):
    body = api(http, "conversations.open", {"users": f"{ALICE},{BOB}"}).json()
    assert body["ok"] and body["channel"]["id"].startswith("G")


def test_without_allow_list_any_user_id_is_known():
    app = create_slack_sandbox(token=TOKEN)
    body = (
        app.test_client().post("/api/conversations.open", data={"users": "U0ANYONE"}, headers=AUTH).get_json()
    )
    assert body["ok"] is True


# --- chat.postMessage ----------------------------------------------------------------------


def test_post_message_form_encoded(http, sandbox):
    channel = api(http, "conversations.open", {"users": ALICE}).json()["channel"]["id"]

    body = api(http, "chat.postMessage", {"channel": channel, "text": "hello"}).json()

    assert body["ok"] is True and body["channel"] == channel
    assert body["message"]["text"] == "hello" and body["message"]["ts"] == body["ts"]
    assert body["message"]["bot_id"] and body["message"]["user"] == BOT_USER_ID
    assert sandbox.messages() == [
        {"channel": channel, "user": ALICE, "text": "hello", "ts": body["ts"], "blocks": None}
    ]


def test_post_message_json_with_blocks(http, sandbox):
    channel = api(http, "conversations.open", {"users": ALICE}).json()["channel"]["id"]
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "hi"}}]

    body = api(
        http, "chat.postMessage", json_body={"channel": channel, "text": "hi", "blocks": blocks}
    ).json()

    assert body["ok"] and body["message"]["blocks"] == blocks
    assert sandbox.messages()[0]["blocks"] == blocks


def test_post_message_blocks_as_a_json_string_in_a_form(http, sandbox):
    channel = api(http, "conversations.open", {"users": ALICE}).json()["channel"]["id"]
    blocks = [{"type": "divider"}]
    body = api(http, "chat.postMessage", {"channel": channel, "blocks": json.dumps(blocks)}).json()
    assert body["ok"] and sandbox.messages()[0]["blocks"] == blocks


def test_post_message_to_a_user_id_lands_in_their_dm(http, sandbox):
    body = api(http, "chat.postMessage", {"channel": BOB, "text": "direct"}).json()
    assert body["ok"] and body["channel"].startswith("D")
    assert sandbox.messages(BOB)[0]["text"] == "direct"


def test_timestamps_are_unique_and_increasing(http):
    channel = api(http, "conversations.open", {"users": ALICE}).json()["channel"]["id"]
    stamps = [
        api(http, "chat.postMessage", {"channel": channel, "text": str(i)}).json()["ts"] for i in range(5)
    ]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"text": "x"}, "channel_not_found"),
        ({"channel": "D404", "text": "x"}, "channel_not_found"),
        ({"channel": "U0NOBODY", "text": "x"}, "channel_not_found"),
        ({"channel": ALICE}, "no_text"),
        ({"channel": ALICE, "blocks": "[not json"}, "invalid_blocks"),
        ({"channel": ALICE, "blocks": '{"type": "divider"}'}, "invalid_blocks"),
        ({"channel": ALICE, "text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_post_message_errors(http, sandbox, data, error):
    assert api(http, "chat.postMessage", data).json() == {"ok": False, "error": error}
    assert sandbox.messages() == []


def test_malformed_json_bodies(http):
    headers = {**AUTH, "Content-Type": "application/json"}
    bad = http.post("/api/chat.postMessage", content=b"{nope", headers=headers)
    assert bad.json() == {"ok": False, "error": "invalid_json"}
    array = http.post("/api/chat.postMessage", content=b"[1, 2]", headers=headers)
    assert array.json() == {"ok": False, "error": "json_not_object"}


def test_oversized_body_is_413_json(http, sandbox):
    response = api(http, "chat.postMessage", {"channel": ALICE, "text": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert response.json()["ok"] is False
    assert sandbox.messages() == []


def test_real_slack_sdk_client_round_trip(sandbox, http):
    client = WebClient(token=TOKEN, base_url=f"{sandbox.base_url}/api/", retry_handlers=[])
    assert client.auth_test()["user_id"] == BOT_USER_ID
    channel = client.conversations_open(users=ALICE)["channel"]["id"]
    posted = client.chat_postMessage(channel=channel, text="from slack_sdk")
    assert posted["ok"] and posted["channel"] == channel
    assert sandbox.messages(ALICE)[0]["text"] == "from slack_sdk"


# --- faults --------------------------------------------------------------------------------


def test_faults_default_and_set(http):
    assert http.get("/_sandbox/faults").json() == {"mode": "ok", "latency_ms": 0, "retry_after": 1}
    response = http.post("/_sandbox/faults", json={"mode": "down"})
    assert response.status_code == 200 and response.json()["mode"] == "down"
    assert http.get("/_sandbox/faults").json()["mode"] == "down"


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "exploded"},
        {"mode": "slow", "latency_ms": -1},
        {"mode": "slow", "latency_ms": "500"},
        {"mode": "slow", "latency_ms": True},
        {"mode": "slow", "latency_ms": 10_000_000},
        {"mode": "ratelimited", "retry_after": "soon"},
        {"mode": "ok", "colour": "red"},
        [1, 2],
        "down",
    ],
)
def test_bad_fault_requests_are_400_json(http, body):
    response = http.post("/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]
    assert http.get("/_sandbox/faults").json()["mode"] == "ok"


def test_fault_request_that_is_not_json_is_400(http):
    response = http.post("/_sandbox/faults", content=b"mode=down")
    assert response.status_code == 400 and "error" in response.json()


def test_down_is_503(http):
    http.post("/_sandbox/faults", json={"mode": "down"})
    response = api(http, "auth.test")
    assert response.status_code == 503


def test_error500(http):
    http.post("/_sandbox/faults", json={"mode": "error500"})
    response = api(http, "auth.test")
    assert response.status_code == 500
    assert response.json() == {"ok": False, "error": "internal_error"}


def test_ratelimited_is_429_with_retry_after(http):
    http.post("/_sandbox/faults", json={"mode": "ratelimited", "retry_after": 12})
    response = api(http, "chat.postMessage", {"channel": ALICE, "text": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "12"
    assert response.json() == {"ok": False, "error": "ratelimited"}


def test_slow_answers_after_the_latency(http):
    http.post("/_sandbox/faults", json={"mode": "slow", "latency_ms": 300})
    started = time.monotonic()
    response = api(http, "auth.test")
    assert response.json()["ok"] is True
    assert time.monotonic() - started >= 0.25


def test_reset_clears_faults_messages_and_channels(http, sandbox):
    api(http, "chat.postMessage", {"channel": ALICE, "text": "x"})
    http.post("/_sandbox/faults", json={"mode": "down"})

    assert http.post("/_sandbox/reset").status_code == 200

    assert http.get("/_sandbox/faults").json()["mode"] == "ok"
    assert http.get("/_sandbox/messages").json() == []
    assert sandbox.calls() == []


def test_reset_wakes_a_request_sleeping_in_a_fault(sandbox):
    import threading

    sandbox.reset()
    sandbox.set_faults("slow", latency_ms=60_000)
    answered = []

    def call():
        with httpx.Client(base_url=sandbox.base_url, timeout=30) as client:
            answered.append(client.post("/api/auth.test", headers=AUTH).json())

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.3)
    sandbox.reset()
    thread.join(timeout=10)
    assert answered and answered[0]["ok"] is True


# --- what a watcher sees -------------------------------------------------------------------


def test_messages_endpoint_filters_by_user(http):
    api(http, "chat.postMessage", {"channel": ALICE, "text": "for alice"})
    api(http, "chat.postMessage", {"channel": BOB, "text": "for bob"})

    everything = http.get("/_sandbox/messages").json()
    assert [m["text"] for m in everything] == ["for alice", "for bob"]
    assert {"channel", "user", "text", "ts"} <= set(everything[0])
    assert [m["text"] for m in http.get("/_sandbox/messages", params={"user": BOB}).json()] == ["for bob"]


def test_html_page_lists_dms_escaped_and_refreshes(http):
    api(http, "chat.postMessage", {"channel": ALICE, "text": "<script>alert(1)</script> down"})

    response = http.get("/")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'http-equiv="refresh"' in page
    assert ALICE in page and "&lt;script&gt;alert(1)&lt;/script&gt; down" in page
    assert "<script>alert(1)" not in page


def test_html_page_when_empty(http):
    assert "No DMs delivered yet" in http.get("/").text
