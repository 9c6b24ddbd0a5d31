"""freescout_client against the FreeScout sandbox over real HTTP (nothing of ours is mocked)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from flask import Flask, Response, redirect

from raxx_console.config import load_settings
from raxx_console.integrations._cf_access import cf_access_tickets_headers
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.integrations.freescout_outcomes import ALL_STATUSES, Conversation, Outcome, Reason
from raxx_console.integrations.freescout_wire import (
    conversation_id_from_url,
    format_datetime,
    parse_conversation,
    parse_datetime,
)
from raxx_console.sandbox.freescout import create_freescout_sandbox
from raxx_console.sandbox.server import BackgroundServer

API_KEY = "sentinel-api-key-5b1e0c"
CF_ID = "sentinel-cf-id-77aa.access"
CF_SECRET = "sentinel-cf-secret-d41f93"
SECRETS = (API_KEY, CF_ID, CF_SECRET)
LOGGER = "raxx_console.freescout_client"
BOT_EMAIL = "ops-console@raxx.app"
OPS = 2


class Sandbox:
    """A running sandbox plus the few controls the tests use."""

    def __init__(self, server: BackgroundServer, app: Flask) -> None:
        self.server = server
        self.url = server.url
        self.state = app.extensions["freescout_sandbox"]
        self.http = httpx.Client(base_url=server.url)

    def faults(self, **payload: object) -> None:
        response = self.http.post("/_sandbox/faults", json=payload)
        assert response.status_code == 200, response.text

    def requests(self, path_prefix: str = "/api/") -> list[dict]:
        entries = self.http.get("/_sandbox/requests").json()["requests"]
        return [e for e in entries if e["path"].startswith(path_prefix)]

    def clear_requests(self) -> None:
        self.http.delete("/_sandbox/requests")

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()


def _serve(app: Flask) -> Iterator[Sandbox]:
    with BackgroundServer(app, name="freescout-test") as server:
        sandbox = Sandbox(server, app)
        yield sandbox
        sandbox.http.close()


@pytest.fixture(scope="module")
def gated_sandbox() -> Iterator[Sandbox]:
    yield from _serve(
        create_freescout_sandbox(api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET)
    )


@pytest.fixture
def fs(gated_sandbox: Sandbox) -> Iterator[Sandbox]:
    gated_sandbox.reset()
    yield gated_sandbox
    gated_sandbox.reset()  # also wakes any answer still sleeping in a fault mode


@pytest.fixture(scope="module")
def sandbox_302() -> Iterator[Sandbox]:
    yield from _serve(
        create_freescout_sandbox(
            api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET, cf_mode="302"
        )
    )


@pytest.fixture(scope="module")
def sandbox_without_module() -> Iterator[Sandbox]:
    yield from _serve(create_freescout_sandbox(api_key=API_KEY, api_module=False))


class Sleeps:
    """The injectable backoff sleep: records delays, optionally runs a hook, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.hook = None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.hook is not None:
            self.hook()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(fs: Sandbox, sleeps: Sleeps) -> Iterator:
    clients: list[FreeScoutClient] = []

    def build(url: str | None = None, **overrides: object) -> FreeScoutClient:
        values: dict[str, object] = {
            "api_url": url or fs.url,
            "instance_url": url or fs.url,
            "api_key": API_KEY,
            "cf_client_id": CF_ID,
            "cf_client_secret": CF_SECRET,
            "bot_user_id": 1,
            "timeout": 2.0,
        }
        values.update(overrides)
        client = FreeScoutClient(FreeScoutConfig(**values), sleep=sleeps)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> FreeScoutClient:
    return make_client()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _ours(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= level]


def _create(client: FreeScoutClient, subject: str = "[ref-0001] api degraded", **kw: object):
    args = {
        "mailbox_id": OPS,
        "subject": subject,
        "customer_email": BOT_EMAIL,
        "body_html": "<p>Surface <b>api</b> is degraded.</p>",
    }
    args.update(kw)
    return client.create_conversation(**args)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- config


