"""The in-memory FreeScout behind the sandbox: seed data, conversations, customers, tags,
faults and the request log, with the JSON each record answers as (read under the store's lock)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from raxx_console.clock import Clock, SystemClock
from raxx_console.sandbox.freescout_wire import (
    WireError,
    field_error,
    fmt,
    fmt_dashed,
    html_text,
    not_found,
    paging,
    parse_date,
    parse_int,
    validation_error,
)

FAULT_MODES = ("ok", "down", "error500", "slow", "timeout_after_create")
_DEFAULT_LATENCY = {"ok": 0, "down": 0, "error500": 0, "slow": 2000, "timeout_after_create": 5000}
_MAX_LATENCY_MS = 120_000
_STATUSES = ("active", "pending", "closed", "spam")
_THREAD_TYPES = ("customer", "message", "note")
_CONVERSATION_TYPES = ("email", "phone", "chat")
_SORT_FIELDS = ("createdAt", "mailboxId", "number", "subject", "updatedAt", "waitingSince")
_NUMBER_OFFSET = 1000


@dataclass
class User:
    id: int
    first_name: str
    last_name: str
    email: str
    created_at: datetime


@dataclass
class Mailbox:
    id: int
    name: str
    email: str
    created_at: datetime


@dataclass
class Customer:
    id: int
    first_name: str | None
    last_name: str | None
    emails: list[str]
    phone: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Thread:
    id: int
    type: str
    body: str
    status: str
    state: str
    created_at: datetime
    user_id: int | None
    customer_id: int | None


@dataclass
class Conversation:
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
    threads: list[Thread] = field(default_factory=list)  # newest first, as FreeScout
    tags: list[str] = field(default_factory=list)


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
                1: User(1, "Raxx Console", "Bot", "console-bot@raxx.app", seeded),
                2: User(2, "Olive", "Operator", "olive@raxx.app", seeded),
            }
            self.mailboxes = {
                1: Mailbox(1, "Support", "support@raxx.app", seeded),
                2: Mailbox(2, "Operations", "ops@raxx.app", seeded),
            }
            self.customers: dict[int, Customer] = {}
            self.conversations: dict[int, Conversation] = {}
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
        """Validate and apply ``{"mode", "latency_ms", "tags_module"}``; raise WireError(400)."""
        if not isinstance(payload, dict):
            raise WireError(400, {"error": "expected a JSON object"})
        unknown = sorted(set(payload) - {"mode", "latency_ms", "tags_module"})
        if unknown:
            raise WireError(400, {"error": f"unknown field(s): {', '.join(unknown)}"})
        mode = payload.get("mode", None)
        if mode is not None and mode not in FAULT_MODES:
            raise WireError(400, {"error": f"mode must be one of {', '.join(FAULT_MODES)}"})
        latency = payload.get("latency_ms")
        if latency is not None and (
            isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency <= _MAX_LATENCY_MS
        ):
            raise WireError(400, {"error": f"latency_ms must be an integer 0..{_MAX_LATENCY_MS}"})
        tags_module = payload.get("tags_module")
        if tags_module is not None and not isinstance(tags_module, bool):
            raise WireError(400, {"error": "tags_module must be true or false"})
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
    def _customer_for(self, spec: dict[str, Any], path: str, errors: list[dict[str, str]]) -> Customer | None:
        """Lookup order id → email → phone; create when nothing matches (FreeScout's rule)."""
        customer_id = spec.get("id")
        if customer_id is not None:
            found = self.customers.get(parse_int(customer_id) or -1)
            if found is None:
                errors.append(
                    field_error(f"{path}.id", f"Customer with the following ID not found: {customer_id}")
                )
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
            errors.append(field_error(f"{path}.first_name", "Customer first name or email is required."))
            return None
        now = self._now()
        customer = Customer(
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
    def create_conversation(self, data: dict[str, Any]) -> Conversation:
        with self.lock:
            errors: list[dict[str, str]] = []
            conv_type = data.get("type")
            if conv_type in (None, ""):
                errors.append(field_error("type", "`type` parameter is required"))
            elif conv_type not in _CONVERSATION_TYPES:
                errors.append(field_error("type", "`type` must be one of: email, phone, chat"))
            subject = data.get("subject")
            if not isinstance(subject, str) or not subject.strip():
                errors.append(field_error("subject", "`subject` parameter is required"))
            mailbox_id = data.get("mailboxId")
            if mailbox_id in (None, ""):
                errors.append(field_error("mailboxId", "`mailboxId` parameter is required"))
            customer_spec = data.get("customer")
            if not isinstance(customer_spec, dict) or not customer_spec:
                errors.append(field_error("customer", "`customer` parameter is required"))
            threads = data.get("threads")
            if not isinstance(threads, list):
                errors.append(field_error("threads", "'threads' parameter must be an array"))
            elif not threads:
                errors.append(field_error("threads", "Conversation must contain at least one thread"))
            else:
                for index, thread in enumerate(threads):
                    self._validate_thread(thread, f"threads.{index}", errors)
            if errors:
                raise validation_error(errors)
            assert isinstance(subject, str) and isinstance(customer_spec, dict) and isinstance(threads, list)
            assert isinstance(conv_type, str)
            mailbox = self.mailboxes.get(parse_int(mailbox_id) or -1)
            if mailbox is None:
                raise validation_error([field_error("mailboxId", "Mailbox not found")])
            customer = self._customer_for(customer_spec, "customer", errors)
            if errors or customer is None:
                raise validation_error(errors)
            status = data.get("status")
            status = status if status in ("active", "pending", "closed") else "active"
            imported = data.get("imported") is True
            now = self._now()
            created_at = parse_date(data.get("createdAt")) or now
            assignee = parse_int(data.get("assignTo"))
            conversation_id = self._id("conversation")
            conversation = Conversation(
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
                conversation.closed_at = parse_date(data.get("closedAt")) if imported else None
                conversation.closed_at = conversation.closed_at or now
            self.conversations[conversation.id] = conversation
            return conversation

    def _validate_thread(self, thread: object, path: str, errors: list[dict[str, str]]) -> None:
        if not isinstance(thread, dict):
            errors.append(field_error(path, "Thread must be an object"))
            return
        thread_type = thread.get("type")
        if thread_type not in _THREAD_TYPES:
            errors.append(field_error(f"{path}.type", "`type` must be one of: customer, message, note"))
        text = thread.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append(field_error(f"{path}.text", "`text` parameter is required"))
        if thread_type in ("message", "note"):
            user = thread.get("user")
            if user in (None, ""):
                errors.append(field_error(f"{path}.user", "`user` parameter is required"))
            elif parse_int(user) not in self.users:
                errors.append(field_error(f"{path}.user", "User not found."))

    def _make_thread(
        self, conversation: Conversation, spec: dict[str, Any], created_at: datetime, fallback_customer: int
    ) -> Thread:
        customer_id = None
        if spec["type"] == "customer":
            customer_spec = spec.get("customer")
            customer = None
            if isinstance(customer_spec, dict) and customer_spec:
                customer = self._customer_for(customer_spec, "customer", [])
            customer_id = customer.id if customer else fallback_customer
        state = spec.get("state") if spec.get("state") in ("draft", "published") else "published"
        return Thread(
            id=self._id("thread"),
            type=spec["type"],
            body=spec["text"],
            status=str(spec.get("status")) if spec.get("status") in _STATUSES else conversation.status,
            state=str(state),
            created_at=created_at,
            user_id=parse_int(spec.get("user")) if spec["type"] != "customer" else None,
            customer_id=customer_id,
        )

    def get(self, conversation_id: int) -> Conversation:
        with self.lock:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                raise not_found()
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
                    raise validation_error([field_error("byUser", "byUser parameter is required.")])
                if parse_int(by_user) not in self.users:
                    raise validation_error([field_error("byUser", "User not found.")])
            unassign = (None, "", 0, -1)
            if "assignTo" in data and data["assignTo"] not in unassign:
                if parse_int(data["assignTo"]) not in self.users:
                    raise validation_error([field_error("assignTo", "User not found.")])
            if "mailboxId" in data and parse_int(data["mailboxId"]) not in self.mailboxes:
                raise validation_error([field_error("mailboxId", "Mailbox not found")])
            if "customerId" in data and parse_int(data["customerId"]) not in self.customers:
                raise validation_error([field_error("customerId", "Customer not found.")])
            now = self._now()
            for key, value in data.items():
                if key == "status":
                    status = value if value in _STATUSES else "active"
                    if status == "closed" and conversation.status != "closed":
                        conversation.closed_at = now
                        conversation.closed_by = parse_int(by_user)
                    elif status != "closed":
                        conversation.closed_at = None
                        conversation.closed_by = None
                    conversation.status = status
                elif key == "assignTo":
                    assignee = parse_int(value)
                    conversation.assignee_id = assignee if assignee in self.users else None
                elif key == "mailboxId":
                    conversation.mailbox_id = parse_int(value) or conversation.mailbox_id
                elif key == "customerId":
                    conversation.customer_id = parse_int(value) or conversation.customer_id
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
                raise validation_error([field_error("tags", "Tags module is not installed or not activated")])
            tags = data.get("tags")
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise validation_error([field_error("tags", "'tags' parameter must be an array")])
            names: list[str] = []
            for tag in tags:
                name = tag.strip()
                if name and name not in names:
                    names.append(name)
                    if name not in self.tag_ids:
                        self.tag_ids[name] = self._id("tag")
            conversation.tags = names
            conversation.updated_at = self._now()

    def add_thread(self, conversation_id: int, data: dict[str, Any]) -> Thread:
        with self.lock:
            conversation = self.get(conversation_id)
            errors: list[dict[str, str]] = []
            self._validate_thread(data, "thread", errors)
            if errors:
                for error in errors:
                    error["path"] = error["path"].removeprefix("thread.")
                raise validation_error(errors)
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

    def list_conversations(self, args: Any) -> tuple[list[Conversation], int, int]:
        """Filter and sort per the documented parameters; returns (page items, total, size)."""
        with self.lock:
            items = list(self.conversations.values())

            def ints(name: str) -> set[int] | None:
                raw = args.get(name)
                if raw is None or raw == "":
                    return None
                return {v for v in (parse_int(p) for p in raw.split(",")) if v is not None}

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
                    items = [c for c in items if c.assignee_id == parse_int(raw)]
            email = args.get("customerEmail")
            if email:
                email = email.strip().lower()
                items = [c for c in items if email in self.customers[c.customer_id].emails]
            phone = args.get("customerPhone")
            if phone:
                items = [c for c in items if self.customers[c.customer_id].phone == phone]
            for name in ("customerId", "createdByCustomerId"):
                if args.get(name):
                    wanted_id = parse_int(args.get(name))
                    items = [
                        c
                        for c in items
                        if c.customer_id == wanted_id and (name == "customerId" or _created_by_customer(c))
                    ]
            if args.get("createdByUserId"):
                wanted_user = parse_int(args.get("createdByUserId"))
                items = [c for c in items if _created_by_user(c) == wanted_user]
            if args.get("number"):
                items = [c for c in items if c.number == parse_int(args.get("number"))]
            subject = args.get("subject")
            if subject:
                needle = subject.lower()
                items = [c for c in items if needle in c.subject.lower()]
            tag = args.get("tag")
            if tag:
                items = [c for c in items if tag.strip().lower() in {t.lower() for t in c.tags}]
            created_since = parse_date(args.get("createdSince"))
            if created_since:
                items = [c for c in items if c.created_at >= created_since]
            updated_since = parse_date(args.get("updatedSince"))
            if updated_since:
                items = [c for c in items if c.updated_at >= updated_since]

            sort_field = args.get("sortField")
            sort_field = sort_field if sort_field in _SORT_FIELDS else "createdAt"
            descending = (args.get("sortOrder") or "desc").lower() != "asc"
            keys: dict[str, Callable[[Conversation], Any]] = {
                "createdAt": lambda c: c.created_at,
                "mailboxId": lambda c: c.mailbox_id,
                "number": lambda c: c.number,
                "subject": lambda c: c.subject.lower(),
                "updatedAt": lambda c: c.updated_at,
                "waitingSince": _waiting_since,
            }
            key = keys[sort_field]
            items.sort(key=lambda c: (key(c), c.id), reverse=descending)
            page, size = paging(args)
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

    def thread_json(self, thread: Thread) -> dict[str, Any]:
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
            "createdAt": fmt(thread.created_at),
            "openedAt": None,
            "_embedded": {"attachments": []},
        }

    def conversation_json(self, c: Conversation, *, embed: set[str], list_item: bool) -> dict[str, Any]:
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
                    "preview": html_text(visible[0].body)[:255] if visible else "",
                    "mailboxId": c.mailbox_id,
                    "assignee": self.person_user(c.assignee_id),
                    "createdBy": (
                        self.person_customer(oldest.customer_id)
                        if oldest and oldest.type == "customer"
                        else self.person_user(oldest.user_id if oldest else None)
                    ),
                    "createdAt": fmt(c.created_at),
                    "updatedAt": fmt(c.updated_at),
                    "closedBy": c.closed_by,
                    "closedByUser": self.person_user(c.closed_by),
                    "closedAt": fmt(c.closed_at),
                    "userUpdatedAt": fmt(c.user_updated_at),
                    "customerWaitingSince": {
                        "time": fmt(latest_customer.created_at) if latest_customer else None,
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

    def customer_json(self, customer: Customer) -> dict[str, Any]:
        return {
            "id": customer.id,
            "firstName": customer.first_name,
            "lastName": customer.last_name,
            "company": None,
            "jobTitle": None,
            "photoType": "unknown",
            "photoUrl": None,
            "createdAt": fmt(customer.created_at),
            "updatedAt": fmt(customer.updated_at),
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

    def mailbox_json(self, mailbox: Mailbox) -> dict[str, Any]:
        return {
            "id": mailbox.id,
            "name": mailbox.name,
            "email": mailbox.email,
            "createdAt": fmt_dashed(mailbox.created_at),
            "updatedAt": fmt_dashed(mailbox.created_at),
        }

    def user_json(self, user: User) -> dict[str, Any]:
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
            "createdAt": fmt_dashed(user.created_at),
            "updatedAt": fmt_dashed(user.created_at),
        }


def _folder_id(conversation: Conversation) -> int:
    return conversation.mailbox_id * 100 + 1


def _created_by_customer(conversation: Conversation) -> bool:
    return bool(conversation.threads) and conversation.threads[-1].type == "customer"


def _created_by_user(conversation: Conversation) -> int | None:
    if conversation.threads and conversation.threads[-1].type != "customer":
        return conversation.threads[-1].user_id
    return None


def _waiting_since(conversation: Conversation) -> datetime:
    latest = next((t for t in conversation.threads if t.type == "customer"), None)
    return latest.created_at if latest else conversation.created_at
