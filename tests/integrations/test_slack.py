"""The Slack adapter over real HTTP: slack_sdk's WebClient against the Slack sandbox."""

from __future__ import annotations

import logging
import socket

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from raxx_console.config import load_settings
from raxx_console.integrations.slack import (
    AUTH_ERROR,
    NOT_CONFIGURED,
    RATE_LIMITED,
    REJECTED,
    UNAVAILABLE,
    SlackNotifier,
    classify_error,
)
from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.slack import create_slack_sandbox

TOKEN = "xoxb-SENTINEL-7f3a9c1e-do-not-log"
REVOKED = "xoxb-SENTINEL-revoked-4b2d"
INACTIVE = "xoxb-SENTINEL-inactive-9e1f"
ALICE, BOB, STRANGER = "U0ALICE", "U0BOB", "U0STRANGER"
SENTINELS = (TOKEN, REVOKED, INACTIVE, "SENTINEL")


@pytest.fixture(scope="module")
def sandbox():
    app = create_slack_sandbox(
        token=TOKEN, users={ALICE, BOB}, revoked_tokens={REVOKED}, inactive_tokens={INACTIVE}
    )
    with BackgroundServer(app, name="slack-sandbox") as server:
        app.api_url = f"{server.url}/api/"
        yield app


@pytest.fixture(autouse=True)
def clean(sandbox):
    sandbox.reset()
    yield
    sandbox.reset()


@pytest.fixture
def notifier(sandbox):
    return SlackNotifier(TOKEN, api_url=sandbox.api_url, timeout=2.0, recipients=[ALICE, BOB])


@pytest.fixture
def slack_log(caplog):
    """Everything logged anywhere, down to DEBUG, so a leaked token would be seen."""
    caplog.set_level(logging.DEBUG)
    return caplog


def warnings_from_adapter(caplog):
    return [r for r in caplog.records if r.name == "raxx_console.slack" and r.levelno >= logging.WARNING]


def assert_one_degraded_line(caplog, reason):
    lines = warnings_from_adapter(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    record = lines[0]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"slack degraded reason={reason} ")
    assert record.exc_info is None and record.stack_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_no_secret(caplog)


def assert_no_secret(caplog):
    for sentinel in SENTINELS:
        assert sentinel not in caplog.text
        for record in caplog.records:
            assert sentinel not in record.getMessage()


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


# --- success -------------------------------------------------------------------------------


def test_send_dm_opens_the_dm_and_posts(notifier, sandbox, slack_log):
    outcome = notifier.send_dm(ALICE, "api-prod is down (P1)")

    assert outcome.ok and outcome.reason is None and not outcome.retryable
    assert outcome.channel.startswith("D") and outcome.ts
    [message] = sandbox.messages()
    assert message == {
        "channel": outcome.channel,
        "user": ALICE,
        "text": "api-prod is down (P1)",
        "ts": outcome.ts,
        "blocks": None,
    }
    assert sandbox.calls() == ["conversations.open", "chat.postMessage"]
    assert not warnings_from_adapter(slack_log)
    assert_no_secret(slack_log)


def test_the_dm_channel_is_cached_per_user(notifier, sandbox):
    first = notifier.send_dm(ALICE, "one")
    second = notifier.send_dm(ALICE, "two")
    notifier.send_dm(BOB, "three")

    assert first.channel == second.channel
    assert sandbox.calls().count("conversations.open") == 2  # Alice once, Bob once
    assert [m["text"] for m in sandbox.messages(ALICE)] == ["one", "two"]


def test_a_stale_cached_channel_is_reopened_once(notifier, sandbox, slack_log):
    notifier.send_dm(ALICE, "before")
    sandbox.reset()  # Slack forgot the DM channel the notifier cached

    outcome = notifier.send_dm(ALICE, "after")

    assert outcome.ok
    assert sandbox.calls() == ["chat.postMessage", "conversations.open", "chat.postMessage"]
    assert [m["text"] for m in sandbox.messages()] == ["after"]
    assert not warnings_from_adapter(slack_log)


def test_blocks_are_delivered(notifier, sandbox):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*api-prod* is down"}}]
    outcome = notifier.send_dm(ALICE, "api-prod is down", blocks=blocks)

    assert outcome.ok
    assert sandbox.messages()[0]["blocks"] == blocks