def test_missing_names_every_prerequisite_and_never_a_value() -> None:
    assert FreeScoutConfig().missing() == [
        "FREESCOUT_API_URL",
        "FREESCOUT_INSTANCE_URL",
        "FREESCOUT_API_KEY",
        "CF_ACCESS_SVC_TICKETS_CLIENT_ID",
        "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
        "FREESCOUT_BOT_USER_ID",
    ]
    assert FreeScoutConfig(cf_access_required=False).missing_for_api() == [
        "FREESCOUT_API_URL",
        "FREESCOUT_API_KEY",
    ]
    full = FreeScoutConfig(
        api_url="https://t.example",
        instance_url="https://t.example",
        api_key=API_KEY,
        cf_client_id=CF_ID,
        cf_client_secret=CF_SECRET,
        bot_user_id=1,
    )
    assert full.missing() == []
    assert "  " not in FreeScoutConfig(api_url="https://x", api_key="  ").missing_for_api()[0]
    assert FreeScoutConfig(api_url="https://x", api_key="  ").missing_for_api()[0] == ("FREESCOUT_API_KEY")
    assert not any(secret in repr(full) for secret in SECRETS)


def test_from_settings_reads_the_runbook_variables() -> None:
    settings = load_settings(
        {
            "FREESCOUT_API_URL": "https://tickets.example/",
            "FREESCOUT_INSTANCE_URL": "https://tickets.example",
            "FREESCOUT_API_KEY": API_KEY,
            "CF_ACCESS_SVC_TICKETS_CLIENT_ID": CF_ID,
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": CF_SECRET,
            "FREESCOUT_BOT_USER_ID": 7,
            "FREESCOUT_TIMEOUT_SECONDS": 3,
        }
    )
    config = FreeScoutConfig.from_settings(settings)
    assert config.api_url == "https://tickets.example"
    assert config.api_key == API_KEY and config.cf_client_secret == CF_SECRET
    assert config.bot_user_id == 7 and config.timeout == 3
    assert config.user_agent.startswith("raxx-console/")
    assert config.missing() == []


def test_cf_access_headers_from_config_or_settings_and_empty_when_unset() -> None:
    expected = {"CF-Access-Client-Id": CF_ID, "CF-Access-Client-Secret": CF_SECRET}
    config = FreeScoutConfig(cf_client_id=CF_ID, cf_client_secret=CF_SECRET)
    assert cf_access_tickets_headers(config) == expected
    settings = load_settings(
        {"CF_ACCESS_SVC_TICKETS_CLIENT_ID": CF_ID, "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": CF_SECRET}
    )
    assert cf_access_tickets_headers(settings) == expected
    assert cf_access_tickets_headers(FreeScoutConfig()) == {}
    assert cf_access_tickets_headers(FreeScoutConfig(cf_client_id=CF_ID)) == {}


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-03-15T22:46:22Z", datetime(2020, 3, 15, 22, 46, 22, tzinfo=UTC)),
        ("2020-08-09T10-09-00Z", datetime(2020, 8, 9, 10, 9, 0, tzinfo=UTC)),
        ("2020-08-09 10:09:00", datetime(2020, 8, 9, 10, 9, 0, tzinfo=UTC)),
        ("2020-08-09T12:09:00+02:00", datetime(2020, 8, 9, 10, 9, 0, tzinfo=UTC)),
        ("2020-08-09T10:09:00.123456Z", datetime(2020, 8, 9, 10, 9, 0, 123456, tzinfo=UTC)),
        ("2020-08-09", datetime(2020, 8, 9, tzinfo=UTC)),
        ("yesterday", None),
        ("2020-13-40T10:09:00Z", None),
        (None, None),
        (1596967740, None),
    ],
)
def test_dates_are_parsed_leniently(raw: object, expected: datetime | None) -> None:
    assert parse_datetime(raw) == expected


def test_format_datetime_is_utc_with_z() -> None:
    aware = datetime(2026, 1, 2, 5, 4, 3, 999, tzinfo=UTC) + timedelta(hours=0)
    assert format_datetime(aware) == "2026-01-02T05:04:03Z"
    assert format_datetime(datetime(2026, 1, 2, 5, 4, 3)) == "2026-01-02T05:04:03Z"


