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
import html
import math
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, jsonify, render_template_string, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from raxx_console.clock import Clock, SystemClock

DEFAULT_API_KEY = "sandbox-freescout-api-key"
FAULT_MODES = ("ok", "down", "error500", "slow", "timeout_after_create")
_DEFAULT_LATENCY = {"ok": 0, "down": 0, "error500": 0, "slow": 2000, "timeout_after_create": 5000}
_MAX_LATENCY_MS = 120_000
_STATUSES = ("active", "pending", "closed", "spam")
_THREAD_TYPES = ("customer", "message", "note")
_CONVERSATION_TYPES = ("email", "phone", "chat")
_SORT_FIELDS = ("createdAt", "mailboxId", "number", "subject", "updatedAt", "waitingSince")
_AUTH_HEADERS = ("X-FreeScout-API-Key", "CF-Access-Client-Id", "CF-Access-Client-Secret", "Authorization")
_NUMBER_OFFSET = 1000
_NOT_FOUND_HTML = (
    "<!DOCTYPE html><html><head><title>Page not found</title></head><body>"
    "<h1>404</h1><p>Sorry, the page you are looking for could not be found.</p></body></html>"
)
_CF_DENIED_HTML = (
    "<!DOCTYPE html><html><head><title>Access denied · Cloudflare Access</title></head><body>"
    "<h1>Forbidden</h1><p>You don't have permission to view this application.</p>"
    "<p>Cloudflare Access · Ray ID: {ray}</p></body></html>"
)


def _fmt(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _fmt_dashed(value: datetime) -> str:
    """The docs' mailbox/user timestamp style, ``2020-08-09T10-09-00Z``."""
    return value.strftime("%Y-%m-%dT%H-%M-%SZ")


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2})[:-](\d{2})[:-](\d{2})(?:\.\d+)?(Z|[+-]00:?00)?$")


def _parse_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip())
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(body: str) -> str:
    """HTML body → plain text (for previews and the demo page, which escapes it again)."""
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", body)
    return html.unescape(re.sub(r"<[^>]+>", "", body)).strip()


# --------------------------------------------------------------------------- the store


@dataclass
class _User:
    id: int
    first_name: str
    last_name: str
    email: str
    created_at: datetime


@dataclass
class _Mailbox:
    id: int
    name: str
    email: str
    created_at: datetime


@dataclass
class _Customer:
    id: int
    first_name: str | None
    last_name: str | None
    emails: list[str]
    phone: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class _Thread:
    id: int
    type: str
    body: str
    status: str
    state: str
    created_at: datetime
    user_id: int | None
    customer_id: int | None


@dataclass
class _Conversation:
    id: int
    number: int
    type: str
    status: str
    subject: str
    mailbox_id: int
    customer_id: int
    created_at: datetime
    updated_at: datetime
    imported: bool
    state: str = "published"
    assignee_id: int | None = None
    closed_at: datetime | None = None
    closed_by: int | None = None
    user_updated_at: datetime | None = None
    threads: list[_Thread] = field(default_factory=list)  # newest first, as FreeScout
    tags: list[str] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _validation(errors: list[dict[str, str]]) -> _ApiError:
    return _ApiError(400, {"message": "Error occurred", "_embedded": {"errors": errors}})


def _err(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message, "source": "JSON"}


def _not_found() -> _ApiError:
    return _ApiError(404, {"message": "Not Found", "_embedded": {"errors": []}})


