"""The FreeScout sandbox speaks the documented contract (driven over real HTTP with httpx)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from raxx_console.clock import ManualClock
from raxx_console.sandbox.freescout import create_freescout_sandbox
from raxx_console.sandbox.server import BackgroundServer

KEY = "sandbox-test-key-31f0"
CF_ID = "cf-id-9d2c.access"
CF_SECRET = "cf-secret-6a7b55"
AUTH = {"X-FreeScout-API-Key": KEY}


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 6, 19, 19, 50, tzinfo=UTC))


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_freescout_sandbox(api_key=KEY, clock=clock)) as running:
        yield running


@pytest.fixture
def api(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, follow_redirects=False) as client:
        client.post("/_sandbox/reset").raise_for_status()
        yield client
        client.post("/_sandbox/reset")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def gated() -> Iterator[dict[str, BackgroundServer]]:
    servers = {
        mode: BackgroundServer(
            create_freescout_sandbox(
                api_key=KEY,
                cf_client_id=CF_ID,
                cf_client_secret=CF_SECRET,
                cf_mode=mode,
                cf_team="raxxteam",
            )
        ).start()
        for mode in ("403", "302")
    }
    yield servers
    for running in servers.values():
        running.stop()


def conversation(**overrides: object) -> dict:
    body: dict = {
        "type": "email",
        "mailboxId": 2,
        "subject": "[ref-1] api degraded",
        "customer": {"email": "ops-console@raxx.app", "firstName": "Console"},
        "threads": [{"type": "customer", "text": "<p>api is degraded</p>"}],
        "imported": True,
    }
    body.update(overrides)
    return body


def create(api: httpx.Client, **overrides: object) -> int:
    response = api.post("/api/conversations", json=conversation(**overrides))
    assert response.status_code == 201, response.text
    return int(response.headers["Resource-ID"])


def errors(response: httpx.Response) -> list[tuple[str, str]]:
    body = response.json()
    assert body["message"] == "Error occurred"
    return [(e["path"], e["message"]) for e in body["_embedded"]["errors"]]


# --------------------------------------------------------------------------- auth


def test_key_is_accepted_by_header_query_and_basic_auth(api: httpx.Client) -> None:
    bare = httpx.Client(base_url=str(api.base_url))
    assert bare.get("/api/mailboxes", headers={"x-freescout-api-key": KEY}).status_code == 200
    assert bare.get("/api/mailboxes", params={"api_key": KEY}).status_code == 200
    assert bare.get("/api/mailboxes", auth=(KEY, "anything")).status_code == 200
    for response in (
        bare.get("/api/mailboxes"),
        bare.get("/api/mailboxes", headers={"X-FreeScout-API-Key": "wrong"}),
        bare.get("/api/mailboxes", headers={"X-FreeScout-API_key": KEY}),  # #1632's typo
    ):
        assert response.status_code == 401
        assert response.json() == {"message": "Not Authorized"}
    bare.close()


def test_runbook_probe_extensions_bearer_and_mailbox_by_id(api: httpx.Client) -> None:
    """Deliberate extensions: the incident runbook's curl probes (Steps 1.5 and 2)."""
    bare = httpx.Client(base_url=str(api.base_url))
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert bare.get("/api/mailboxes", headers=bearer).status_code == 200
    one = bare.get("/api/mailboxes/2", headers=bearer)
    assert one.status_code == 200 and one.json()["name"] == "Operations"
    missing = bare.get("/api/mailboxes/9", headers=bearer)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found", "_embedded": {"errors": []}}
    assert bare.get("/api/mailboxes", headers={"Authorization": "Bearer x"}).status_code == 401
    bare.close()


def test_module_not_installed_is_the_404_html_page(http: httpx.Client) -> None:
    with BackgroundServer(create_freescout_sandbox(api_key=KEY, api_module=False)) as running:
        response = http.get(f"{running.url}/api/conversations", headers=AUTH)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "could not be found" in response.text


def test_wrong_method_is_405_with_the_json_string_body(api: httpx.Client) -> None:
    response = api.patch("/api/conversations")
    assert response.status_code == 405 and response.json() == "Method Not Allowed"
    assert api.delete("/api/mailboxes").json() == "Method Not Allowed"