def test_parse_conversation_reads_either_thread_count_and_lenient_fields() -> None:
    listed = parse_conversation(
        {
            "id": "5",
            "number": 9,
            "threads": 3,
            "status": 3,
            "subject": "s",
            "mailboxId": 2,
            "createdBy": {"type": "customer", "email": "c@example.org"},
            "_embedded": {"tags": [{"id": 1, "name": "auto:alert"}, "bare"]},
        }
    )
    assert listed is not None
    assert (listed.id, listed.number, listed.threads_count, listed.status) == (5, 9, 3, "closed")
    assert listed.customer_email == "c@example.org"
    assert listed.tags == ("auto:alert", "bare") and listed.tags_embedded
    assert not listed.is_open
    one = parse_conversation({"id": 6, "threadsCount": 2, "status": "pending"})
    assert one is not None and one.threads_count == 2 and one.is_open and not one.tags_embedded
    assert parse_conversation({"number": 1}) is None
    assert parse_conversation("nope") is None


@pytest.mark.parametrize(
    ("status", "is_open"), [("active", True), ("pending", True), ("closed", False), ("spam", False)]
)
def test_only_active_and_pending_are_open(status: str, is_open: bool) -> None:
    conversation = Conversation(1, 1, "s", status, 2, None, None, None)
    assert conversation.is_open is is_open


def test_conversation_id_from_either_url_form() -> None:
    assert conversation_id_from_url("https://t.example/conversation/26") == 26
    assert conversation_id_from_url("https://t.example/conversations/26?folder_id=3#t-1") == 26
    assert conversation_id_from_url("https://t.example/mailbox/2") is None


# --------------------------------------------------------------------------- happy paths


def test_create_conversation_with_tags(client: FreeScoutClient, fs: Sandbox) -> None:
    outcome = _create(client, tags=["auto:status", "auto:status:api", "auto:status"])
    assert outcome.ok and outcome.value is not None
    created = outcome.value
    assert created.tags_applied and created.tags == ("auto:status", "auto:status:api")
    assert created.conversation is not None and created.conversation.id == created.id
    assert created.conversation.number != created.id  # the sandbox keeps them apart

    fetched = client.get_conversation(created.id, embed=("threads", "tags")).unwrap()
    assert fetched.tags == ("auto:status", "auto:status:api")
    assert fetched.status == "active" and fetched.is_open and fetched.mailbox_id == OPS
    assert fetched.customer_email == BOT_EMAIL
    assert [t.type for t in fetched.threads] == ["customer"]
    stored = fs.state.conversations[created.id]
    assert stored.imported is True  # no auto-reply to our own bot customer

    calls = [(e["method"], e["path"]) for e in fs.requests()]
    assert calls[:3] == [
        ("POST", "/api/conversations"),
        ("PUT", f"/api/conversations/{created.id}/tags"),  # a new conversation has no tags to merge
        ("GET", f"/api/conversations/{created.id}"),  # the fetch above
    ]


def test_create_without_tags_makes_one_call(client: FreeScoutClient, fs: Sandbox) -> None:
    created = _create(client, customer_first_name="Console", imported=False).unwrap()
    assert created.tags_applied and created.tags == ()
    assert [e["method"] for e in fs.requests()] == ["POST"]
    assert fs.state.conversations[created.id].imported is False


def test_every_call_carries_key_access_token_user_agent_and_accept(
    client: FreeScoutClient, fs: Sandbox
) -> None:
    created = _create(client, tags=["auto:alert"]).unwrap()
    client.get_conversation(created.id)
    client.list_conversations(mailbox_id=OPS, tag="auto:alert")
    client.update_conversation(created.id, status="pending")
    client.add_note(created.id, "<p>still degraded</p>")
    client.apply_tags(created.id, ["auto:alert:poller"])
    client.list_mailboxes()
    client.find_mailbox(OPS)
    client.find_by_reference(OPS, "ref-0001", datetime.now(UTC) - timedelta(minutes=5))
    client.get_conversation(99999)

    entries = fs.requests()
    assert len(entries) >= 11
    for entry in entries:
        assert entry["auth_headers"] == [
            "X-FreeScout-API-Key",
            "CF-Access-Client-Id",
            "CF-Access-Client-Secret",
        ], entry
        assert entry["user_agent"].startswith("raxx-console/")
        assert entry["accept"] == "application/json"
        assert "api_key" not in entry["query"]  # the documented header, never the query
    lists = [e for e in entries if e["method"] == "GET" and e["path"] == "/api/conversations"]
    assert lists and all("status" in e["query"] for e in lists)