class FreeScoutSandboxState:
    """The in-memory FreeScout behind the sandbox app; every method holds the lock."""

    def __init__(
        self, clock: Clock | None = None, *, tags_module: bool = True, request_log_size: int = 500
    ) -> None:
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self._wake = threading.Condition(self.lock)
        self._generation = 0
        self._default_tags_module = tags_module
        self.requests: deque[dict[str, Any]] = deque(maxlen=request_log_size)
        self.reset()

    # -- lifecycle and faults -------------------------------------------------------
    def reset(self) -> None:
        """Back to the seed data, no faults, an empty request log; wakes sleeping answers."""
        with self.lock:
            seeded = datetime(2026, 1, 5, 9, 30, 0, tzinfo=UTC)
            self.users = {
                1: _User(1, "Raxx Console", "Bot", "console-bot@raxx.app", seeded),
                2: _User(2, "Olive", "Operator", "olive@raxx.app", seeded),
            }
            self.mailboxes = {
                1: _Mailbox(1, "Support", "support@raxx.app", seeded),
                2: _Mailbox(2, "Operations", "ops@raxx.app", seeded),
            }
            self.customers: dict[int, _Customer] = {}
            self.conversations: dict[int, _Conversation] = {}
            self.tag_ids: dict[str, int] = {}
            self._next = {"conversation": 1, "thread": 1, "customer": 1, "tag": 1}
            self.mode = "ok"
            self.latency_ms = 0
            self.tags_module = self._default_tags_module
            self.requests.clear()
            self._generation += 1
            self._wake.notify_all()

    def faults(self) -> dict[str, Any]:
        with self.lock:
            return {"mode": self.mode, "latency_ms": self.latency_ms, "tags_module": self.tags_module}

    def set_faults(self, payload: object) -> dict[str, Any]:
        """Validate and apply ``{"mode", "latency_ms", "tags_module"}``; raise _ApiError(400)."""
        if not isinstance(payload, dict):
            raise _ApiError(400, {"error": "expected a JSON object"})
        unknown = sorted(set(payload) - {"mode", "latency_ms", "tags_module"})
        if unknown:
            raise _ApiError(400, {"error": f"unknown field(s): {', '.join(unknown)}"})
        mode = payload.get("mode", None)
        if mode is not None and mode not in FAULT_MODES:
            raise _ApiError(400, {"error": f"mode must be one of {', '.join(FAULT_MODES)}"})
        latency = payload.get("latency_ms")
        if latency is not None and (
            isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency <= _MAX_LATENCY_MS
        ):
            raise _ApiError(400, {"error": f"latency_ms must be an integer 0..{_MAX_LATENCY_MS}"})
        tags_module = payload.get("tags_module")
        if tags_module is not None and not isinstance(tags_module, bool):
            raise _ApiError(400, {"error": "tags_module must be true or false"})
        with self.lock:
            if mode is not None:
                self.mode = mode
                self.latency_ms = _DEFAULT_LATENCY[mode] if latency is None else latency
            elif latency is not None:
                self.latency_ms = latency
            if tags_module is not None:
                self.tags_module = tags_module
            self._generation += 1
            self._wake.notify_all()
        return self.faults()

    def sleep(self, seconds: float) -> None:
        """Wait, but wake early when faults change or the store resets (fast teardown)."""
        if seconds <= 0:
            return
        with self.lock:
            generation = self._generation
            self._wake.wait_for(lambda: self._generation != generation, timeout=seconds)

    def _id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def _now(self) -> datetime:
        return self.clock.now().astimezone(UTC).replace(microsecond=0)

    # -- customers ------------------------------------------------------------------
    def _customer_for(
        self, spec: dict[str, Any], path: str, errors: list[dict[str, str]]
    ) -> _Customer | None:
        """Lookup order id → email → phone; create when nothing matches (FreeScout's rule)."""
        customer_id = spec.get("id")
        if customer_id is not None:
            found = self.customers.get(_int(customer_id) or -1)
            if found is None:
                errors.append(_err(f"{path}.id", f"Customer with the following ID not found: {customer_id}"))
            return found
        email = spec.get("email")
        email = email.strip().lower() if isinstance(email, str) and email.strip() else None
        phone = spec.get("phone") if isinstance(spec.get("phone"), str) else None
        if email:
            for customer in self.customers.values():
                if email in customer.emails:
                    return customer
        elif phone:
            for customer in self.customers.values():
                if customer.phone == phone:
                    return customer
        first = spec.get("firstName") if isinstance(spec.get("firstName"), str) else None
        if not email and not first and not phone:
            errors.append(_err(f"{path}.first_name", "Customer first name or email is required."))
            return None
        now = self._now()
        customer = _Customer(
            id=self._id("customer"),
            first_name=first,
            last_name=spec.get("lastName") if isinstance(spec.get("lastName"), str) else None,
            emails=[email] if email else [],
            phone=phone,
            created_at=now,
            updated_at=now,
        )
        self.customers[customer.id] = customer
        return customer

    # -- conversations --------------------------------------------------------------
    def create_conversation(self, data: dict[str, Any]) -> _Conversation:
        with self.lock:
            errors: list[dict[str, str]] = []
            conv_type = data.get("type")
            if conv_type in (None, ""):
                errors.append(_err("type", "`type` parameter is required"))
            elif conv_type not in _CONVERSATION_TYPES:
                errors.append(_err("type", "`type` must be one of: email, phone, chat"))
            subject = data.get("subject")
            if not isinstance(subject, str) or not subject.strip():
                errors.append(_err("subject", "`subject` parameter is required"))
            mailbox_id = data.get("mailboxId")
            if mailbox_id in (None, ""):
                errors.append(_err("mailboxId", "`mailboxId` parameter is required"))
            customer_spec = data.get("customer")
            if not isinstance(customer_spec, dict) or not customer_spec:
                errors.append(_err("customer", "`customer` parameter is required"))
            threads = data.get("threads")
            if not isinstance(threads, list):
                errors.append(_err("threads", "'threads' parameter must be an array"))
            elif not threads:
                errors.append(_err("threads", "Conversation must contain at least one thread"))
            else:
                for index, thread in enumerate(threads):
                    self._validate_thread(thread, f"threads.{index}", errors)
            if errors:
                raise _validation(errors)
            assert isinstance(subject, str) and isinstance(customer_spec, dict) and isinstance(threads, list)
            assert isinstance(conv_type, str)
            mailbox = self.mailboxes.get(_int(mailbox_id) or -1)
            if mailbox is None:
                raise _validation([_err("mailboxId", "Mailbox not found")])
            customer = self._customer_for(customer_spec, "customer", errors)
            if errors or customer is None:
                raise _validation(errors)
            status = data.get("status")
            status = status if status in ("active", "pending", "closed") else "active"
            imported = data.get("imported") is True
            now = self._now()
            created_at = _parse_date(data.get("createdAt")) or now
            assignee = _int(data.get("assignTo"))
            conversation_id = self._id("conversation")
            conversation = _Conversation(
                id=conversation_id,
                number=conversation_id + _NUMBER_OFFSET,
                type=conv_type,
                status=status,
                subject=subject.strip(),
                mailbox_id=mailbox.id,
                customer_id=customer.id,
                created_at=created_at,
                updated_at=created_at,
                imported=imported,
                assignee_id=assignee if assignee in self.users else None,
            )
            for thread in threads:  # newest first on input and on output
                conversation.threads.append(self._make_thread(conversation, thread, created_at, customer.id))
            if status == "closed":
                conversation.closed_at = _parse_date(data.get("closedAt")) if imported else None
                conversation.closed_at = conversation.closed_at or now
            self.conversations[conversation.id] = conversation
            return conversation

    def _validate_thread(self, thread: object, path: str, errors: list[dict[str, str]]) -> None:
        if not isinstance(thread, dict):
            errors.append(_err(path, "Thread must be an object"))
            return
        thread_type = thread.get("type")
        if thread_type not in _THREAD_TYPES:
            errors.append(_err(f"{path}.type", "`type` must be one of: customer, message, note"))
        text = thread.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append(_err(f"{path}.text", "`text` parameter is required"))
        if thread_type in ("message", "note"):
            user = thread.get("user")
            if user in (None, ""):
                errors.append(_err(f"{path}.user", "`user` parameter is required"))
            elif _int(user) not in self.users:
                errors.append(_err(f"{path}.user", "User not found."))

    def _make_thread(
        self, conversation: _Conversation, spec: dict[str, Any], created_at: datetime, fallback_customer: int
    ) -> _Thread:
        customer_id = None
        if spec["type"] == "customer":
            customer_spec = spec.get("customer")
            customer = None
            if isinstance(customer_spec, dict) and customer_spec:
                customer = self._customer_for(customer_spec, "customer", [])
            customer_id = customer.id if customer else fallback_customer
        state = spec.get("state") if spec.get("state") in ("draft", "published") else "published"
        return _Thread(
            id=self._id("thread"),
            type=spec["type"],
            body=spec["text"],
            status=str(spec.get("status")) if spec.get("status") in _STATUSES else conversation.status,
            state=str(state),
            created_at=created_at,
            user_id=_int(spec.get("user")) if spec["type"] != "customer" else None,
            customer_id=customer_id,
        )

    def get(self, conversation_id: int) -> _Conversation:
        with self.lock:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                raise _not_found()
            return conversation

    def update(self, conversation_id: int, data: dict[str, Any]) -> None:
        """Apply parameters in the order sent; ``byUser`` is required for status/assignee/mailbox.

        Everything is validated before anything changes, so a 400 leaves the conversation as
        it was.
        """
        with self.lock:
            conversation = self.get(conversation_id)
            needs_user = any(key in data for key in ("status", "assignTo", "mailboxId"))
            by_user = data.get("byUser")
            if needs_user:
                if by_user in (None, ""):
                    raise _validation([_err("byUser", "byUser parameter is required.")])
                if _int(by_user) not in self.users:
                    raise _validation([_err("byUser", "User not found.")])
            unassign = (None, "", 0, -1)
            if "assignTo" in data and data["assignTo"] not in unassign:
                if _int(data["assignTo"]) not in self.users:
                    raise _validation([_err("assignTo", "User not found.")])
            if "mailboxId" in data and _int(data["mailboxId"]) not in self.mailboxes:
                raise _validation([_err("mailboxId", "Mailbox not found")])
            if "customerId" in data and _int(data["customerId"]) not in self.customers:
                raise _validation([_err("customerId", "Customer not found.")])
            now = self._now()
            for key, value in data.items():
                if key == "status":
                    status = value if value in _STATUSES else "active"
                    if status == "closed" and conversation.status != "closed":
                        conversation.closed_at = now
                        conversation.closed_by = _int(by_user)
                    elif status != "closed":
                        conversation.closed_at = None
                        conversation.closed_by = None
                    conversation.status = status
                elif key == "assignTo":
                    assignee = _int(value)
                    conversation.assignee_id = assignee if assignee in self.users else None
                elif key == "mailboxId":
                    conversation.mailbox_id = _int(value) or conversation.mailbox_id
                elif key == "customerId":
                    conversation.customer_id = _int(value) or conversation.customer_id
                elif key == "subject" and isinstance(value, str) and value.strip():
                    conversation.subject = value.strip()
            conversation.updated_at = now
            if by_user is not None:
                conversation.user_updated_at = now

    def delete(self, conversation_id: int) -> None:
        with self.lock:
            self.get(conversation_id)
            del self.conversations[conversation_id]

    def set_tags(self, conversation_id: int, data: dict[str, Any]) -> None:
        with self.lock:
            conversation = self.get(conversation_id)
            if not self.tags_module:
                raise _validation([_err("tags", "Tags module is not installed or not activated")])
            tags = data.get("tags")
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise _validation([_err("tags", "'tags' parameter must be an array")])
            names: list[str] = []
            for tag in tags:
                name = tag.strip()
                if name and name not in names:
                    names.append(name)
                    if name not in self.tag_ids:
                        self.tag_ids[name] = self._id("tag")
            conversation.tags = names
            conversation.updated_at = self._now()

    def add_thread(self, conversation_id: int, data: dict[str, Any]) -> _Thread:
        with self.lock:
            conversation = self.get(conversation_id)
            errors: list[dict[str, str]] = []
            self._validate_thread(data, "thread", errors)
            if errors:
                for error in errors:
                    error["path"] = error["path"].removeprefix("thread.")
                raise _validation(errors)
            now = self._now()
            thread = self._make_thread(conversation, data, now, conversation.customer_id)
            explicit = data.get("status")
            if explicit in _STATUSES:
                conversation.status = explicit
            elif data["type"] == "customer":
                conversation.status = "active"
            elif data["type"] == "message":
                conversation.status = "pending"
            thread.status = conversation.status
            if conversation.status != "closed":
                conversation.closed_at = None
            conversation.threads.insert(0, thread)
            conversation.updated_at = now
            if thread.user_id is not None:
                conversation.user_updated_at = now
            return thread

    def list_conversations(self, args: Any) -> tuple[list[_Conversation], int, int]:
        """Filter and sort per the documented parameters; returns (page items, total, size)."""
        with self.lock:
            items = list(self.conversations.values())

            def ints(name: str) -> set[int] | None:
                raw = args.get(name)
                if raw is None or raw == "":
                    return None
                return {v for v in (_int(p) for p in raw.split(",")) if v is not None}

            mailbox_ids = ints("mailboxId")
            if mailbox_ids is not None:
                items = [c for c in items if c.mailbox_id in mailbox_ids]
            folder_ids = ints("folderId")
            if folder_ids is not None:
                items = [c for c in items if _folder_id(c) in folder_ids]
            status = args.get("status")
            if status:
                wanted = {s.strip() for s in status.split(",") if s.strip()}
                items = [c for c in items if c.status in wanted]
            for name, attribute in (("state", "state"), ("type", "type")):
                value = args.get(name)
                if value:
                    items = [c for c in items if getattr(c, attribute) == value]
            if "assignedTo" in args:
                raw = args.get("assignedTo", "")
                if raw == "":
                    items = [c for c in items if c.assignee_id is None]
                else:
                    items = [c for c in items if c.assignee_id == _int(raw)]
            email = args.get("customerEmail")
            if email:
                email = email.strip().lower()
                items = [c for c in items if email in self.customers[c.customer_id].emails]
            phone = args.get("customerPhone")
            if phone:
                items = [c for c in items if self.customers[c.customer_id].phone == phone]
            for name in ("customerId", "createdByCustomerId"):
                if args.get(name):
                    wanted_id = _int(args.get(name))
                    items = [
                        c
                        for c in items
                        if c.customer_id == wanted_id and (name == "customerId" or _created_by_customer(c))
                    ]
            if args.get("createdByUserId"):
                wanted_user = _int(args.get("createdByUserId"))
                items = [c for c in items if _created_by_user(c) == wanted_user]
            if args.get("number"):
                items = [c for c in items if c.number == _int(args.get("number"))]
            subject = args.get("subject")
            if subject:
                needle = subject.lower()
                items = [c for c in items if needle in c.subject.lower()]
            tag = args.get("tag")
            if tag:
                items = [c for c in items if tag.strip().lower() in {t.lower() for t in c.tags}]
            created_since = _parse_date(args.get("createdSince"))
            if created_since:
                items = [c for c in items if c.created_at >= created_since]
            updated_since = _parse_date(args.get("updatedSince"))
            if updated_since:
                items = [c for c in items if c.updated_at >= updated_since]

            sort_field = args.get("sortField")
            sort_field = sort_field if sort_field in _SORT_FIELDS else "createdAt"
            descending = (args.get("sortOrder") or "desc").lower() != "asc"
            keys: dict[str, Callable[[_Conversation], Any]] = {
                "createdAt": lambda c: c.created_at,
                "mailboxId": lambda c: c.mailbox_id,
                "number": lambda c: c.number,
                "subject": lambda c: c.subject.lower(),
                "updatedAt": lambda c: c.updated_at,
                "waitingSince": _waiting_since,
            }
            key = keys[sort_field]
            items.sort(key=lambda c: (key(c), c.id), reverse=descending)
            page, size = _paging(args)
            total = len(items)
            return items[(page - 1) * size : page * size], total, size

    # -- serialisers ------------------------------------------------------------------
    def person_user(self, user_id: int | None) -> dict[str, Any] | None:
        user = self.users.get(user_id) if user_id is not None else None
        if user is None:
            return None
        return {
            "id": user.id,
            "type": "user",
            "firstName": user.first_name,
            "lastName": user.last_name,
            "photoUrl": None,
            "email": user.email,
        }

    def person_customer(self, customer_id: int | None) -> dict[str, Any] | None:
        customer = self.customers.get(customer_id) if customer_id is not None else None
        if customer is None:
            return None
        return {
            "id": customer.id,
            "type": "customer",
            "firstName": customer.first_name,
            "lastName": customer.last_name,
            "photoUrl": None,
            "email": customer.emails[0] if customer.emails else None,
        }

    def thread_json(self, thread: _Thread) -> dict[str, Any]:
        by_user = thread.type != "customer"
        return {
            "id": thread.id,
            "type": thread.type,
            "status": thread.status,
            "state": thread.state,
            "action": None,
            "body": thread.body,
            "source": {"type": "api", "via": "user" if by_user else "customer"},
            "customer": self.person_customer(thread.customer_id),
            "createdBy": self.person_user(thread.user_id)
            if by_user
            else self.person_customer(thread.customer_id),
            "assignedTo": None,
            "to": [],
            "cc": [],
            "bcc": [],
            "createdAt": _fmt(thread.created_at),
            "openedAt": None,
            "_embedded": {"attachments": []},
        }

    def conversation_json(self, c: _Conversation, *, embed: set[str], list_item: bool) -> dict[str, Any]:
        with self.lock:
            visible = [t for t in c.threads if t.type in ("customer", "message")]
            latest_customer = next((t for t in c.threads if t.type == "customer"), None)
            oldest = c.threads[-1] if c.threads else None
            data: dict[str, Any] = {"id": c.id, "number": c.number}
            data["threads" if list_item else "threadsCount"] = len(c.threads)
            data.update(
                {
                    "type": c.type,
                    "folderId": _folder_id(c),
                    "status": c.status,
                    "state": c.state,
                    "subject": c.subject,
                    "preview": _text(visible[0].body)[:255] if visible else "",
                    "mailboxId": c.mailbox_id,
                    "assignee": self.person_user(c.assignee_id),
                    "createdBy": (
                        self.person_customer(oldest.customer_id)
                        if oldest and oldest.type == "customer"
                        else self.person_user(oldest.user_id if oldest else None)
                    ),
                    "createdAt": _fmt(c.created_at),
                    "updatedAt": _fmt(c.updated_at),
                    "closedBy": c.closed_by,
                    "closedByUser": self.person_user(c.closed_by),
                    "closedAt": _fmt(c.closed_at),
                    "userUpdatedAt": _fmt(c.user_updated_at),
                    "customerWaitingSince": {
                        "time": _fmt(latest_customer.created_at) if latest_customer else None,
                        "friendly": None,
                        "latestReplyFrom": (
                            "customer" if visible and visible[0].type == "customer" else "user"
                        ),
                    },
                    "source": {"type": "api", "via": "customer"},
                    "cc": [],
                    "bcc": [],
                    "customer": self.person_customer(c.customer_id),
                    "customFields": [],
                }
            )
            embedded: dict[str, Any] = {}
            if "threads" in embed:
                embedded["threads"] = [self.thread_json(t) for t in c.threads]
            if "timelogs" in embed:
                embedded["timelogs"] = []
            if "tags" in embed:
                embedded["tags"] = [{"id": self.tag_ids.get(name, 0), "name": name} for name in c.tags]
            if embedded:
                data["_embedded"] = embedded
            return data

    def customer_json(self, customer: _Customer) -> dict[str, Any]:
        return {
            "id": customer.id,
            "firstName": customer.first_name,
            "lastName": customer.last_name,
            "company": None,
            "jobTitle": None,
            "photoType": "unknown",
            "photoUrl": None,
            "createdAt": _fmt(customer.created_at),
            "updatedAt": _fmt(customer.updated_at),
            "notes": None,
            "_embedded": {
                "emails": [
                    {"id": customer.id * 10 + i, "value": e, "type": "work"}
                    for i, e in enumerate(customer.emails)
                ],
                "phones": [{"id": customer.id, "value": customer.phone, "type": "work"}]
                if customer.phone
                else [],
                "social_profiles": [],
                "websites": [],
                "address": {"city": None, "state": None, "zip": None, "country": None, "address": None},
            },
        }

    def mailbox_json(self, mailbox: _Mailbox) -> dict[str, Any]:
        return {
            "id": mailbox.id,
            "name": mailbox.name,
            "email": mailbox.email,
            "createdAt": _fmt_dashed(mailbox.created_at),
            "updatedAt": _fmt_dashed(mailbox.created_at),
        }

    def user_json(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.id,
            "firstName": user.first_name,
            "lastName": user.last_name,
            "email": user.email,
            "role": "admin" if user.id == 1 else "user",
            "alternateEmails": "",
            "jobTitle": None,
            "phone": None,
            "timezone": "UTC",
            "photoUrl": None,
            "language": "en",
            "createdAt": _fmt_dashed(user.created_at),
            "updatedAt": _fmt_dashed(user.created_at),
        }


