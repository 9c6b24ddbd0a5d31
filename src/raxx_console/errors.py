"""Errors people and API clients can act on: JSON naming the problem, or a plain page. Never a trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from raxx_console.auth.access import wants_json

log = logging.getLogger("raxx_console.web")
#: Seconds a client is asked to wait when the database is unavailable (a restart, a failover).
DB_RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """Raised by views for a 4xx with a JSON body: ``{"error": code, "message": ..., **extra}``."""

    def __init__(self, status: int, error: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.extra = status, error, message, extra


def json_error(status: int, error: str, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": error, "message": message, **extra}), status


def _error_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")


def _http_error(exc: HTTPException) -> Response:
    """The error as JSON or a page, keeping the exception's headers (405's ``Allow``, 503's ``Retry-After``).

    A 413 also closes the connection: the body it refused was never read, so the connection
    cannot carry another request.
    """
    status = exc.code or 500
    message = exc.description or exc.name
    if isinstance(exc, CSRFError):
        message = "the form's CSRF token is missing or invalid; reload the page and try again"
    if wants_json():
        response = make_response(json_error(status, _error_code(exc), message))
    else:
        page = render_template("errors/error.html", status=status, title=exc.name, message=message)
        response = make_response(page, status)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 413:
        response.headers["Connection"] = "close"
    return response


def _api_error(exc: ApiError) -> tuple[Response, int]:
    return json_error(exc.status, exc.error, exc.message, **exc.extra)


def _database_unavailable(exc: Exception) -> Response:
    """The database could not be reached or dropped the connection: 503, try again shortly."""
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError | InterfaceError):
        if not exc.connection_invalidated:
            return _unexpected(exc)
    log.warning("database unavailable: %s", type(exc).__name__)
    return _http_error(
        ServiceUnavailable("the database is unavailable; retry shortly", retry_after=DB_RETRY_AFTER_SECONDS)
    )


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error in request")
    return _http_error(InternalServerError(description="something went wrong; it has been logged"))


class CloseAfterRefusedBody:
    """WSGI wrapper: a 413 closes the connection under gunicorn too.

    Gunicorn drops an application's ``Connection`` header (hop-by-hop) and would keep the
    connection alive with the refused body still unread; its ``start_response`` belongs to its
    response object, whose ``force_close()`` is the documented way to end the connection. Other
    servers (werkzeug's) honour the header that ``_http_error`` sets.
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
            if status.startswith("413") and callable(force_close):
                force_close()
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def init_app(app: Flask) -> None:
    app.wsgi_app = CloseAfterRefusedBody(app.wsgi_app)  # type: ignore[method-assign]
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(DBAPIError, _database_unavailable)
    app.register_error_handler(PoolTimeout, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