def test_ticket_url_points_at_the_instance_and_opens_in_the_sandbox(
    client: FreeScoutClient, make_client, fs: Sandbox
) -> None:
    created = _create(client).unwrap()
    url = client.ticket_url(created.id)
    assert url == f"{client.config.instance_url}/conversation/{created.id}"
    page = fs.http.get(url)
    assert page.status_code == 200 and "api degraded" in page.text
    bare = make_client(url="https://tickets.example/api", instance_url=None)
    assert bare.ticket_url(26) == "https://tickets.example/conversation/26"


def test_apply_tags_merges_with_existing_and_is_idempotent(client: FreeScoutClient, fs: Sandbox) -> None:
    created = _create(client, tags=["auto:status"]).unwrap()
    # a human adds a tag in FreeScout; PUT …/tags replaces the set, so we must keep it
    fs.http.put(
        f"/api/conversations/{created.id}/tags",
        json={"tags": ["auto:status", "customer-facing"]},
        headers={
            "X-FreeScout-API-Key": API_KEY,
            "CF-Access-Client-Id": CF_ID,
            "CF-Access-Client-Secret": CF_SECRET,
        },
    ).raise_for_status()
    merged = client.apply_tags(created.id, ["auto:status:db", "AUTO:STATUS"])
    assert merged.unwrap() == ("auto:status", "customer-facing", "auto:status:db")
    fs.clear_requests()
    assert client.apply_tags(created.id, ["auto:status:db"]).ok
    assert [e["method"] for e in fs.requests()] == ["GET"]  # nothing to write


def test_failed_tagging_leaves_the_ticket_and_a_retry_tags_it(
    client: FreeScoutClient, fs: Sandbox, logs: pytest.LogCaptureFixture
) -> None:
    fs.faults(tags_module=False)
    outcome = _create(client, tags=["auto:alert", "auto:alert:poller"])
    assert outcome.ok and outcome.value is not None
    created = outcome.value
    assert created.tags_applied is False and created.tags_reason is Reason.REJECTED
    assert len(fs.state.conversations) == 1
    assert [e["method"] for e in fs.requests()].count("POST") == 1  # never re-created
    warnings = _ours(logs)
    assert len(warnings) == 1 and "op=apply_tags" in warnings[0].getMessage()

    fs.faults(tags_module=True)
    assert client.apply_tags(created.id, created.tags).unwrap() == created.tags
    assert len(fs.state.conversations) == 1


def test_update_conversation_closes_as_the_bot_user(client: FreeScoutClient) -> None:
    created = _create(client).unwrap()
    assert client.update_conversation(created.id, status="closed").ok
    closed = client.get_conversation(created.id).unwrap()
    assert closed.status == "closed" and not closed.is_open and closed.closed_at is not None
    assert client.update_conversation(created.id).ok  # nothing to change: no call


def test_add_note_keeps_status_and_is_written_by_the_bot(client: FreeScoutClient) -> None:
    created = _create(client).unwrap()
    client.update_conversation(created.id, status="pending")
    thread_id = client.add_note(created.id, "<p>Surface recovered at 12:00 UTC.</p>").unwrap()
    conversation = client.get_conversation(created.id).unwrap()
    assert conversation.status == "pending"
    note = conversation.threads[0]
    assert (note.id, note.type, note.user_id) == (thread_id, "note", 1)


def test_bot_user_is_required_only_where_freescout_needs_it(
    make_client, fs: Sandbox, logs: pytest.LogCaptureFixture
) -> None:
    client = make_client(bot_user_id=None)
    created = _create(client).unwrap()  # a customer thread needs no user
    fs.clear_requests()
    note = client.add_note(created.id, "x")
    status = client.update_conversation(created.id, status="closed")
    for outcome in (note, status):
        assert outcome.reason is Reason.NOT_CONFIGURED
        assert outcome.missing == ("FREESCOUT_BOT_USER_ID",)
    assert fs.requests() == []
    assert client.update_conversation(created.id, subject="renamed").ok


