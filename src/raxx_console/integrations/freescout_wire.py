"""FreeScout's wire format: dates, conversations, threads, HAL pages and error bodies, parsed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from raxx_console.integrations.freescout_outcomes import Conversation, FieldError, Page, Thread

_STATUS_CODES = {1: "active", 2: "pending", 3: "closed", 4: "spam"}


# --------------------------------------------------------------------------- parsing

_DATE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})[:-](\d{2})(?:[:-](\d{2})(?:\.(\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)


def parse_datetime(value: object) -> datetime | None:
    """Lenient ISO 8601 → aware UTC datetime, or None.

    Accepts FreeScout's documented ``2020-03-15T22:46:22Z`` and also the dashed
    ``2020-08-09T10-09-00Z`` that its docs show for mailboxes, users and timelogs.
    """
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        parsed -= timedelta(minutes=sign * (int(digits[:2]) * 60 + int(digits[2:])))
    return parsed


def format_datetime(value: datetime) -> str:
    """FreeScout's query format: ISO 8601 in UTC with a ``Z``; naive means UTC."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _status(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return _STATUS_CODES.get(value, str(value))
    return str(value or "").strip().lower()


def _email(person: object) -> str | None:
    if isinstance(person, Mapping):
        email = person.get("email")
        if isinstance(email, str) and email:
            return email
    return None


def _parse_thread(data: Mapping[str, Any]) -> Thread | None:
    thread_id = as_int(data.get("id"))
    if thread_id is None:
        return None
    created_by = data.get("createdBy")
    user_id = None
    if isinstance(created_by, Mapping) and created_by.get("type") == "user":
        user_id = as_int(created_by.get("id"))
    return Thread(
        id=thread_id,
        type=str(data.get("type") or ""),
        body=str(data.get("body") or ""),
        status=data.get("status") if isinstance(data.get("status"), str) else None,
        created_at=parse_datetime(data.get("createdAt")),
        user_id=user_id,
        customer_email=_email(data.get("customer")),
    )


def parse_conversation(data: object) -> Conversation | None:
    """A conversation object (GET one or a list item) → ``Conversation``; None if it has no id.

    Reads ``threadsCount`` (GET one) or ``threads`` (the list's count field) for the count.
    """
    if not isinstance(data, Mapping):
        return None
    conversation_id = as_int(data.get("id"))
    if conversation_id is None:
        return None
    embedded = data.get("_embedded")
    embedded = embedded if isinstance(embedded, Mapping) else {}
    raw_tags = embedded.get("tags")
    tags: list[str] = []
    if isinstance(raw_tags, list):
        for tag in raw_tags:
            name = tag.get("name") if isinstance(tag, Mapping) else tag
            if isinstance(name, str) and name:
                tags.append(name)
    raw_threads = embedded.get("threads")
    threads = tuple(
        parsed
        for parsed in (
            _parse_thread(item)
            for item in (raw_threads if isinstance(raw_threads, list) else [])
            if isinstance(item, Mapping)
        )
        if parsed is not None
    )
    threads_count = as_int(data.get("threadsCount"))
    if threads_count is None:
        threads_count = as_int(data.get("threads"))
    if threads_count is None and isinstance(raw_threads, list):
        threads_count = len(raw_threads)
    customer_email = _email(data.get("customer"))
    created_by = data.get("createdBy")
    if customer_email is None and isinstance(created_by, Mapping):
        if created_by.get("type") == "customer":
            customer_email = _email(created_by)
    return Conversation(
        id=conversation_id,
        number=as_int(data.get("number")),
        subject=str(data.get("subject") or ""),
        status=_status(data.get("status")),
        mailbox_id=as_int(data.get("mailboxId")),
        customer_email=customer_email,
        created_at=parse_datetime(data.get("createdAt")),
        updated_at=parse_datetime(data.get("updatedAt")),
        tags=tuple(tags),
        tags_embedded=isinstance(raw_tags, list),
        threads_count=threads_count,
        threads=threads,
        closed_at=parse_datetime(data.get("closedAt")),
    )


def parse_page(data: Mapping[str, Any], *, default_size: int, default_number: int) -> Page:
    raw = data.get("page")
    raw = raw if isinstance(raw, Mapping) else {}
    size = as_int(raw.get("size")) or default_size
    total = as_int(raw.get("totalElements"))
    pages = as_int(raw.get("totalPages"))
    return Page(
        number=as_int(raw.get("number")) or default_number,
        size=size,
        total_elements=total if total is not None else 0,
        total_pages=max(1, pages if pages is not None else 1),
    )


def embedded_list(data: object, key: str) -> list[Mapping[str, Any]] | None:
    if not isinstance(data, Mapping):
        return None
    embedded = data.get("_embedded")
    if embedded is None:
        return []
    if not isinstance(embedded, Mapping):
        return None
    items = embedded.get(key, [])
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, Mapping)]


def json_body(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", "").lower():
        return None
    try:
        return response.json()
    except ValueError:
        return None


def clean_text(text: object, limit: int = 160) -> str:
    """Squash a FreeScout-supplied string for a single log line."""
    flat = " ".join(str(text).split())
    return flat[:limit]


def parse_errors(body: object) -> tuple[FieldError, ...]:
    raw = embedded_list(body, "errors") or []
    return tuple(
        FieldError(path=clean_text(item.get("path") or ""), message=clean_text(item.get("message") or ""))
        for item in raw
    )


def csv_param(value: str | int | Iterable[str | int]) -> str:
    if isinstance(value, str | int):
        return str(value)
    return ",".join(str(item) for item in value)


def conversation_id_from_url(url: str) -> int | None:
    """The id in ``…/conversation/<id>`` or ``…/conversations/<id>``; None otherwise."""
    match = re.search(r"/conversations?/(\d+)(?:[/?#]|$)", url)
    return int(match.group(1)) if match else None