def test_auth_test_says_who_the_token_is(notifier):
    outcome = notifier.auth_test()

    assert outcome.ok
    assert outcome.data["user_id"] == "U0SANDBOT"
    assert outcome.data["team_id"] and outcome.data["bot_id"]


def test_from_settings_and_broadcast(sandbox):
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": sandbox.api_url.rstrip("/"),
            "SLACK_ALERT_DM_USER_IDS": f"{ALICE}, {BOB}",
        }
    )
    notifier = SlackNotifier.from_settings(settings)

    assert notifier.is_configured() and notifier.missing() == []
    assert notifier.recipients == (ALICE, BOB)
    outcomes = notifier.broadcast("console-prod is degraded (P2)")
    assert set(outcomes) == {ALICE, BOB} and all(o.ok for o in outcomes.values())
    assert sorted(m["user"] for m in sandbox.messages()) == [ALICE, BOB]


def test_repr_never_shows_the_token(notifier):
    assert TOKEN not in repr(notifier)
    assert "configured" in repr(notifier)


# --- not configured ------------------------------------------------------------------------


def test_not_configured_makes_no_call_and_says_what_is_missing(sandbox, slack_log):
    notifier = SlackNotifier(None, api_url=sandbox.api_url)

    assert not notifier.is_configured()
    assert notifier.missing() == ["SLACK_BOT_TOKEN", "SLACK_ALERT_DM_USER_IDS"]
    outcome = notifier.send_dm(ALICE, "hello")
    assert (outcome.ok, outcome.reason, outcome.retryable) == (False, NOT_CONFIGURED, False)
    assert sandbox.calls() == []
    assert_one_degraded_line(slack_log, NOT_CONFIGURED)


def test_token_without_recipients_is_not_configured_for_alerts(sandbox):
    notifier = SlackNotifier(TOKEN, api_url=sandbox.api_url)
    assert notifier.missing() == ["SLACK_ALERT_DM_USER_IDS"]
    assert notifier.broadcast("nobody hears this") == {}
    assert notifier.auth_test().ok  # the token itself works


def test_blank_token_from_settings_is_not_configured():
    settings = load_settings({"SLACK_BOT_TOKEN": "  ", "SLACK_ALERT_DM_USER_IDS": ALICE})
    notifier = SlackNotifier.from_settings(settings)
    assert notifier.missing() == ["SLACK_BOT_TOKEN"]
    assert notifier.auth_test().reason == NOT_CONFIGURED


# --- auth errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("xoxb-SENTINEL-wrong", "invalid_auth"),
        (REVOKED, "token_revoked"),
        (INACTIVE, "account_inactive"),
    ],
)
def test_auth_errors(sandbox, slack_log, token, error):
    notifier = SlackNotifier(token, api_url=sandbox.api_url, recipients=[ALICE])

    outcome = notifier.send_dm(ALICE, "hello")

    assert (outcome.ok, outcome.reason, outcome.error) == (False, AUTH_ERROR, error)
    assert not outcome.retryable
    assert sandbox.messages() == []
    assert_one_degraded_line(slack_log, AUTH_ERROR)