def test_list_conversations_filters_and_pages(client: FreeScoutClient) -> None:
    first = _create(client, subject="[ref-a] one", tags=["auto:alert"]).unwrap()
    second = _create(client, subject="[ref-b] two").unwrap()
    _create(client, subject="[ref-c] three", customer_email="someone@example.org")
    client.update_conversation(second.id, status="closed")

    page = client.list_conversations(mailbox_id=OPS, page_size=2).unwrap()
    assert page.page.total_elements == 3 and page.page.total_pages == 2 and page.has_next
    assert len(page.items) == 2 and all(c.threads_count == 1 for c in page.items)
    open_only = client.list_conversations(status="active,pending").unwrap()
    assert second.id not in {c.id for c in open_only.items}
    closed = client.list_conversations(status=["closed"]).unwrap()
    assert [c.id for c in closed.items] == [second.id]
    tagged = client.list_conversations(tag="auto:alert").unwrap()
    assert [c.id for c in tagged.items] == [first.id]
    theirs = client.list_conversations(customer_email="someone@example.org").unwrap()
    assert [c.subject for c in theirs.items] == ["[ref-c] three"]
    assert ALL_STATUSES == "active,pending,closed,spam"


def test_mailboxes_come_from_the_list_with_lenient_dates(client: FreeScoutClient, fs: Sandbox) -> None:
    mailboxes = client.list_mailboxes().unwrap()
    assert [(m.id, m.name) for m in mailboxes] == [(1, "Support"), (2, "Operations")]
    assert mailboxes[0].created_at == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # "T09-30-00Z"
    assert client.find_mailbox(OPS).unwrap().name == "Operations"
    assert all(e["path"] == "/api/mailboxes" for e in fs.requests())  # never mailboxes/{id}


# --------------------------------------------------------------------------- failure reasons


def test_not_configured_makes_no_network_call_and_names_the_variables(
    fs: Sandbox, logs: pytest.LogCaptureFixture
) -> None:
    client = FreeScoutClient(FreeScoutConfig(instance_url=fs.url, bot_user_id=1))
    for outcome in (_create(client), client.list_mailboxes(), client.get_conversation(1)):
        assert outcome.reason is Reason.NOT_CONFIGURED and not outcome.retryable
        assert outcome.missing == (
            "FREESCOUT_API_URL",
            "FREESCOUT_API_KEY",
            "CF_ACCESS_SVC_TICKETS_CLIENT_ID",
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
        )
    assert fs.requests() == []
    message = _ours(logs)[0].getMessage()
    assert "freescout_not_configured" in message
    assert "FREESCOUT_API_URL,FREESCOUT_API_KEY,CF_ACCESS_SVC_TICKETS_CLIENT_ID" in message


def test_cf_pair_is_not_needed_when_access_is_not_required(make_client, fs: Sandbox) -> None:
    client = make_client(cf_client_id=None, cf_client_secret=None, cf_access_required=False)
    outcome = client.list_mailboxes()
    assert outcome.reason is Reason.CF_ACCESS_DENIED  # it tried: the gate refused it
    assert fs.requests()[0]["auth_headers"] == ["X-FreeScout-API-Key"]


def test_cf_gate_403_is_cf_access_denied(make_client, logs: pytest.LogCaptureFixture) -> None:
    client = make_client(cf_client_secret="wrong-secret")
    outcome = _create(client)
    assert outcome.reason is Reason.CF_ACCESS_DENIED and outcome.status_code == 403
    assert not outcome.retryable and not outcome.uncertain
    (record,) = _ours(logs)
    assert "freescout_auth_error reason=cf_access_denied" in record.getMessage()


def test_cf_gate_302_is_cf_access_denied_and_never_followed(
    sandbox_302: Sandbox, logs: pytest.LogCaptureFixture, sleeps: Sleeps
) -> None:
    sandbox_302.reset()
    config = FreeScoutConfig(api_url=sandbox_302.url, api_key=API_KEY, cf_access_required=False, timeout=2)
    with FreeScoutClient(config, sleep=sleeps) as client:
        outcome = client.list_conversations()
    assert outcome.reason is Reason.CF_ACCESS_DENIED and outcome.status_code == 302
    assert "cloudflareaccess.com" in outcome.detail
    assert len(sandbox_302.requests()) == 1
    assert "freescout_auth_error reason=cf_access_denied" in _ours(logs)[0].getMessage()