def _folder_id(conversation: _Conversation) -> int:
    return conversation.mailbox_id * 100 + 1


def _created_by_customer(conversation: _Conversation) -> bool:
    return bool(conversation.threads) and conversation.threads[-1].type == "customer"


def _created_by_user(conversation: _Conversation) -> int | None:
    if conversation.threads and conversation.threads[-1].type != "customer":
        return conversation.threads[-1].user_id
    return None


def _waiting_since(conversation: _Conversation) -> datetime:
    latest = next((t for t in conversation.threads if t.type == "customer"), None)
    return latest.created_at if latest else conversation.created_at


def _paging(args: Any) -> tuple[int, int]:
    page = _int(args.get("page")) or 1
    size = _int(args.get("pageSize")) or 50
    return max(1, page), max(1, min(size, 1000))


def _hal(name: str, items: list[dict[str, Any]], total: int, page: int, size: int) -> dict[str, Any]:
    """FreeScout's list envelope: no ``_links``; ``totalPages`` is at least 1."""
    return {
        "_embedded": {name: items},
        "page": {
            "size": size,
            "totalElements": total,
            "totalPages": max(1, math.ceil(total / size)),
            "number": page,
        },
    }


def _embed(default: str) -> set[str]:
    raw = request.args.get("embed")
    if raw is None:
        return {default} if default else set()
    return {part.strip() for part in raw.split(",") if part.strip()}


