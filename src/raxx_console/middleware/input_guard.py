"""input_guard: no request reaches a view with a control character in its path, query or form.

A NUL in a form field or query parameter would otherwise reach PostgreSQL, which cannot store
one (a 500); other control characters only hide what a value says. Such a request is refused
with 422 naming the field, before identity or CSRF run; a path with one names nothing (404).
JSON bodies are checked field by field by the views' models (``raxx_console.validation``),
read through :func:`request_json`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import NotFound

from raxx_console.errors import ApiError, json_error
from raxx_console.validation import JsonBodyError, has_line_control, loads_strict

#: Form fields that may hold several lines (free text); their tab/newline/CR are fine.
_MULTILINE_OK = "\t\r\n"


def _bad_value(value: str) -> bool:
    return has_line_control(value.translate({ord(ch): None for ch in _MULTILINE_OK}))


def _offending_field() -> str | None:
    for name, value in request.args.items(multi=True):
        if has_line_control(name) or has_line_control(value):
            return f"query parameter {name!r}"
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        for name, value in request.form.items(multi=True):
            if has_line_control(name) or _bad_value(value):
                return f"form field {name!r}"
    return None


def _guard() -> tuple[Response, int] | None:
    if has_line_control(request.path):
        raise NotFound("no page or resource has a control character in its path")
    field = _offending_field()
    if field is None:
        return None
    return json_error(
        422, "control_character", f"{field} contains a control character (such as NUL)", field=field
    )


def request_json() -> Any:
    """The request body as strict JSON (``loads_strict``); 400 ``invalid_json`` otherwise."""
    try:
        return loads_strict(request.get_data(cache=True))
    except JsonBodyError as exc:
        raise ApiError(400, "invalid_json", str(exc), field="body") from None


def init_app(app: Flask) -> None:
    app.before_request(_guard)