def test_redirects_are_never_followed(fs: Sandbox, sleeps: Sleeps) -> None:
    bouncer = Flask("bouncer")

    @bouncer.route("/api/<path:rest>", methods=["GET", "POST", "PUT"])
    def bounce(rest: str) -> Response:
        return redirect(f"{fs.url}/api/{rest}", code=301)  # type: ignore[return-value]

    with BackgroundServer(bouncer) as server:
        config = FreeScoutConfig(
            api_url=server.url, api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET, timeout=2
        )
        with FreeScoutClient(config, sleep=sleeps) as client:
            outcome = client.list_mailboxes()
            created = _create(client)
    assert outcome.reason is Reason.UNEXPECTED and outcome.status_code == 301
    assert created.reason is Reason.UNEXPECTED
    assert fs.requests() == []  # the target never saw a request


def test_wrong_api_key_is_freescout_auth_error(make_client, logs: pytest.LogCaptureFixture) -> None:
    outcome = make_client(api_key="not-the-key").list_conversations()
    assert outcome.reason is Reason.AUTH_ERROR and outcome.status_code == 401
    assert "reason=freescout_auth_error" in _ours(logs)[0].getMessage()


def test_validation_errors_are_rejected_with_their_paths(client: FreeScoutClient) -> None:
    outcome = _create(client, subject="  ", customer_email="")
    assert outcome.reason is Reason.REJECTED and outcome.status_code == 400
    assert not outcome.retryable and not outcome.uncertain
    assert {e.path for e in outcome.errors} == {"subject"}
    created = _create(client).unwrap()
    bad = client.update_conversation(created.id, status="closed", assign_to=999)
    assert bad.reason is Reason.REJECTED
    assert [(e.path, e.message) for e in bad.errors] == [("assignTo", "User not found.")]


def test_unknown_mailbox_is_mailbox_not_found(client: FreeScoutClient) -> None:
    outcome = _create(client, mailbox_id=99)
    assert outcome.reason is Reason.MAILBOX_NOT_FOUND and outcome.status_code == 400
    assert [e.path for e in outcome.errors] == ["mailboxId"]
    listed = client.find_mailbox(99)
    assert listed.reason is Reason.MAILBOX_NOT_FOUND


def test_missing_conversation_is_not_found_and_not_a_degradation(
    client: FreeScoutClient, logs: pytest.LogCaptureFixture
) -> None:
    outcome = client.get_conversation(424242)
    assert outcome.reason is Reason.NOT_FOUND and outcome.status_code == 404
    assert client.add_note(424242, "x").reason is Reason.NOT_FOUND
    assert client.apply_tags(424242, ["a"]).reason is Reason.NOT_FOUND
    assert _ours(logs) == []
    infos = _ours(logs, logging.INFO)
    assert infos and all("degraded" not in r.getMessage() for r in infos)


def test_module_not_installed_404_html_is_unexpected(sandbox_without_module: Sandbox, sleeps: Sleeps) -> None:
    config = FreeScoutConfig(
        api_url=sandbox_without_module.url, api_key=API_KEY, cf_access_required=False, timeout=2
    )
    with FreeScoutClient(config, sleep=sleeps) as client:
        outcome = client.get_conversation(1)
    assert outcome.reason is Reason.UNEXPECTED and outcome.status_code == 404
    assert "module" in outcome.detail


def test_down_is_unavailable_retryable_and_gets_are_retried(
    client: FreeScoutClient, fs: Sandbox, sleeps: Sleeps, logs: pytest.LogCaptureFixture
) -> None:
    fs.faults(mode="down")
    outcome = client.list_conversations()
    assert outcome.reason is Reason.UNAVAILABLE and outcome.status_code == 503
    assert outcome.retryable
    assert sleeps.delays == [0.2, 0.4]  # exponential, injectable, never really slept
    assert [e["status"] for e in fs.requests()] == [503, 503, 503]
    assert len(_ours(logs)) == 1  # one failure, one line, however many attempts


def test_post_is_never_retried_and_503_is_certainly_not_created(
    client: FreeScoutClient, fs: Sandbox, sleeps: Sleeps
) -> None:
    fs.faults(mode="down")
    outcome = _create(client)
    assert outcome.reason is Reason.UNAVAILABLE and outcome.uncertain is False
    assert len(fs.requests()) == 1 and sleeps.delays == []


