"""FreeScout sandbox: the "API & Webhooks" module's wire protocol, in memory, for tests and demos.

The real module is paid and closed, so the console is tested against this emulator, built
from the documented contract (see the project's FreeScout API reference notes):

- ``X-FreeScout-API-Key`` (or ``?api_key=`` or Basic auth with the key as username); a wrong
  or missing key is 401 ``{"message":"Not Authorized"}``.
- ``POST /api/conversations`` → 201 + ``Resource-ID`` + the entity; validation errors use the
  documented body ``{"message":"Error occurred","_embedded":{"errors":[{path,message,source}]}}``.
- HAL lists (``_embedded.<name>`` + ``page``; no ``_links``; an empty list has ``totalPages`` 1),
  all documented conversation filters (comma-list ``status``, ``subject`` substring, one ``tag``,
  ``customerEmail``, ``createdSince``/``updatedSince`` ``>=``, sorting, paging); unknown query
  parameters are ignored, as FreeScout does.
- ``GET`` one embeds threads by default and tags only with ``embed=tags``; list items carry the
  thread count as ``threads`` (the docs' inconsistency), GET one as ``threadsCount``.
- ``number`` differs from ``id`` on purpose, so a client that confuses them is caught.
- 404 ``{"message":"Not Found","_embedded":{"errors":[]}}``; 405 body ``"Method Not Allowed"``;
  with ``api_module=False`` every ``/api`` path is FreeScout's 404 HTML page (module missing).

Deliberate extensions, because the operators' runbook probes use them against their own
instance (``docs/decisions.md``, "FreeScout's auth header"): ``Authorization: Bearer <key>``
is accepted, and so is ``GET /api/mailboxes/<id>`` (200 or 404). The console's client uses neither.

Cloudflare Access: with ``cf_client_id``/``cf_client_secret`` set, every ``/api`` request needs
matching ``CF-Access-Client-Id``/``CF-Access-Client-Secret`` headers, else a Cloudflare-looking
403 HTML page (``cf_mode="403"``, a service-only policy) or a 302 to
``https://<team>.cloudflareaccess.com/cdn-cgi/access/login/...`` (``cf_mode="302"``).

Sandbox controls (never gated): ``GET/POST /_sandbox/faults`` (modes ``ok``, ``down`` = every
API call answers 503 at once, the shape of an origin outage behind a proxy; ``error500`` = 500
JSON; ``slow`` = sleep ``latency_ms`` first; ``timeout_after_create`` = a create is stored, then
the answer waits ``latency_ms`` so the client times out although the conversation exists;
``latency_ms`` also delays every call in ``ok``; ``tags_module`` switches the Tags module),
``POST /_sandbox/reset``, ``GET/DELETE /_sandbox/requests`` (recent API requests: method, path,
query parameter *names*, which auth headers were present — names only, never values).

``/`` lists conversations (auto-refreshing) and ``/conversation/<id>`` shows one, so the
console's ``ticket_url`` links work against the sandbox.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, render_template_string, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from raxx_console.clock import Clock
from raxx_console.sandbox.freescout_state import Conversation, FreeScoutSandboxState
from raxx_console.sandbox.freescout_wire import (
    WireError,
    embed_param,
    empty_response,
    fmt,
    hal,
    html_text,
    json_body,
    json_response,
    not_found,
    paging,
    parse_date,
    parse_int,
)

DEFAULT_API_KEY = "sandbox-freescout-api-key"
_AUTH_HEADERS = ("X-FreeScout-API-Key", "CF-Access-Client-Id", "CF-Access-Client-Secret", "Authorization")

_NOT_FOUND_HTML = (
    "<!DOCTYPE html><html><head><title>Page not found</title></head><body>"
    "<h1>404</h1><p>Sorry, the page you are looking for could not be found.</p></body></html>"
)
_CF_DENIED_HTML = (
    "<!DOCTYPE html><html><head><title>Access denied · Cloudflare Access</title></head><body>"
    "<h1>Forbidden</h1><p>You don't have permission to view this application.</p>"
    "<p>Cloudflare Access · Ray ID: {ray}</p></body></html>"
)

# --------------------------------------------------------------------------- pages

_LIST_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{{ refresh }}">
<title>FreeScout sandbox</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.closed,.spam{color:#888}</style>
</head><body>
<h1>FreeScout sandbox</h1>
<p>{{ conversations|length }} conversation(s) · mode {{ faults.mode }}
{%- if faults.latency_ms %} · latency {{ faults.latency_ms }} ms{% endif %}
 · refreshes every {{ refresh }} s</p>
<table><thead><tr><th>id</th><th>#</th><th>subject</th><th>status</th><th>tags</th>
<th>mailbox</th><th>customer</th><th>created</th></tr></thead><tbody>
{% for c in conversations %}
<tr class="{{ c.status }}"><td><a href="/conversation/{{ c.id }}">{{ c.id }}</a></td>
<td>{{ c.number }}</td><td><a href="/conversation/{{ c.id }}">{{ c.subject }}</a></td>
<td>{{ c.status }}</td><td>{{ c.tags|join(", ") }}</td><td>{{ c.mailbox }}</td>
<td>{{ c.customer }}</td><td>{{ c.created }}</td></tr>
{% else %}<tr><td colspan="8">No conversations yet.</td></tr>{% endfor %}
</tbody></table></body></html>"""

