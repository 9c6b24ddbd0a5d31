"""/console/audit: the audit log, filtered and paged (keyset), its JSON API and streamed exports.

Every other page links here through the ``audit_url`` template global, so the parameters of a
filtered view are spelled in one place.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for

from raxx_console.audit import MAX_PAGE_SIZE, PAGE_SIZE
from raxx_console.audit import service as audit
from raxx_console.auth.access import require_role
from raxx_console.auth.models import Role
from raxx_console.context import Console, console, db_session
from raxx_console.errors import ApiError

bp = Blueprint("audit", __name__)

CSV_COLUMNS = ("id", "created_at", "action", "actor", "selected_env", "payload")
#: Spreadsheets run a cell that starts with one of these as a formula; actors come from login forms.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@bp.app_template_global("audit_url")
def audit_url(action: str | None = None, *, _external: bool = False, **filters: Any) -> str:
    """A link to the audit rows of ``action`` (a prefix): ``actor``, ``env``, ``since``, ``until``
    filter as on the page; any other keyword filters on that payload field (``flag="FLAG_X"``)."""
    params: dict[str, Any] = {"action": action} if action else {}
    for key, value in filters.items():
        if value is None:
            continue
        name = key if key in audit.FILTER_PARAMS else f"{audit.PAYLOAD_PARAM_PREFIX}{key}"
        params[name] = value
    return url_for("audit.index", _external=_external, **params)


#: What a page takes besides its filters; an export is the whole filtered view and takes neither.
PAGING_PARAMS = ("after", "limit")


def _filter_params(paged: bool) -> dict[str, str]:
    """The request's filter parameters; an unknown one is refused, so a typo never shows everything."""
    params = {}
    for key, value in request.args.items():
        if paged and key in PAGING_PARAMS:
            continue
        if key not in audit.FILTER_PARAMS and not key.startswith(audit.PAYLOAD_PARAM_PREFIX):
            raise ApiError(
                400,
                "unknown_parameter",
                f"{key} is not a filter; use {', '.join(audit.FILTER_PARAMS)} or payload.<field>",
                parameter=key,
            )
        params[key] = value
    return params


def _filters(paged: bool) -> audit.AuditFilter:
    try:
        return audit.AuditFilter.from_params(_filter_params(paged), console().clock.now())
    except audit.FilterError as exc:
        raise ApiError(400, "invalid_filter", str(exc), parameter=exc.parameter) from None


def _page() -> tuple[audit.AuditFilter, audit.AuditPage]:
    filters = _filters(paged=True)
    try:
        after = audit.Cursor.decode(request.args["after"]) if request.args.get("after") else None
    except audit.FilterError as exc:
        raise ApiError(400, "invalid_filter", str(exc), parameter=exc.parameter) from None
    raw_limit = request.args.get("limit", str(PAGE_SIZE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
        raise ApiError(
            400, "invalid_filter", f"limit: a whole number from 1 to {MAX_PAGE_SIZE}", parameter="limit"
        )
    return filters, audit.page(db_session(), filters, after=after, limit=int(raw_limit))


def _link(endpoint: str, *, paged: bool = True, **extra: str) -> str:
    """``endpoint`` with the request's filters (as typed: ``since=1h`` stays relative) and ``extra``."""
    dropped = ("after",) if paged else PAGING_PARAMS
    params: dict[str, Any] = {k: v for k, v in request.args.items() if k not in dropped and v.strip()}
    return url_for(endpoint, **params | extra)


@bp.get("/console/audit")
@require_role(Role.viewer)
def index() -> str:
    filters, result = _page()
    return render_template(
        "audit/index.html",
        rows=[(row, json.dumps(row.payload, indent=2, sort_keys=True)) for row in result.rows],
        filters=filters,
        form={key: request.args.get(key, "") for key in audit.FILTER_PARAMS},
        payload_filters=filters.payload,
        envs=audit.ENVS,
        next_url=_link("audit.index", after=result.next.encode()) if result.next else None,
        first_url=_link("audit.index") if request.args.get("after") else None,
        json_url=_link("audit.index_json"),
        export_json_url=_link("audit.export_json", paged=False),
        export_csv_url=_link("audit.export_csv", paged=False),
    )


@bp.get("/console/audit.json")
@require_role(Role.viewer)
def index_json() -> Response:
    result = _page()[1]
    return Response(
        json.dumps(
            {
                "rows": [audit.row_json(row) for row in result.rows],
                "next": result.next.encode() if result.next else None,
                "next_url": _link("audit.index_json", after=result.next.encode()) if result.next else None,
            }
        ),
        mimetype="application/json",
    )


def _rows(ctx: Console, filters: audit.AuditFilter) -> Iterator[dict[str, Any]]:
    """The filtered view, row by row, on a session of its own that lives as long as the response."""
    with ctx.db.session() as session:
        for row in audit.stream(session, filters):
            yield audit.row_json(row)


def _download(body: Iterator[str], mimetype: str, extension: str) -> Response:
    stamp = console().clock.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.{extension}"'},
    )


@bp.get("/console/audit/export.json")
@require_role(Role.viewer)
def export_json() -> Response:
    """A JSON array, written as the rows arrive: memory stays flat however many rows match."""
    rows = _rows(console(), _filters(paged=False))

    def body() -> Iterator[str]:
        yield "["
        for n, row in enumerate(rows):
            yield ("," if n else "") + "\n" + json.dumps(row)
        yield "\n]\n"

    return _download(body(), "application/json", "json")


def _csv_cell(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


@bp.get("/console/audit/export.csv")
@require_role(Role.viewer)
def export_csv() -> Response:
    rows = _rows(console(), _filters(paged=False))

    def body() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(row[column]) for column in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return _download(body(), "text/csv", "csv")
