"""Errors people and API clients can act on: JSON naming the problem, or a plain page. Never a trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from raxx_console.auth.access import wants_json

log = logging.getLogger("raxx_console.web")


class ApiError(Exception):
    """Raised by views for a 4xx with a JSON body: ``{"error": code, "message": ..., **extra}``."""

    def __init__(self, status: int, error: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.extra = status, error, message, extra


def json_error(status: int, error: str, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": error, "message": message, **extra}), status


def _error_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")


def _http_error(exc: HTTPException) -> tuple[Response | str, int]:
    status = exc.code or 500
    message = exc.description or exc.name
    if isinstance(exc, CSRFError):
        message = "the form's CSRF token is missing or invalid; reload the page and try again"
    if wants_json():
        response, status = json_error(status, _error_code(exc), message)
        return response, status
    return render_template("errors/error.html", status=status, title=exc.name, message=message), status


def _api_error(exc: ApiError) -> tuple[Response, int]:
    return json_error(exc.status, exc.error, exc.message, **exc.extra)


def _unexpected(exc: Exception) -> tuple[Response | str, int]:
    log.exception("unhandled error in request")
    return _http_error(InternalServerError(description="something went wrong; it has been logged"))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(Exception, _unexpected)