_CONVERSATION_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>#{{ c.number }} {{ c.subject }}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}.thread{border:1px solid #ccc;
padding:8px;margin:8px 0}.note{background:#fff8dc}.body{white-space:pre-wrap}</style>
</head><body><p><a href="/">← all conversations</a></p>
<h1>{{ c.subject }}</h1>
<p>id {{ c.id }} · #{{ c.number }} · status <strong>{{ c.status }}</strong> ·
mailbox {{ c.mailbox }} · customer {{ c.customer }} · created {{ c.created }}</p>
<p>tags: {{ c.tags|join(", ") or "none" }}</p>
{% for t in c.threads %}
<div class="thread {{ t.type }}"><div>{{ t.type }} · {{ t.author }} · {{ t.created }}</div>
<div class="body">{{ t.text }}</div></div>
{% endfor %}
</body></html>"""


# --------------------------------------------------------------------------- the app


def create_freescout_sandbox(
    *,
    api_key: str = DEFAULT_API_KEY,
    cf_client_id: str | None = None,
    cf_client_secret: str | None = None,
    cf_mode: str = "403",
    cf_team: str = "raxx",
    api_module: bool = True,
    tags_module: bool = True,
    clock: Clock | None = None,
    request_log_size: int = 500,
    refresh_seconds: int = 3,
) -> Flask:
    """A Flask app speaking FreeScout's API; the store is ``app.extensions["freescout_sandbox"]``.

    The Access gate is on when both ``cf_client_id`` and ``cf_client_secret`` are given.
    """
    if cf_mode not in ("403", "302"):
        raise ValueError("cf_mode must be '403' or '302'")
    state = FreeScoutSandboxState(clock, tags_module=tags_module, request_log_size=request_log_size)
    gate_id, gate_secret = (cf_client_id or "").encode(), (cf_client_secret or "").encode()
    gated = bool(gate_id and gate_secret)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["freescout_sandbox"] = state

    def is_api() -> bool:
        return request.path == "/api" or request.path.startswith("/api/")

    def authorized() -> bool:
        candidates = []
        header = request.headers.get("X-FreeScout-API-Key")
        if header is not None:
            candidates.append(header)
        elif "api_key" in request.args:
            candidates.append(request.args.get("api_key", ""))
        else:
            auth = request.authorization
            if auth is not None and auth.type == "basic":
                candidates.append(auth.username or "")
            elif auth is not None and auth.type == "bearer":  # runbook-probe extension
                candidates.append(auth.token or "")
        return any(hmac.compare_digest(c.strip().encode(), api_key.encode()) for c in candidates)

    def cf_denied() -> Response:
        if cf_mode == "302":
            target = quote(request.url, safe="")
            location = (
                f"https://{cf_team}.cloudflareaccess.com/cdn-cgi/access/login/"
                f"{request.host}?kid=sandbox&redirect_url={target}"
            )
            return Response(
                status=302,
                headers={"Location": location, "Server": "cloudflare", "CF-RAY": secrets.token_hex(8)},
            )
        ray = secrets.token_hex(8)
        return Response(
            _CF_DENIED_HTML.format(ray=ray),
            status=403,
            mimetype="text/html",
            headers={"Server": "cloudflare", "CF-RAY": ray},
        )

    @app.before_request
    def _api_gate() -> Response | None:
        if not is_api():
            return None
        present = [name for name in _AUTH_HEADERS if name in request.headers]
        entry = {
            "method": request.method,
            "path": request.path,
            "query": sorted(request.args.keys()),
            "auth_headers": present,
            "headers": sorted(name.lower() for name in request.headers.keys()),
            "user_agent": request.headers.get("User-Agent"),
            "accept": request.headers.get("Accept"),
            "status": None,
        }
        with state.lock:
            state.requests.append(entry)
        g.sandbox_entry = entry
        if gated:
            given_id = request.headers.get("CF-Access-Client-Id", "")
            given_secret = request.headers.get("CF-Access-Client-Secret", "")
            id_ok = hmac.compare_digest(given_id.encode(), gate_id)
            secret_ok = hmac.compare_digest(given_secret.encode(), gate_secret)
            if not (id_ok and secret_ok):
                return cf_denied()
        if not api_module:
            return Response(_NOT_FOUND_HTML, status=404, mimetype="text/html")
        faults = state.faults()
        if faults["mode"] == "down":
            return Response(
                "<html><body><h1>503 Service Unavailable</h1></body></html>",
                status=503,
                mimetype="text/html",
                headers={"Retry-After": "30"},
            )
        if faults["mode"] == "error500":
            return json_response({"message": "Server Error"}, 500)
        if faults["mode"] in ("ok", "slow") and faults["latency_ms"]:
            state.sleep(faults["latency_ms"] / 1000)
        routing = request.routing_exception
        if isinstance(routing, MethodNotAllowed):
            return json_response("Method Not Allowed", 405)
        if isinstance(routing, NotFound):
            return Response(_NOT_FOUND_HTML, status=404, mimetype="text/html")
        if not authorized():
            return json_response({"message": "Not Authorized"}, 401)
        return None

    @app.after_request
    def _record_status(response: Response) -> Response:
        entry = g.get("sandbox_entry")
        if entry is not None:
            with state.lock:
                entry["status"] = response.status_code
        return response

    @app.errorhandler(WireError)
    def _api_error(error: WireError) -> Response:
        return json_response(error.body, error.status)

    def conversation_id(raw: str) -> int:
        value = parse_int(raw)
        if value is None:
            raise not_found()
        return value

    # -- conversations -----------------------------------------------------------------
    @app.post("/api/conversations")
    def create_conversation() -> Response:
        conversation = state.create_conversation(json_body())
        payload = state.conversation_json(conversation, embed={"threads"}, list_item=False)
        faults = state.faults()
        if faults["mode"] == "timeout_after_create":
            state.sleep(faults["latency_ms"] / 1000)
        return json_response(payload, 201, {"Resource-ID": str(conversation.id)})

    @app.get("/api/conversations")
    def list_conversations() -> Response:
        items, total, size = state.list_conversations(request.args)
        embed = embed_param("")
        page, _ = paging(request.args)
        body = [state.conversation_json(c, embed=embed, list_item=True) for c in items]
        return json_response(hal("conversations", body, total, page, size))

    @app.get("/api/conversations/<cid>")
    def get_conversation(cid: str) -> Response:
        conversation = state.get(conversation_id(cid))
        return json_response(
            state.conversation_json(conversation, embed=embed_param("threads"), list_item=False)
        )

    @app.put("/api/conversations/<cid>")
    def update_conversation(cid: str) -> Response:
        state.update(conversation_id(cid), json_body())
        return empty_response()

    @app.delete("/api/conversations/<cid>")
    def delete_conversation(cid: str) -> Response:
        state.delete(conversation_id(cid))
        return empty_response()

    @app.put("/api/conversations/<cid>/tags")
    def update_tags(cid: str) -> Response:
        state.set_tags(conversation_id(cid), json_body())
        return empty_response()

    @app.post("/api/conversations/<cid>/threads")
    def create_thread(cid: str) -> Response:
        thread = state.add_thread(conversation_id(cid), json_body())
        return json_response(state.thread_json(thread), 201, {"Resource-ID": str(thread.id)})

    @app.get("/api/conversations/<cid>/timelogs")
    def timelogs(cid: str) -> Response:
        state.get(conversation_id(cid))
        page, size = paging(request.args)
        return json_response(hal("timelogs", [], 0, page, size))

    # -- customers, mailboxes, tags, users --------------------------------------------
    @app.get("/api/customers")
    def list_customers() -> Response:
        with state.lock:
            items = list(state.customers.values())
            args = request.args
            for name, attribute in (
                ("firstName", "first_name"),
                ("lastName", "last_name"),
                ("phone", "phone"),
            ):
                if args.get(name):
                    items = [c for c in items if getattr(c, attribute) == args.get(name)]
            if args.get("email"):
                email = args.get("email", "").strip().lower()
                items = [c for c in items if email in c.emails]
            updated_since = parse_date(args.get("updatedSince"))
            if updated_since:
                items = [c for c in items if c.updated_at >= updated_since]
            field_name = {"firstName": "first_name", "lastName": "last_name", "updatedAt": "updated_at"}.get(
                args.get("sortField", ""), "created_at"
            )
            items.sort(
                key=lambda c: (getattr(c, field_name) or "", c.id),
                reverse=(args.get("sortOrder") or "desc").lower() != "asc",
            )
            page, size = paging(args)
            chunk = items[(page - 1) * size : page * size]
            body = [state.customer_json(c) for c in chunk]
            return json_response(hal("customers", body, len(items), page, size))

    @app.get("/api/customers/<cid>")
    def get_customer(cid: str) -> Response:
        with state.lock:
            customer = state.customers.get(parse_int(cid) or -1)
            if customer is None:
                raise not_found()
            return json_response(state.customer_json(customer))

    @app.get("/api/mailboxes")
    def list_mailboxes() -> Response:
        with state.lock:
            items = sorted(state.mailboxes.values(), key=lambda m: m.id)
            page, size = paging(request.args)
            chunk = [state.mailbox_json(m) for m in items[(page - 1) * size : page * size]]
            return json_response(hal("mailboxes", chunk, len(items), page, size))

    @app.get("/api/mailboxes/<mid>")
    def get_mailbox(mid: str) -> Response:
        """Extension (not in FreeScout): the runbook's Step 2 probe uses it."""
        with state.lock:
            mailbox = state.mailboxes.get(parse_int(mid) or -1)
            if mailbox is None:
                raise not_found()
            return json_response(state.mailbox_json(mailbox))

    @app.get("/api/tags")
    def list_tags() -> Response:
        with state.lock:
            counts: dict[str, int] = {}
            wanted = parse_int(request.args.get("conversationId"))
            for conversation in state.conversations.values():
                if wanted is not None and conversation.id != wanted:
                    continue
                for name in conversation.tags:
                    counts[name] = counts.get(name, 0) + 1
            names = sorted(
                counts if wanted is not None else state.tag_ids, key=lambda n: state.tag_ids.get(n, 0)
            )
            items = [
                {"id": state.tag_ids.get(n, 0), "name": n, "counter": counts.get(n, 0), "color": 0}
                for n in names
            ]
            page, size = paging(request.args)
            return json_response(hal("tags", items[(page - 1) * size : page * size], len(items), page, size))

    @app.get("/api/users")
    def list_users() -> Response:
        with state.lock:
            items = [state.user_json(u) for u in sorted(state.users.values(), key=lambda u: u.id)]
            page, size = paging(request.args)
            return json_response(hal("users", items[(page - 1) * size : page * size], len(items), page, size))

    @app.get("/api/users/<uid>")
    def get_user(uid: str) -> Response:
        with state.lock:
            user = state.users.get(parse_int(uid) or -1)
            if user is None:
                raise not_found()
            return json_response(state.user_json(user))

    # -- sandbox controls ---------------------------------------------------------------
    @app.get("/_sandbox/faults")
    def get_faults() -> Response:
        return json_response(state.faults())

    @app.post("/_sandbox/faults")
    def post_faults() -> Response:
        return json_response(state.set_faults(request.get_json(silent=True)))

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        state.reset()
        return json_response({"reset": True})

    @app.get("/_sandbox/requests")
    def get_requests() -> Response:
        with state.lock:
            return json_response({"requests": [dict(entry) for entry in state.requests]})

    @app.delete("/_sandbox/requests")
    def clear_requests() -> Response:
        with state.lock:
            state.requests.clear()
        return empty_response()

    # -- pages for people -------------------------------------------------------------
    def summary(c: Conversation) -> dict[str, Any]:
        customer = state.customers.get(c.customer_id)
        mailbox = state.mailboxes.get(c.mailbox_id)
        return {
            "id": c.id,
            "number": c.number,
            "subject": c.subject,
            "status": c.status,
            "tags": list(c.tags),
            "mailbox": mailbox.name if mailbox else c.mailbox_id,
            "customer": customer.emails[0] if customer and customer.emails else "",
            "created": fmt(c.created_at),
        }

    @app.get("/")
    def index() -> str:
        with state.lock:
            conversations = sorted(
                state.conversations.values(), key=lambda c: (c.created_at, c.id), reverse=True
            )
            rows = [summary(c) for c in conversations]
        return render_template_string(
            _LIST_PAGE, conversations=rows, faults=state.faults(), refresh=refresh_seconds
        )

    @app.get("/conversation/<cid>")
    @app.get("/conversations/<cid>")
    def conversation_page(cid: str) -> Response | str:
        with state.lock:
            conversation = state.conversations.get(parse_int(cid) or -1)
            if conversation is None:
                return Response(_NOT_FOUND_HTML, status=404, mimetype="text/html")
            data = summary(conversation)
            data["threads"] = []
            for thread in conversation.threads:
                if thread.user_id is not None and thread.user_id in state.users:
                    user = state.users[thread.user_id]
                    author = f"{user.first_name} {user.last_name}"
                else:
                    customer = state.customers.get(thread.customer_id or -1)
                    author = customer.emails[0] if customer and customer.emails else "customer"
                data["threads"].append(
                    {
                        "type": thread.type,
                        "author": author,
                        "created": fmt(thread.created_at),
                        "text": html_text(thread.body),
                    }
                )
        return render_template_string(_CONVERSATION_PAGE, c=data)

    return app