# --------------------------------------------------------------------------- Cloudflare Access


def test_access_gate_403_without_the_service_token(gated: dict, http: httpx.Client) -> None:
    url = gated["403"].url
    for headers in (
        AUTH,
        {**AUTH, "CF-Access-Client-Id": CF_ID},
        {**AUTH, "CF-Access-Client-Id": CF_ID, "CF-Access-Client-Secret": "no"},
    ):
        response = http.get(f"{url}/api/conversations", headers=headers)
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
        assert "Cloudflare Access" in response.text and "cf-ray" in response.headers
    ok = http.get(
        f"{url}/api/conversations",
        headers={**AUTH, "CF-Access-Client-Id": CF_ID, "CF-Access-Client-Secret": CF_SECRET},
    )
    assert ok.status_code == 200
    # the gate answers before FreeScout: a wrong key behind a good token is FreeScout's 401
    behind = http.get(
        f"{url}/api/conversations",
        headers={
            "X-FreeScout-API-Key": "no",
            "CF-Access-Client-Id": CF_ID,
            "CF-Access-Client-Secret": CF_SECRET,
        },
    )
    assert behind.status_code == 401
    assert http.get(f"{url}/").status_code == 200  # only /api/* is gated


def test_access_gate_302_to_the_team_login(gated: dict, http: httpx.Client) -> None:
    response = http.get(f"{gated['302'].url}/api/mailboxes", headers=AUTH)
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.host == "raxxteam.cloudflareaccess.com"
    assert location.path.startswith("/cdn-cgi/access/login/")


def test_bad_cf_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="cf_mode"):
        create_freescout_sandbox(cf_mode="401")


# --------------------------------------------------------------------------- create


def test_create_is_201_with_resource_id_and_the_entity(api: httpx.Client) -> None:
    response = api.post("/api/conversations", json=conversation())
    assert response.status_code == 201
    body = response.json()
    assert response.headers["Resource-ID"] == str(body["id"])
    assert body["number"] != body["id"]
    assert body["status"] == "active" and body["type"] == "email" and body["state"] == "published"
    assert body["mailboxId"] == 2 and body["threadsCount"] == 1
    assert body["customer"]["email"] == "ops-console@raxx.app"
    assert body["createdBy"]["type"] == "customer"
    assert body["createdAt"] == "2026-06-19T19:50:00Z"
    assert body["assignee"] is None and body["closedAt"] is None  # nulls, not missing
    assert body["preview"] == "api is degraded"
    (thread,) = body["_embedded"]["threads"]
    assert thread["type"] == "customer" and thread["body"] == "<p>api is degraded</p>"
    assert "tags" not in body["_embedded"] and "_links" not in body


def test_customers_are_created_once_per_email(api: httpx.Client) -> None:
    create(api)
    create(api, customer={"email": "OPS-CONSOLE@raxx.app"})
    create(api, customer={"email": "someone@example.org"})
    listed = api.get("/api/customers").json()
    assert listed["page"]["totalElements"] == 2
    one = api.get("/api/customers", params={"email": "ops-console@raxx.app"}).json()
    (customer,) = one["_embedded"]["customers"]
    assert "email" not in customer  # emails live in _embedded.emails
    assert customer["_embedded"]["emails"][0]["value"] == "ops-console@raxx.app"
    assert customer["_embedded"]["social_profiles"] == []
    assert api.get(f"/api/customers/{customer['id']}").json()["id"] == customer["id"]
    assert api.get("/api/customers/999").status_code == 404