def test_error500_is_unavailable_and_uncertain_for_a_create(client: FreeScoutClient, fs: Sandbox) -> None:
    fs.faults(mode="error500")
    created = _create(client)
    assert created.reason is Reason.UNAVAILABLE and created.status_code == 500
    assert created.uncertain is True
    fetched = client.get_conversation(1)
    assert fetched.reason is Reason.UNAVAILABLE and not fetched.uncertain
    assert len(fs.requests()) == 2  # a 500 is not retried: usually deterministic


def test_connection_refused_is_unavailable_and_certainly_not_created(make_client, sleeps: Sleeps) -> None:
    client = make_client(url=f"http://127.0.0.1:{_closed_port()}")
    created = _create(client)
    assert created.reason is Reason.UNAVAILABLE and created.status_code is None
    assert created.uncertain is False and created.retryable
    listed = client.list_mailboxes()
    assert listed.reason is Reason.UNAVAILABLE and len(sleeps.delays) == 2


def test_read_timeout_is_unavailable_and_not_retried(make_client, fs: Sandbox, sleeps: Sleeps) -> None:
    fs.faults(mode="slow", latency_ms=1500)
    client = make_client(timeout=0.3)
    outcome = client.get_conversation(1)
    assert outcome.reason is Reason.UNAVAILABLE and outcome.detail == "ReadTimeout"
    assert sleeps.delays == [] and len(fs.requests()) == 1


def test_get_retry_succeeds_after_a_transient_outage(
    client: FreeScoutClient, fs: Sandbox, sleeps: Sleeps, logs: pytest.LogCaptureFixture
) -> None:
    fs.faults(mode="down")
    sleeps.hook = lambda: fs.faults(mode="ok")  # FreeScout comes back during the backoff
    outcome = client.list_mailboxes()
    assert outcome.ok and len(outcome.unwrap()) == 2
    assert sleeps.delays == [0.2]
    assert [e["status"] for e in fs.requests()] == [503, 200]
    assert _ours(logs) == []


def test_timeout_after_create_is_uncertain_and_the_reference_finds_it(make_client, fs: Sandbox) -> None:
    client = make_client(timeout=0.3)
    since = datetime.now(UTC) - timedelta(seconds=5)
    fs.faults(mode="timeout_after_create", latency_ms=3000)
    outcome = _create(client, subject="[ref-7c1d] Investigate: api degraded")
    assert outcome.reason is Reason.UNAVAILABLE and outcome.retryable
    assert outcome.uncertain is True  # it may exist: reconcile before re-creating

    found = client.find_by_reference(OPS, "ref-7c1d", since)
    assert found.ok and found.value is not None
    assert found.value.subject == "[ref-7c1d] Investigate: api degraded"
    assert len(fs.state.conversations) == 1
    search = [e for e in fs.requests() if e["method"] == "GET"][-1]
    assert {"subject", "createdSince", "mailboxId", "status"} <= set(search["query"])


def test_find_by_reference_respects_mailbox_subject_and_time(client: FreeScoutClient) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    _create(client, subject="[ref-x1] elsewhere", mailbox_id=1)
    _create(client, subject="[ref-x2] other reference")
    target = _create(client, subject="[ref-x1] here").unwrap()
    found = client.find_by_reference(OPS, "ref-x1", since).unwrap()
    assert found is not None and found.id == target.id
    assert client.find_by_reference(OPS, "ref-x9", since).unwrap() is None
    later = datetime.now(UTC) + timedelta(hours=1)
    assert client.find_by_reference(OPS, "ref-x1", later).unwrap() is None
    assert client.find_by_reference(OPS, " ", since).reason is Reason.REJECTED


# --------------------------------------------------------------------------- odd but legal


