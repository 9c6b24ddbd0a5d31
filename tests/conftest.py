"""Shared fixtures: both databases for real, a controllable clock, apps, users and a browser.

Every database test runs twice: on SQLite (the embedded default) and on PostgreSQL
(``TEST_DATABASE_URL``, default the local server's ``test`` database). Each pytest process
(xdist worker) gets a database of its own, created from ``test`` and dropped at the end; each
test starts from empty tables.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from raxx_console import create_app, migrate
from raxx_console.auth import service as auth_service
from raxx_console.clock import ManualClock
from raxx_console.context import Console
from raxx_console.db import Base, Database, normalize_url

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
PASSWORD = "correct horse battery staple"
BACKENDS = ("sqlite", "postgresql")


# --- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database_url(worker_id: str) -> Iterator[str]:
    """A migrated PostgreSQL database for this pytest process."""
    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"raxx_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()
    return path


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of the test's backend."""
    if backend == "postgresql":
        url = request.getfixturevalue("pg_database_url")
        _truncate_all(url)
        return url
    path = tmp_path / "console.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


# --- the app -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings_overrides(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """What every test app runs with; tests add to it before asking for ``app``."""
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key-0123456789",
        "CONSOLE_ENV": "development",
        "CONSOLE_HOST_ENV_MAP": "console.raxx.app=production,console-staging.raxx.app=staging",
    }


@pytest.fixture
def app(settings_overrides: dict[str, Any], clock: ManualClock) -> Iterator[Flask]:
    app = create_app(settings_overrides, clock=clock)
    app.config["TESTING"] = True
    yield app
    app.extensions["raxx_console"].db.dispose()


@pytest.fixture
def console(app: Flask) -> Console:
    return app.extensions["raxx_console"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_user(console: Console, email: str, role: str) -> None:
    with console.db.session() as session:
        auth_service.create_user(
            session, console.clock, email=email, role=role, password=PASSWORD, actor="test", env="development"
        )


def make_token(console: Console, email: str) -> str:
    from sqlalchemy import select

    from raxx_console.auth.models import User

    with console.db.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        return auth_service.create_token(
            session, console.clock, user=user, name="test", actor="test", env="development"
        )


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )


@pytest.fixture
def operator(console: Console, client: FlaskClient) -> FlaskClient:
    """The test client, logged in as an operator."""
    make_user(console, "operator@raxx.app", "operator")
    assert login(client, "operator@raxx.app").status_code == 302
    return client


@pytest.fixture
def viewer(console: Console, client: FlaskClient) -> FlaskClient:
    make_user(console, "viewer@raxx.app", "viewer")
    assert login(client, "viewer@raxx.app").status_code == 302
    return client


@pytest.fixture
def operator_token(console: Console) -> str:
    make_user(console, "bot@raxx.app", "operator")
    return make_token(console, "bot@raxx.app")


# --- real HTTP and a real browser ----------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # The staging/production banner tests visit their hosts; resolve them all to the test server.
    "--host-resolver-rules=MAP console.raxx.app 127.0.0.1, MAP console-staging.raxx.app 127.0.0.1",
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app served over real HTTP on a free port; yields its base URL."""
    from raxx_console.sandbox.server import BackgroundServer

    with BackgroundServer(app, name="console-under-test") as server:
        yield server.url


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def browser_login(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/status|.*/$"))