def test_create_validation_errors_name_each_path(api: httpx.Client) -> None:
    response = api.post("/api/conversations", json={})
    assert response.status_code == 400
    assert {path for path, _ in errors(response)} == {"type", "subject", "mailboxId", "customer", "threads"}
    assert ("subject", "`subject` parameter is required") in errors(response)
    not_array = api.post("/api/conversations", json=conversation(threads={"type": "customer"}))
    assert errors(not_array) == [("threads", "'threads' parameter must be an array")]
    empty = api.post("/api/conversations", json=conversation(threads=[]))
    assert [p for p, _ in errors(empty)] == ["threads"]
    no_email = api.post("/api/conversations", json=conversation(customer={"lastName": "X"}))
    assert errors(no_email) == [("customer.first_name", "Customer first name or email is required.")]
    garbage = api.post(
        "/api/conversations", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    assert api.get("/api/conversations").json()["page"]["totalElements"] == 0  # nothing stored


def test_unknown_mailbox_and_note_without_user(api: httpx.Client) -> None:
    mailbox = api.post("/api/conversations", json=conversation(mailboxId=42))
    assert errors(mailbox) == [("mailboxId", "Mailbox not found")]
    note = api.post("/api/conversations", json=conversation(threads=[{"type": "note", "text": "internal"}]))
    assert errors(note) == [("threads.0.user", "`user` parameter is required")]
    unknown_user = api.post(
        "/api/conversations", json=conversation(threads=[{"type": "message", "text": "hi", "user": 99}])
    )
    assert errors(unknown_user) == [("threads.0.user", "User not found.")]
    as_note = api.post(
        "/api/conversations", json=conversation(threads=[{"type": "note", "text": "internal", "user": 1}])
    )
    assert as_note.status_code == 201
    assert as_note.json()["createdBy"] == {
        "id": 1,
        "type": "user",
        "firstName": "Raxx Console",
        "lastName": "Bot",
        "photoUrl": None,
        "email": "console-bot@raxx.app",
    }


def test_unknown_status_on_create_becomes_active(api: httpx.Client) -> None:
    cid = create(api, status="open")
    assert api.get(f"/api/conversations/{cid}").json()["status"] == "active"


# --------------------------------------------------------------------------- list


def test_empty_list_is_hal_with_total_pages_one(api: httpx.Client) -> None:
    body = api.get("/api/conversations", params={"pageSize": 20}).json()
    assert body == {
        "_embedded": {"conversations": []},
        "page": {"size": 20, "totalElements": 0, "totalPages": 1, "number": 1},
    }


def test_list_items_use_threads_count_key_and_omit_threads(api: httpx.Client) -> None:
    create(api)
    (item,) = api.get("/api/conversations").json()["_embedded"]["conversations"]
    assert item["threads"] == 1 and "threadsCount" not in item and "_embedded" not in item
    embedded = api.get("/api/conversations", params={"embed": "threads,tags"}).json()
    (item,) = embedded["_embedded"]["conversations"]
    assert len(item["_embedded"]["threads"]) == 1 and item["_embedded"]["tags"] == []


def test_status_filter_semantics(api: httpx.Client) -> None:
    ids = {status: create(api, subject=f"s-{status}") for status in ("active", "pending")}
    ids["closed"] = create(api, subject="s-closed")
    api.put(f"/api/conversations/{ids['closed']}", json={"byUser": 1, "status": "closed"})
    ids["spam"] = create(api, subject="s-spam")
    api.put(f"/api/conversations/{ids['spam']}", json={"byUser": 1, "status": "spam"})
    api.put(f"/api/conversations/{ids['pending']}", json={"byUser": 1, "status": "pending"})

    def listed(**params: str) -> set[int]:
        body = api.get("/api/conversations", params=params).json()
        return {c["id"] for c in body["_embedded"]["conversations"]}

    assert listed() == set(ids.values())  # absent status: no filter
    assert listed(status="active") == {ids["active"]}
    assert listed(status="active,pending") == {ids["active"], ids["pending"]}
    assert listed(status="closed,spam") == {ids["closed"], ids["spam"]}
    assert listed(status="all") == set()  # Help Scout's word means nothing here


def test_filters_subject_tag_customer_and_unknown_params(api: httpx.Client, clock: ManualClock) -> None:
    first = create(api, subject="[ref-aa] API degraded")
    clock.advance(60)
    second = create(api, subject="[ref-bb] db down", customer={"email": "c@example.org"}, mailboxId=1)
    api.put(f"/api/conversations/{first}/tags", json={"tags": ["auto:status", "x"]})
    api.put(f"/api/conversations/{second}/tags", json={"tags": ["auto:alert"]})

    def listed(**params: str) -> list[int]:
        body = api.get("/api/conversations", params=params).json()
        return [c["id"] for c in body["_embedded"]["conversations"]]

    assert listed(subject="api DEG") == [first]
    assert listed(tag="auto:status") == [first]
    assert listed(customerEmail="c@example.org") == [second]
    assert listed(mailboxId="1,2") == [second, first]  # createdAt desc by default
    assert listed(mailboxId="2") == [first]
    assert listed(createdSince="2026-06-19T19:51:00Z") == [second]
    assert listed(createdSince="2026-06-19T19:51:01Z") == []
    assert listed(number=str(first + 1000)) == [first]
    assert listed(**{"customer[email]": "nobody@example.org"}) == [second, first]
    assert listed(query="nothing", per_page="1") == [second, first]


def test_sorting_and_paging(api: httpx.Client, clock: ManualClock) -> None:
    ids = []
    for subject in ("b", "c", "a"):
        ids.append(create(api, subject=subject))
        clock.advance(1)

    def page(**params: str) -> dict:
        return api.get("/api/conversations", params=params).json()

    assert [c["id"] for c in page()["_embedded"]["conversations"]] == ids[::-1]
    ordered = page(sortField="subject", sortOrder="asc")["_embedded"]["conversations"]
    assert [c["subject"] for c in ordered] == ["a", "b", "c"]
    second = page(pageSize="2", page="2", sortOrder="asc")
    assert [c["id"] for c in second["_embedded"]["conversations"]] == [ids[2]]
    assert second["page"] == {"size": 2, "totalElements": 3, "totalPages": 2, "number": 2}
    assert "_links" not in second


def test_updated_since_uses_greater_or_equal(api: httpx.Client, clock: ManualClock) -> None:
    cid = create(api)
    clock.advance(120)
    api.put(f"/api/conversations/{cid}", json={"subject": "renamed"})
    updated = api.get(f"/api/conversations/{cid}").json()["updatedAt"]
    hits = api.get("/api/conversations", params={"updatedSince": updated}).json()
    assert [c["subject"] for c in hits["_embedded"]["conversations"]] == ["renamed"]


# --------------------------------------------------------------------------- get, update, delete


def test_get_embeds_threads_by_default_and_tags_only_on_request(api: httpx.Client) -> None:
    cid = create(api)
    api.put(f"/api/conversations/{cid}/tags", json={"tags": ["auto:status"]})
    default = api.get(f"/api/conversations/{cid}").json()
    assert list(default["_embedded"]) == ["threads"]
    tags_only = api.get(f"/api/conversations/{cid}", params={"embed": "tags"}).json()
    assert list(tags_only["_embedded"]) == ["tags"]
    assert tags_only["_embedded"]["tags"][0]["name"] == "auto:status"
    both = api.get(f"/api/conversations/{cid}", params={"embed": "threads,tags"}).json()
    assert set(both["_embedded"]) == {"threads", "tags"}
    missing = api.get("/api/conversations/999")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found", "_embedded": {"errors": []}}


def test_update_needs_by_user_for_status_and_answers_204(api: httpx.Client) -> None:
    cid = create(api)
    no_user = api.put(f"/api/conversations/{cid}", json={"status": "closed"})
    assert errors(no_user) == [("byUser", "byUser parameter is required.")]
    bad_user = api.put(f"/api/conversations/{cid}", json={"byUser": 99, "status": "closed"})
    assert errors(bad_user) == [("byUser", "User not found.")]
    done = api.put(f"/api/conversations/{cid}", json={"byUser": 1, "status": "closed"})
    assert done.status_code == 204 and done.content == b""
    closed = api.get(f"/api/conversations/{cid}").json()
    assert closed["status"] == "closed" and closed["closedBy"] == 1 and closed["closedAt"]
    api.put(f"/api/conversations/{cid}", json={"byUser": 1, "status": "weird"})
    assert api.get(f"/api/conversations/{cid}").json()["status"] == "active"
    moved = api.put(f"/api/conversations/{cid}", json={"byUser": 1, "status": "spam", "mailboxId": 9})
    assert errors(moved) == [("mailboxId", "Mailbox not found")]
    assert api.get(f"/api/conversations/{cid}").json()["status"] == "active"  # nothing applied
    assert api.put("/api/conversations/999", json={"subject": "x"}).status_code == 404


def test_delete_is_forever(api: httpx.Client) -> None:
    cid = create(api)
    assert api.delete(f"/api/conversations/{cid}").status_code == 204
    assert api.get(f"/api/conversations/{cid}").status_code == 404
    assert api.delete(f"/api/conversations/{cid}").status_code == 404


def test_tags_put_replaces_the_set_and_needs_the_module(api: httpx.Client) -> None:
    cid = create(api)
    assert api.put(f"/api/conversations/{cid}/tags", json={"tags": ["a", "b"]}).status_code == 204
    api.put(f"/api/conversations/{cid}/tags", json={"tags": ["c"]})
    got = api.get(f"/api/conversations/{cid}", params={"embed": "tags"}).json()
    assert [t["name"] for t in got["_embedded"]["tags"]] == ["c"]
    tags = api.get("/api/tags").json()
    assert {t["name"]: t["counter"] for t in tags["_embedded"]["tags"]} == {"a": 0, "b": 0, "c": 1}
    assert set(tags["_embedded"]["tags"][0]) == {"id", "name", "counter", "color"}
    bad = api.put(f"/api/conversations/{cid}/tags", json={"tags": "c"})
    assert [p for p, _ in errors(bad)] == ["tags"]
    api.post("/_sandbox/faults", json={"tags_module": False})
    off = api.put(f"/api/conversations/{cid}/tags", json={"tags": ["d"]})
    assert errors(off) == [("tags", "Tags module is not installed or not activated")]
    assert api.put("/api/conversations/999/tags", json={"tags": []}).status_code == 404


# --------------------------------------------------------------------------- threads


def test_threads_note_keeps_status_message_pends_customer_reopens(api: httpx.Client) -> None:
    cid = create(api)

    def status() -> str:
        return api.get(f"/api/conversations/{cid}").json()["status"]

    note = api.post(f"/api/conversations/{cid}/threads", json={"type": "note", "text": "<p>n</p>", "user": 1})
    assert note.status_code == 201 and note.headers["Resource-ID"] == str(note.json()["id"])
    assert status() == "active"
    api.post(f"/api/conversations/{cid}/threads", json={"type": "message", "text": "reply", "user": 2})
    assert status() == "pending"
    api.post(f"/api/conversations/{cid}/threads", json={"type": "customer", "text": "again"})
    assert status() == "active"
    api.post(
        f"/api/conversations/{cid}/threads",
        json={"type": "note", "text": "closing", "user": 1, "status": "closed"},
    )
    assert status() == "closed"
    threads = api.get(f"/api/conversations/{cid}").json()["_embedded"]["threads"]
    assert [t["type"] for t in threads] == ["note", "customer", "message", "note", "customer"]
    no_user = api.post(f"/api/conversations/{cid}/threads", json={"type": "note", "text": "x"})
    assert errors(no_user) == [("user", "`user` parameter is required")]
    gone = api.post("/api/conversations/999/threads", json={"type": "note", "text": "x", "user": 1})
    assert gone.status_code == 404


# --------------------------------------------------------------------------- mailboxes, users


def test_mailboxes_and_users_are_seeded_with_dashed_dates(api: httpx.Client) -> None:
    body = api.get("/api/mailboxes").json()
    assert [(m["id"], m["name"]) for m in body["_embedded"]["mailboxes"]] == [
        (1, "Support"),
        (2, "Operations"),
    ]
    assert body["_embedded"]["mailboxes"][0]["createdAt"] == "2026-01-05T09-30-00Z"
    assert body["page"] == {"size": 50, "totalElements": 2, "totalPages": 1, "number": 1}
    user = api.get("/api/users/1").json()
    assert (user["firstName"], user["lastName"]) == ("Raxx Console", "Bot")
    assert api.get("/api/users").json()["page"]["totalElements"] == 2


# --------------------------------------------------------------------------- faults and controls


def test_fault_input_is_validated(api: httpx.Client) -> None:
    for payload in (
        {"mode": "nope"},
        {"latency_ms": -1},
        {"latency_ms": "100"},
        {"latency_ms": True},
        {"mode": "ok", "extra": 1},
        ["ok"],
        {"tags_module": "yes"},
    ):
        response = api.post("/_sandbox/faults", json=payload)
        assert response.status_code == 400 and "error" in response.json(), payload
    assert api.get("/_sandbox/faults").json() == {"mode": "ok", "latency_ms": 0, "tags_module": True}
    set_ = api.post("/_sandbox/faults", json={"mode": "slow"}).json()
    assert set_ == {"mode": "slow", "latency_ms": 2000, "tags_module": True}


def test_down_and_error500(api: httpx.Client) -> None:
    api.post("/_sandbox/faults", json={"mode": "down"})
    down = api.get("/api/mailboxes")
    assert down.status_code == 503 and "text/html" in down.headers["content-type"]
    api.post("/_sandbox/faults", json={"mode": "error500"})
    broken = api.post("/api/conversations", json=conversation())
    assert broken.status_code == 500 and broken.json() == {"message": "Server Error"}
    api.post("/_sandbox/faults", json={"mode": "ok"})
    assert api.get("/api/conversations").json()["page"]["totalElements"] == 0
    assert api.get("/").status_code == 200  # pages and controls never fail


def test_latency_applies_in_ok_mode(api: httpx.Client) -> None:
    api.post("/_sandbox/faults", json={"mode": "ok", "latency_ms": 150})
    started = datetime.now(UTC)
    assert api.get("/api/mailboxes").status_code == 200
    assert (datetime.now(UTC) - started).total_seconds() >= 0.15


def test_timeout_after_create_stores_then_answers_late(api: httpx.Client) -> None:
    api.post("/_sandbox/faults", json={"mode": "timeout_after_create", "latency_ms": 5000})
    with pytest.raises(httpx.ReadTimeout):
        api.post("/api/conversations", json=conversation(), timeout=0.3)
    listed = api.get("/api/conversations", timeout=2).json()
    assert listed["page"]["totalElements"] == 1  # it exists although the answer never came


def test_request_log_names_auth_headers_but_never_values(api: httpx.Client) -> None:
    api.get(
        "/api/mailboxes",
        params={"api_key": KEY},
        headers={"X-FreeScout-API-Key": KEY, "Authorization": f"Bearer {KEY}", "User-Agent": "probe/1"},
    )
    raw = api.get("/_sandbox/requests")
    (entry,) = raw.json()["requests"]
    assert entry["method"] == "GET" and entry["path"] == "/api/mailboxes"
    assert entry["auth_headers"] == ["X-FreeScout-API-Key", "Authorization"]
    assert entry["query"] == ["api_key"] and entry["status"] == 200
    assert entry["user_agent"] == "probe/1"
    assert KEY not in raw.text
    assert api.delete("/_sandbox/requests").status_code == 204
    assert api.get("/_sandbox/requests").json() == {"requests": []}


def test_concurrent_creates_get_distinct_ids(api: httpx.Client) -> None:
    ids: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=str(api.base_url), headers=AUTH) as own:
            for _ in range(5):
                response = own.post("/api/conversations", json=conversation())
                with lock:
                    ids.append(int(response.headers["Resource-ID"]))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == list(range(1, 21))


# --------------------------------------------------------------------------- pages


def test_pages_list_and_show_conversations_escaped(api: httpx.Client) -> None:
    cid = create(api, subject="<script>alert(1)</script> api")
    api.put(f"/api/conversations/{cid}/tags", json={"tags": ["auto:status"]})
    api.post(
        f"/api/conversations/{cid}/threads",
        json={"type": "note", "text": "<p>note &amp; <img src=x onerror=y></p>", "user": 1},
    )
    index = api.get("/")
    assert index.status_code == 200 and 'http-equiv="refresh"' in index.text
    assert "<script>alert" not in index.text and "&lt;script&gt;" in index.text
    assert f'href="/conversation/{cid}"' in index.text and "auto:status" in index.text
    assert "Operations" in index.text
    page = api.get(f"/conversation/{cid}")
    assert page.status_code == 200
    assert "Raxx Console Bot" in page.text and "note &amp;amp;" not in page.text
    assert "<img" not in page.text and "note &amp;" in page.text
    assert api.get(f"/conversations/{cid}").status_code == 200
    assert api.get("/conversation/999").status_code == 404
