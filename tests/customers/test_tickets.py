"""Entry C: a customer's open and recent FreeScout tickets, over real HTTP against the FreeScout sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from raxx_console.customers import service
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.sandbox.freescout import create_freescout_sandbox
from raxx_console.sandbox.server import BackgroundServer

API_KEY = "sentinel-fs-key-7d3a91"
CF_ID = "sentinel-cf-id-52be.access"
CF_SECRET = "sentinel-cf-secret-e80c44"
SUPPORT, OPS = 1, 2
DAY = 86400.0
DANA = "dana@example.com"


class Sandbox:
    def __init__(self, server: BackgroundServer, state) -> None:
        self.url, self.state = server.url, state

    def client(self) -> FreeScoutClient:
        return FreeScoutClient(
            FreeScoutConfig(api_url=self.url, api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET)
        )

    def create(
        self, subject: str, status: str = "active", *, email: str = DANA, mailbox: int = SUPPORT
    ) -> int:
        with self.client() as client:
            return (
                client.create_conversation(
                    mailbox_id=mailbox,
                    subject=subject,
                    customer_email=email,
                    body_html="<p>hi</p>",
                    status=status,
                )
                .unwrap()
                .id
            )

    def faults(self, **payload) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=payload).raise_for_status()

    def api_requests(self) -> list[dict]:
        return [r for r in httpx.get(f"{self.url}/_sandbox/requests").json()["requests"]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    app = create_freescout_sandbox(api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET)
    with BackgroundServer(app, name="freescout-entry-c") as server:
        yield Sandbox(server, app.extensions["freescout_sandbox"])


@pytest.fixture
def fs(sandbox: Sandbox, clock) -> Iterator[Sandbox]:
    """The sandbox, emptied, on the test's clock (the console's), so "30 days ago" agrees."""
    sandbox.state.reset()
    sandbox.state.clock = clock
    yield sandbox
    sandbox.state.reset()


@pytest.fixture
def wired(settings_overrides, fs: Sandbox) -> dict:
    """Settings that point the console at the sandbox, as ``serve --sandbox`` does."""
    settings_overrides.update(
        FREESCOUT_API_URL=fs.url,
        FREESCOUT_INSTANCE_URL=fs.url,
        FREESCOUT_API_KEY=API_KEY,
        CF_ACCESS_SVC_TICKETS_CLIENT_ID=CF_ID,
        CF_ACCESS_SVC_TICKETS_CLIENT_SECRET=CF_SECRET,
        FREESCOUT_OPERATIONS_MAILBOX_ID=OPS,
        FREESCOUT_SUPPORT_MAILBOX_ID=SUPPORT,
        FREESCOUT_BOT_USER_ID=1,
    )
    return settings_overrides


def _open(request, email: str = DANA):
    """Log in as a viewer (this builds the app from the settings so far) and add the customer."""
    client = request.getfixturevalue("viewer")
    console = request.getfixturevalue("console")
    with console.db.session() as session:
        service.upsert(
            session,
            console.clock,
            [service.CustomerRow(line=2, email=email, name="Dana Whitfield")],
            actor="test",
            env="development",
            source="test",
        )
        customer_id = service.search(session, email)[0][0].id
    return client, customer_id


def _subjects(rows: list[dict]) -> list[str]:
    return sorted(row["subject"] for row in rows)


def test_lists_open_and_recent_tickets_and_leaves_out_old_closed_ones(wired, fs, clock, request):
    fs.create("Old and closed", "closed")
    old_open = fs.create("Old but still open", "active")
    clock.advance(40 * DAY)
    fs.create("Cannot export trades", "active")
    fs.create("Waiting on the customer", "pending")
    recent_closed = fs.create("Refund done last week", "closed")
    fs.create("Somebody else's ticket", email="lee@example.org")
    client, customer_id = _open(request)

    body = client.get(f"/console/customers/{customer_id}/tickets.json").get_json()

    assert body["degraded"] is False and body["mailbox_id"] == SUPPORT
    assert body["customer"] == {"id": customer_id, "email": DANA, "name": "Dana Whitfield"}
    assert _subjects(body["open"]) == [
        "Cannot export trades",
        "Old but still open",
        "Waiting on the customer",
    ]
    assert _subjects(body["recent"]) == ["Refund done last week"]
    (closed,) = body["recent"]
    assert closed["status"] == "closed" and closed["url"] == f"{fs.url}/conversation/{recent_closed}"
    assert closed["updated_at"] == clock.now().isoformat().replace("+00:00", "Z")
    old = next(row for row in body["open"] if row["id"] == old_open)
    assert old["number"] != old_open  # the ticket id, not FreeScout's number, builds the link

    page = client.get(f"/console/customers/{customer_id}/tickets")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Refund done last week" in html and "Old and closed" not in html
    assert f'href="{fs.url}/conversation/{recent_closed}"' in html
    assert "Somebody else" not in html
    assert httpx.get(f"{fs.url}/conversation/{recent_closed}").status_code == 200  # the link works


@pytest.mark.parametrize(("conversations", "shown", "truncated"), [(3, 3, False), (5, 4, True)])
def test_pages_through_results_up_to_a_cap(
    wired, fs, clock, request, monkeypatch, conversations, shown, truncated
):
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    monkeypatch.setattr(service, "MAX_PAGES", 2)
    for number in range(conversations):
        fs.create(f"Ticket {number}")
        clock.advance(60)
    client, customer_id = _open(request)

    body = client.get(f"/console/customers/{customer_id}/tickets.json").get_json()
    html = client.get(f"/console/customers/{customer_id}/tickets").get_data(as_text=True)

    newest_first = [f"Ticket {n}" for n in reversed(range(conversations))]
    assert [row["subject"] for row in body["open"]] == newest_first[:shown]
    assert body["truncated"] is truncated
    assert ("FreeScout has more for this customer" in html) is truncated


@pytest.mark.parametrize(
    ("support_mailbox", "expected"),
    [(SUPPORT, ["In support"]), (None, ["In operations", "In support"])],
    ids=["support-mailbox", "all-mailboxes"],
)
def test_searches_the_support_mailbox_or_all_of_them(wired, fs, request, support_mailbox, expected):
    wired["FREESCOUT_SUPPORT_MAILBOX_ID"] = support_mailbox
    fs.create("In support", mailbox=SUPPORT)
    fs.create("In operations", mailbox=OPS)
    client, customer_id = _open(request)

    body = client.get(f"/console/customers/{customer_id}/tickets.json").get_json()

    assert _subjects(body["open"]) == expected and body["mailbox_id"] == support_mailbox
    searches = [r for r in fs.api_requests() if r["method"] == "GET" and r["path"] == "/api/conversations"]
    assert searches and all(("mailboxId" in r["query"]) is (support_mailbox is not None) for r in searches)
    assert all({"status", "customerEmail"} <= set(r["query"]) for r in searches)


def test_explains_itself_while_the_operations_mailbox_is_unset(wired, fs, request):
    wired["FREESCOUT_OPERATIONS_MAILBOX_ID"] = None
    client, customer_id = _open(request)

    page = client.get(f"/console/customers/{customer_id}/tickets")
    body = client.get(f"/console/customers/{customer_id}/tickets.json")

    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-entry-c-unavailable" in html
    assert "FREESCOUT_OPERATIONS_MAILBOX_ID" in html and "rollout runbook" in html
    assert body.status_code == 200
    assert body.get_json()["degraded"] is True and body.get_json()["available"] is False
    assert body.get_json()["missing"] == ["FREESCOUT_OPERATIONS_MAILBOX_ID"]
    assert fs.api_requests() == []  # nothing was asked of FreeScout


FAILURES = {
    # name: (settings changes, sandbox fault, reason, words the banner must hold)
    "cf-access-403": (
        {"CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": "wrong-secret"},
        None,
        "cf_access_denied",
        [
            "Cloudflare Access",
            "CF_ACCESS_SVC_TICKETS_CLIENT_ID",
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
            "Step 1.5",
        ],
    ),
    "wrong-api-key": (
        {"FREESCOUT_API_KEY": "wrong-key-000"},
        None,
        "freescout_auth_error",
        ["API key", "FREESCOUT_API_KEY", "Step 1"],
    ),
    "freescout-down": ({}, "down", "freescout_unavailable", ["not answering", "outage", "failure mode 4"]),
    "not-configured": (
        {"FREESCOUT_API_URL": None, "FREESCOUT_API_KEY": None},
        None,
        "freescout_not_configured",
        ["not configured", "FREESCOUT_API_URL", "FREESCOUT_API_KEY", "Step 0"],
    ),
}


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_a_freescout_failure_is_a_banner_never_a_trace(wired, fs, request, case):
    changes, fault, reason, words = FAILURES[case]
    wired.update(changes)
    if fault:
        fs.faults(mode=fault)
    client, customer_id = _open(request)

    page = client.get(f"/console/customers/{customer_id}/tickets")
    body = client.get(f"/console/customers/{customer_id}/tickets.json")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "data-degraded" in html and f'data-reason="{reason}"' in html
    assert all(word in html for word in words), [w for w in words if w not in html]
    assert "Traceback" not in html
    for secret in (API_KEY, CF_SECRET, "wrong-secret", "wrong-key-000"):
        assert secret not in html and secret not in body.get_data(as_text=True)
    assert body.status_code == 200
    assert body.get_json()["degraded"] is True and body.get_json()["reason"] == reason


def test_unknown_customer_is_404_as_page_and_json(wired, request):
    client, customer_id = _open(request)

    assert client.get(f"/console/customers/{customer_id + 1}/tickets").status_code == 404
    response = client.get(f"/console/customers/{customer_id + 1}/tickets.json")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_the_list_needs_a_login_and_links_each_customer(wired, client, console, request):
    assert client.get("/console/customers").status_code == 302
    assert client.get("/console/customers/1/tickets.json").status_code == 401
    viewer, customer_id = _open(request)

    html = viewer.get("/console/customers?q=DANA").get_data(as_text=True)

    assert DANA in html and f"/console/customers/{customer_id}/tickets" in html
    assert DANA not in viewer.get("/console/customers?q=nobody").get_data(as_text=True)
    assert DANA not in viewer.get("/console/customers?q=dana_").get_data(as_text=True)  # no LIKE wildcards
