"""FreeScout's wire format as the sandbox speaks it: timestamps, request values, error bodies,
the HAL list envelope.

The sandbox's own reading of the wire, independent of the console's client
(``integrations/freescout_wire.py``) on purpose: the two are peers that must agree by the contract,
not by shared code.
"""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request


def fmt(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def fmt_dashed(value: datetime) -> str:
    """The docs' mailbox/user timestamp style, ``2020-08-09T10-09-00Z``."""
    return value.strftime("%Y-%m-%dT%H-%M-%SZ")


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2})[:-](\d{2})[:-](\d{2})(?:\.\d+)?(Z|[+-]00:?00)?$")


def parse_date(value: object) -> datetime | None:
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


def parse_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def html_text(body: str) -> str:
    """HTML body → plain text (for previews and the demo page, which escapes it again)."""
    body = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", body)
    return html.unescape(re.sub(r"<[^>]+>", "", body)).strip()


class WireError(Exception):
    """An API answer other than success: the status and FreeScout's JSON error body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def validation_error(errors: list[dict[str, str]]) -> WireError:
    return WireError(400, {"message": "Error occurred", "_embedded": {"errors": errors}})


def field_error(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message, "source": "JSON"}


def not_found() -> WireError:
    return WireError(404, {"message": "Not Found", "_embedded": {"errors": []}})


def paging(args: Any) -> tuple[int, int]:
    page = parse_int(args.get("page")) or 1
    size = parse_int(args.get("pageSize")) or 50
    return max(1, page), max(1, min(size, 1000))


def hal(name: str, items: list[dict[str, Any]], total: int, page: int, size: int) -> dict[str, Any]:
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


def embed_param(default: str) -> set[str]:
    raw = request.args.get("embed")
    if raw is None:
        return {default} if default else set()
    return {part.strip() for part in raw.split(",") if part.strip()}


def json_body() -> dict[str, Any]:
    """Laravel reads an unparsable or non-object body as no input (so: validation errors)."""
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, headers=headers or {})