def _body() -> dict[str, Any]:
    """Laravel reads an unparsable or non-object body as no input (so: validation errors)."""
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _empty(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers=headers or {})


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
            return _json({"message": "Server Error"}, 500)
        if faults["mode"] in ("ok", "slow") and faults["latency_ms"]:
            state.sleep(faults["latency_ms"] / 1000)
        routing = request.routing_exception
        if isinstance(routing, MethodNotAllowed):
            return _json("Method Not Allowed", 405)
        if isinstance(routing, NotFound):
            return Response(_NOT_FOUND_HTML, status=404, mimetype="text/html")
        if not authorized():
            return _json({"message": "Not Authorized"}, 401)
        return None

    @app.after_request
    def _record_status(response: Response) -> Response:
        entry = g.get("sandbox_entry")
        if entry is not None:
            with state.lock:
                entry["status"] = response.status_code
        return response

    @app.errorhandler(_ApiError)
    def _api_error(error: _ApiError) -> Response:
        return _json(error.body, error.status)

    def conversation_id(raw: str) -> int:
        value = _int(raw)
        if value is None:
            raise _not_found()
        return value

    # -- conversations -----------------------------------------------------------------
    @app.post("/api/conversations")
    def create_conversation() -> Response:
        conversation = state.create_conversation(_body())
        payload = state.conversation_json(conversation, embed={"threads"}, list_item=False)
        faults = state.faults()
        if faults["mode"] == "timeout_after_create":
            state.sleep(faults["latency_ms"] / 1000)
        return _json(payload, 201, {"Resource-ID": str(conversation.id)})

    @app.get("/api/conversations")
    def list_conversations() -> Response:
        items, total, size = state.list_conversations(request.args)
        embed = _embed("")
        page, _ = _paging(request.args)
        body = [state.conversation_json(c, embed=embed, list_item=True) for c in items]
        return _json(_hal("conversations", body, total, page, size))

    @app.get("/api/conversations/<cid>")
    def get_conversation(cid: str) -> Response:
        conversation = state.get(conversation_id(cid))
        return _json(state.conversation_json(conversation, embed=_embed("threads"), list_item=False))

    @app.put("/api/conversations/<cid>")
    def update_conversation(cid: str) -> Response:
        state.update(conversation_id(cid), _body())
        return _empty()

    @app.delete("/api/conversations/<cid>")
    def delete_conversation(cid: str) -> Response:
        state.delete(conversation_id(cid))
        return _empty()

    @app.put("/api/conversations/<cid>/tags")
    def update_tags(cid: str) -> Response:
        state.set_tags(conversation_id(cid), _body())
        return _empty()

    @app.post("/api/conversations/<cid>/threads")
    def create_thread(cid: str) -> Response:
        thread = state.add_thread(conversation_id(cid), _body())
        return _json(state.thread_json(thread), 201, {"Resource-ID": str(thread.id)})

    @app.get("/api/conversations/<cid>/timelogs")
    def timelogs(cid: str) -> Response:
        state.get(conversation_id(cid))
        page, size = _paging(request.args)
        return _json(_hal("timelogs", [], 0, page, size))

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
            updated_since = _parse_date(args.get("updatedSince"))
            if updated_since:
                items = [c for c in items if c.updated_at >= updated_since]
            field_name = {"firstName": "first_name", "lastName": "last_name", "updatedAt": "updated_at"}.get(
                args.get("sortField", ""), "created_at"
            )
            items.sort(
                key=lambda c: (getattr(c, field_name) or "", c.id),
                reverse=(args.get("sortOrder") or "desc").lower() != "asc",
            )
            page, size = _paging(args)
            chunk = items[(page - 1) * size : page * size]
            body = [state.customer_json(c) for c in chunk]
            return _json(_hal("customers", body, len(items), page, size))

    @app.get("/api/customers/<cid>")
    def get_customer(cid: str) -> Response:
        with state.lock:
            customer = state.customers.get(_int(cid) or -1)
            if customer is None:
                raise _not_found()
            return _json(state.customer_json(customer))

    @app.get("/api/mailboxes")
    def list_mailboxes() -> Response:
        with state.lock:
            items = sorted(state.mailboxes.values(), key=lambda m: m.id)
            page, size = _paging(request.args)
            chunk = [state.mailbox_json(m) for m in items[(page - 1) * size : page * size]]
            return _json(_hal("mailboxes", chunk, len(items), page, size))

    @app.get("/api/mailboxes/<mid>")
    def get_mailbox(mid: str) -> Response:
        """Extension (not in FreeScout): the runbook's Step 2 probe uses it."""
        with state.lock:
            mailbox = state.mailboxes.get(_int(mid) or -1)
            if mailbox is None:
                raise _not_found()
            return _json(state.mailbox_json(mailbox))

    @app.get("/api/tags")
    def list_tags() -> Response:
        with state.lock:
            counts: dict[str, int] = {}
            wanted = _int(request.args.get("conversationId"))
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
            page, size = _paging(request.args)
            return _json(_hal("tags", items[(page - 1) * size : page * size], len(items), page, size))

    @app.get("/api/users")
    def list_users() -> Response:
        with state.lock:
            items = [state.user_json(u) for u in sorted(state.users.values(), key=lambda u: u.id)]
            page, size = _paging(request.args)
            return _json(_hal("users", items[(page - 1) * size : page * size], len(items), page, size))

    @app.get("/api/users/<uid>")
    def get_user(uid: str) -> Response:
        with state.lock:
            user = state.users.get(_int(uid) or -1)
            if user is None:
                raise _not_found()
            return _json(state.user_json(user))

    # -- sandbox controls ---------------------------------------------------------------
    @app.get("/_sandbox/faults")
    def get_faults() -> Response:
        return _json(state.faults())

    @app.post("/_sandbox/faults")
    def post_faults() -> Response:
        return _json(state.set_faults(request.get_json(silent=True)))

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        state.reset()
        return _json({"reset": True})

    @app.get("/_sandbox/requests")
    def get_requests() -> Response:
        with state.lock:
            return _json({"requests": [dict(entry) for entry in state.requests]})

    @app.delete("/_sandbox/requests")
    def clear_requests() -> Response:
        with state.lock:
            state.requests.clear()
        return _empty()

    # -- pages for people -------------------------------------------------------------
    def summary(c: _Conversation) -> dict[str, Any]:
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
            "created": _fmt(c.created_at),
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
            conversation = state.conversations.get(_int(cid) or -1)
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
                        "created": _fmt(thread.created_at),
                        "text": _text(thread.body),
                    }
                )
        return render_template_string(_CONVERSATION_PAGE, c=data)

    return app