def test_odd_but_legal_responses(sleeps: Sleeps) -> None:
    """200 with only a body id (an old module), 201 with only Resource-ID, 204 on PUT, and a
    Cloudflare-branded 401 page."""
    odd = Flask("odd-freescout")

    @odd.post("/api/conversations")
    def create() -> Response:
        return Response(
            '{"id": 41, "number": 7, "subject": "s", "status": "active"}', 200, mimetype="application/json"
        )

    @odd.post("/api/conversations/<int:cid>/threads")
    def thread(cid: int) -> Response:
        return Response("", 201, headers={"Resource-ID": "88"})

    @odd.get("/api/mailboxes")
    def mailboxes() -> Response:
        return Response("<html><body>Cloudflare: Unauthorized</body></html>", 401, mimetype="text/html")

    @odd.get("/api/conversations")
    def html_list() -> Response:
        return Response("<html>login</html>", 200, mimetype="text/html")

    with BackgroundServer(odd) as server:
        config = FreeScoutConfig(
            api_url=server.url, api_key=API_KEY, cf_access_required=False, bot_user_id=1, timeout=2
        )
        with FreeScoutClient(config, sleep=sleeps) as client:
            created = _create(client)
            note = client.add_note(41, "x")
            denied = client.list_mailboxes()
            weird = client.list_conversations()
    assert created.unwrap().id == 41 and created.unwrap().conversation is not None
    assert note.unwrap() == 88
    assert denied.reason is Reason.CF_ACCESS_DENIED and denied.status_code == 401
    assert weird.reason is Reason.UNEXPECTED


# --------------------------------------------------------------------------- logging contract


def _scenario(
    name: str, fs: Sandbox, make_client, sandbox_302: Sandbox, sandbox_without_module: Sandbox
) -> Outcome:
    if name == "not_configured":
        return _create(make_client(api_url=None, api_key=None))
    if name == "cf_403":
        return make_client(cf_client_id="someone-else", cf_client_secret="nope").list_mailboxes()
    if name == "cf_302":
        sandbox_302.reset()
        return make_client(
            url=sandbox_302.url, cf_access_required=False, cf_client_id=None, cf_client_secret=None
        ).list_mailboxes()
    if name == "auth_401":
        return make_client(api_key="wrong").get_conversation(1)
    if name == "rejected":
        return _create(make_client(), subject="")
    if name == "mailbox":
        return _create(make_client(), mailbox_id=77)
    if name == "down":
        fs.faults(mode="down")
        return make_client().list_mailboxes()
    if name == "error500":
        fs.faults(mode="error500")
        return _create(make_client())
    if name == "timeout":
        fs.faults(mode="slow", latency_ms=1500)
        return make_client(timeout=0.3).list_conversations()
    if name == "refused":
        return _create(make_client(url=f"http://127.0.0.1:{_closed_port()}"))
    if name == "unexpected":
        return make_client(url=sandbox_without_module.url, cf_access_required=False).list_mailboxes()
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("not_configured", Reason.NOT_CONFIGURED),
        ("cf_403", Reason.CF_ACCESS_DENIED),
        ("cf_302", Reason.CF_ACCESS_DENIED),
        ("auth_401", Reason.AUTH_ERROR),
        ("rejected", Reason.REJECTED),
        ("mailbox", Reason.MAILBOX_NOT_FOUND),
        ("down", Reason.UNAVAILABLE),
        ("error500", Reason.UNAVAILABLE),
        ("timeout", Reason.UNAVAILABLE),
        ("refused", Reason.UNAVAILABLE),
        ("unexpected", Reason.UNEXPECTED),
    ],
)
def test_each_failure_is_logged_once_at_warning_without_secrets(
    name: str,
    reason: Reason,
    fs: Sandbox,
    make_client,
    sandbox_302: Sandbox,
    sandbox_without_module: Sandbox,
    logs: pytest.LogCaptureFixture,
) -> None:
    outcome = _scenario(name, fs, make_client, sandbox_302, sandbox_without_module)
    assert outcome.reason is reason and not outcome.ok
    assert outcome.retryable is (reason is Reason.UNAVAILABLE)
    ours = [r for r in logs.records if r.name == LOGGER and r.levelno >= logging.INFO]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    (record,) = ours
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert record.exc_info is None and record.stack_info is None
    assert "freescout" in message and "degraded" in message
    assert f"reason={reason}" in message and "op=" in message
    expected_status = "none" if outcome.status_code is None else str(outcome.status_code)
    assert f"status={expected_status}" in message
    if reason is Reason.CF_ACCESS_DENIED:
        assert "freescout_auth_error reason=cf_access_denied" in message
    assert all(r.levelno < logging.ERROR for r in logs.records)
    for secret in SECRETS:
        assert secret not in logs.text
        assert all(secret not in repr(r.args) for r in logs.records)
