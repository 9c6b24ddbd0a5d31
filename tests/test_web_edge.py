"""The web edge: security headers, 405 with Allow, 413 that closes, 503 for a lost database,
and no control character in a path, query or form reaching a view."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine

from raxx_console.middleware.security_headers import CONTENT_SECURITY_POLICY
from tests.support.accounts import csrf_token, make_token, make_user
from tests.support.gunicorn import start_gunicorn, stop

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@sqlite_only
@pytest.mark.parametrize(
    "path",
    ["/login", "/healthz", "/static/console.css", "/api/openapi.json", "/no-such-page", "/console/flags"],
)
def test_every_answer_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # development


@sqlite_only
@pytest.mark.parametrize(("env", "hsts"), [("production", True), ("staging", False)])
def test_hsts_only_in_production(settings_overrides, request, env, hsts):
    settings_overrides["CONSOLE_ENV"] = env
    client = request.getfixturevalue("client")
    response = client.get("/login", base_url="https://console.raxx.app")
    assert ("Strict-Transport-Security" in response.headers) is hsts
    if hsts:
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


@sqlite_only
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/api/alerts", {"POST", "OPTIONS"}), ("DELETE", "/login", {"GET", "HEAD", "POST", "OPTIONS"})],
)
def test_405_names_the_allowed_methods(client, method, path, allowed):
    response = client.open(path, method=method, headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == allowed
    assert response.get_json()["error"] == "method_not_allowed"


def _raw_request(url: str, request: bytes) -> tuple[bytes, bool]:
    """Send ``request`` on one connection; the answer's head and whether the server then closed it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += conn.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
        while len(body) < int(lengths[0].split(b":")[1]):
            body += conn.recv(65536)
        conn.settimeout(5)
        try:
            closed = conn.recv(1) == b""
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        return head, closed


@sqlite_only
def test_413_closes_the_connection(settings_overrides, request):
    settings_overrides["MAX_CONTENT_LENGTH"] = 4096
    live_server = request.getfixturevalue("live_server")
    console = request.getfixturevalue("console")
    make_user(console, "bot@raxx.app", "operator")
    token = make_token(console, "bot@raxx.app")
    body = b"[" + b"1," * 4000 + b"1]"
    head, closed = _raw_request(
        live_server,
        b"POST /api/alerts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nConnection: keep-alive\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:1024],
    )
    assert head.startswith(b"HTTP/1.1 413")
    assert b"\r\nConnection: close" in head
    assert closed


def test_a_lost_database_is_a_503_with_retry_after(app, console):
    make_user(console, "bot@raxx.app", "operator")
    token = make_token(console, "bot@raxx.app")
    # The database goes away: every new connection is refused (nothing listens on port 9).
    url = (
        "postgresql+psycopg://127.0.0.1:9/gone"
        if console.db.is_postgres
        else "sqlite:////nonexistent/dir/x.db"
    )
    console.db.engine.dispose()
    console.db.sessionmaker.configure(bind=create_engine(url))
    response = app.test_client().get("/console/flags.json", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "service_unavailable"
    page = app.test_client().get("/login?next=/console/flags", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 503


@sqlite_only
@pytest.mark.parametrize(
    ("path", "query", "form", "field"),
    [
        ("/console/customers", {"q": "a\x00b"}, None, "query parameter 'q'"),
        ("/console/alerts", {"state\x00": "firing"}, None, "query parameter 'state\\x00'"),
        ("/login", None, {"email": "op\x00@raxx.app", "password": "x"}, "form field 'email'"),
        ("/login", None, {"email": "op@raxx.app", "password": "bell\x07"}, "form field 'password'"),
    ],
)
def test_a_control_character_in_a_query_or_form_is_a_422_naming_it(operator, path, query, form, field):
    if form is not None:
        form = {**form, "csrf_token": csrf_token(operator, "/console/flags")}
        response = operator.post(path, data=form)
    else:
        response = operator.get(path, query_string=query)
    assert response.status_code == 422
    assert response.get_json() == {
        "error": "control_character",
        "field": field,
        "message": f"{field} contains a control character (such as NUL)",
    }


def test_a_nul_in_a_login_email_never_reaches_the_database(client, console):
    response = client.post("/login", data={"email": "a\x00@raxx.app", "password": "whatever-123"})
    assert response.status_code == 422


@sqlite_only
def test_a_control_character_in_the_path_is_a_404(operator):
    assert operator.get("/console/alerts/ci:%00abc").status_code == 404
    assert operator.get("/console/alerts/ci:%00abc", headers={"Accept": "application/json"}).is_json


@sqlite_only
def test_the_413_answer_itself_asks_to_close(settings_overrides, request):
    settings_overrides["MAX_CONTENT_LENGTH"] = 4096
    console = request.getfixturevalue("console")
    make_user(console, "bot@raxx.app", "operator")
    token = make_token(console, "bot@raxx.app")
    response = request.getfixturevalue("client").post(
        "/api/alerts",
        data="[" + "1," * 4000 + "1]",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


@sqlite_only
def test_413_closes_the_connection_under_gunicorn_too(database_url, console, tmp_path):
    """Gunicorn drops the app's ``Connection: close``; the wrapper in ``errors`` closes it anyway."""
    make_user(console, "bot@raxx.app", "operator")
    token = make_token(console, "bot@raxx.app")
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "web-edge-test-secret-key",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CONSOLE_ENV": "development",
        "MAX_CONTENT_LENGTH": "4096",
        "LOG_LEVEL": "WARNING",
    }
    process, base = start_gunicorn(env, tmp_path / "gunicorn.log", workers=1)
    try:
        body = b"[" + b"1," * 4000 + b"1]"
        head, closed = _raw_request(
            base,
            b"POST /api/alerts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\nConnection: keep-alive\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:1024],
        )
    finally:
        stop(process)
    assert head.startswith(b"HTTP/1.1 413")
    assert closed