def test_not_authed_is_an_auth_error(sandbox):
    client = WebClient(token=None, base_url=sandbox.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as raised:
        client.auth_test()

    outcome = classify_error(raised.value)
    assert (outcome.reason, outcome.error, outcome.retryable) == (AUTH_ERROR, "not_authed", False)


def test_auth_test_with_a_bad_token(sandbox, slack_log):
    outcome = SlackNotifier("xoxb-SENTINEL-nope", api_url=sandbox.api_url).auth_test()
    assert (outcome.reason, outcome.error) == (AUTH_ERROR, "invalid_auth")
    assert_one_degraded_line(slack_log, AUTH_ERROR)


# --- rate limits and outages ---------------------------------------------------------------


def test_rate_limited_carries_retry_after(notifier, sandbox, slack_log):
    sandbox.set_faults("ratelimited", retry_after=7)

    outcome = notifier.send_dm(ALICE, "hello")

    assert (outcome.reason, outcome.retryable, outcome.retry_after) == (RATE_LIMITED, True, 7.0)
    assert sandbox.calls() == ["conversations.open"]  # no retry of our own: the outbox retries
    assert_one_degraded_line(slack_log, RATE_LIMITED)
    assert "retry_after=7" in warnings_from_adapter(slack_log)[0].getMessage()


def test_rate_limited_on_post_after_the_dm_is_open(notifier, sandbox):
    assert notifier.send_dm(ALICE, "first").ok
    sandbox.set_faults("ratelimited", retry_after=2)
    outcome = notifier.send_dm(ALICE, "second")
    assert (outcome.reason, outcome.retry_after) == (RATE_LIMITED, 2.0)


@pytest.mark.parametrize(("mode", "error"), [("down", "http_503"), ("error500", "http_500")])
def test_5xx_is_unavailable_and_retryable(notifier, sandbox, slack_log, mode, error):
    sandbox.set_faults(mode)

    outcome = notifier.send_dm(ALICE, "hello")

    assert (outcome.reason, outcome.error, outcome.retryable) == (UNAVAILABLE, error, True)
    assert_one_degraded_line(slack_log, UNAVAILABLE)


def test_timeout_is_unavailable(sandbox, slack_log):
    notifier = SlackNotifier(TOKEN, api_url=sandbox.api_url, timeout=0.3)
    sandbox.set_faults("slow", latency_ms=5000)

    outcome = notifier.send_dm(ALICE, "hello")

    assert (outcome.reason, outcome.error, outcome.retryable) == (UNAVAILABLE, "timeout", True)
    assert_one_degraded_line(slack_log, UNAVAILABLE)


def test_connection_refused_is_unavailable(slack_log):
    notifier = SlackNotifier(TOKEN, api_url=closed_port_url(), timeout=1.0)

    outcome = notifier.send_dm(ALICE, "hello")

    assert outcome.reason == UNAVAILABLE and outcome.retryable
    assert outcome.error.startswith("connection_error:")
    assert_one_degraded_line(slack_log, UNAVAILABLE)


def test_recovers_when_slack_returns(notifier, sandbox):
    sandbox.set_faults("down")
    assert notifier.send_dm(ALICE, "lost").reason == UNAVAILABLE
    sandbox.set_faults("ok")
    assert notifier.send_dm(ALICE, "delivered").ok
    assert [m["text"] for m in sandbox.messages()] == ["delivered"]


# --- rejected ------------------------------------------------------------------------------


def test_unknown_user_is_rejected(notifier, sandbox, slack_log):
    outcome = notifier.send_dm(STRANGER, "hello")

    assert (outcome.reason, outcome.error, outcome.retryable) == (REJECTED, "user_not_found", False)
    assert_one_degraded_line(slack_log, REJECTED)
    assert f"user={STRANGER}" in warnings_from_adapter(slack_log)[0].getMessage()


def test_empty_user_is_rejected_without_a_call(notifier, sandbox):
    outcome = notifier.send_dm(" ", "hello")
    assert outcome.reason == REJECTED and sandbox.calls() == []


def test_channel_not_found_is_rejected(sandbox):
    client = WebClient(token=TOKEN, base_url=sandbox.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="D404404", text="hello")

    outcome = classify_error(raised.value)
    assert (outcome.reason, outcome.error, outcome.retryable) == (
        REJECTED,
        "channel_not_found",
        False,
    )


@pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable"])
def test_slack_transient_errors_count_as_unavailable(error):
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://sandbox/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=200,
    )
    outcome = classify_error(SlackApiError("failed", response))
    assert (outcome.reason, outcome.retryable) == (UNAVAILABLE, True)


def test_no_secret_in_any_log_across_every_failure(sandbox, slack_log):
    """One pass through every reason with the sentinel token; nothing may leak."""
    good = SlackNotifier(TOKEN, api_url=sandbox.api_url, timeout=0.3, recipients=[ALICE])
    good.send_dm(STRANGER, "x")
    for mode in ("down", "error500", "ratelimited"):
        sandbox.set_faults(mode)
        good.send_dm(ALICE, "x")
    sandbox.set_faults("slow", latency_ms=2000)
    good.send_dm(ALICE, "x")
    sandbox.reset()
    SlackNotifier(REVOKED, api_url=sandbox.api_url).send_dm(ALICE, "x")
    SlackNotifier(TOKEN, api_url=closed_port_url(), timeout=0.5).send_dm(ALICE, "x")

    assert len(warnings_from_adapter(slack_log)) == 7
    assert_no_secret(slack_log)
