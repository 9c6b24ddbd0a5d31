"""Shared fixtures: both databases for real, a controllable clock, apps, users and a browser.

Every database test runs twice: on SQLite (the embedded default) and on PostgreSQL
(``TEST_DATABASE_URL``, default the local server's ``test`` database). Each pytest process
(xdist worker) gets a database of its own, created from ``test`` and dropped at the end; each
test starts from empty tables.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from raxx_console import create_app, migrate
from raxx_console.clock import ManualClock
from raxx_console.context import Console
from raxx_console.db import Base, Database, normalize_url
from raxx_console.sandbox.github import OWNER_REPO, GitHubSandboxState, create_github_sandbox
from raxx_console.sandbox.server import BackgroundServer
from tests.support.accounts import login, make_token, make_user
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.databases import BACKENDS, PG_ADMIN_URL
from tests.support.sandboxes import (
    CONSOLE_BASE_URL,
    DEMO_SURFACE_IDS,
    SANDBOX_API_KEY,
    SANDBOX_CF_ID,
    SANDBOX_CF_SECRET,
    SLACK_DM_USERS,
    SLACK_SANDBOX_TOKEN,
    DemoSurfacesServer,
    FreeScoutSandbox,
    SlackSandboxServer,
    demo_surfaces_toml,
)

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


def _browser_page(chromium: Any, **context_options: Any) -> Iterator[Any]:
    context = chromium.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    yield from _browser_page(chromium)


@pytest.fixture
def tls_page(chromium: Any) -> Iterator[Any]:
    """A page that accepts the tests' self-signed certificate (``serve_tls``)."""
    yield from _browser_page(chromium, ignore_https_errors=True)


# --- foundation helpers (auth, flags, audit) ----------------------------------------------------


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The test's database without an app: for service-level tests (faster than a whole app)."""
    db = Database(database_url)
    yield db
    db.dispose()


# --- a running FreeScout sandbox (ticketing: entries A and B) ---------------------------------


@pytest.fixture
def freescout_sandbox(clock: ManualClock) -> Iterator[FreeScoutSandbox]:
    """A FreeScout sandbox on the test's clock, so ``createdSince`` look-ups agree with ours."""
    from raxx_console.sandbox.freescout import create_freescout_sandbox
    from raxx_console.sandbox.server import BackgroundServer

    app = create_freescout_sandbox(
        api_key=SANDBOX_API_KEY, cf_client_id=SANDBOX_CF_ID, cf_client_secret=SANDBOX_CF_SECRET, clock=clock
    )
    with BackgroundServer(app, name="freescout-sandbox") as server:
        sandbox = FreeScoutSandbox(server.url, app.extensions["freescout_sandbox"])
        yield sandbox
        sandbox.state.reset()  # wakes any answer still sleeping on a fault


@pytest.fixture
def freescout_settings(
    settings_overrides: dict[str, Any], freescout_sandbox: FreeScoutSandbox
) -> dict[str, Any]:
    """``settings_overrides`` wired to the sandbox; request it before ``app``."""
    settings_overrides.update(freescout_sandbox.settings())
    return settings_overrides


# --- the alerts pipeline (entry B): Slack sandbox, demo surfaces, a console wired to all three -------


@pytest.fixture
def slack_sandbox() -> Iterator[SlackSandboxServer]:
    from raxx_console.sandbox.server import BackgroundServer
    from raxx_console.sandbox.slack import create_slack_sandbox

    app = create_slack_sandbox(SLACK_SANDBOX_TOKEN, users=SLACK_DM_USERS)
    with BackgroundServer(app, name="slack-sandbox") as server:
        yield SlackSandboxServer(server.url, app)
        app.reset()


@pytest.fixture
def demo_surfaces(tmp_path: Path) -> Iterator[DemoSurfacesServer]:
    from raxx_console.sandbox.server import BackgroundServer
    from raxx_console.sandbox.surfaces import create_demo_surfaces

    app = create_demo_surfaces(DEMO_SURFACE_IDS)
    with BackgroundServer(app, name="demo-surfaces") as server:
        path = tmp_path / "surfaces.toml"
        path.write_text(demo_surfaces_toml(app.health_urls(server.url)))
        yield DemoSurfacesServer(server.url, app, path)
        app.reset()


@pytest.fixture
def alerts_settings(
    freescout_settings: dict[str, Any], slack_sandbox: SlackSandboxServer, demo_surfaces: DemoSurfacesServer
) -> dict[str, Any]:
    """``settings_overrides`` wired to FreeScout, Slack and the demo surfaces; request it before ``app``."""
    freescout_settings.update(slack_sandbox.settings())
    freescout_settings.update(demo_surfaces.settings())
    freescout_settings["CONSOLE_BASE_URL"] = CONSOLE_BASE_URL
    return freescout_settings


@pytest.fixture
def alerts_console(alerts_settings: dict[str, Any], console: Console) -> Iterator[Console]:
    """A console wired to the three sandboxes; gives up the poller's lead at the end."""
    from raxx_console.status.poller import release_leadership

    yield console
    release_leadership(console)


# --- a running GitHub sandbox (deploys) --------------------------------------------------------

GITHUB_SANDBOX_TOKEN = "ghs_test_sandbox_token_5d1e"


@dataclass
class GitHubSandbox:
    url: str
    state: GitHubSandboxState

    def settings(self) -> dict[str, Any]:
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_TOKEN": GITHUB_SANDBOX_TOKEN,
            "GITHUB_REPOSITORY": OWNER_REPO,
        }

    def control(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/_sandbox/{name}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def dispatches(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_sandbox/dispatches").json()


@pytest.fixture
def github_sandbox(clock: ManualClock) -> Iterator[GitHubSandbox]:
    app = create_github_sandbox(token=GITHUB_SANDBOX_TOKEN, clock=clock)
    with BackgroundServer(app, name="github-sandbox") as server:
        yield GitHubSandbox(server.url, app.extensions["github_sandbox"])


@pytest.fixture
def github_settings(settings_overrides: dict[str, Any], github_sandbox: GitHubSandbox) -> dict[str, Any]:
    """``settings_overrides`` wired to the GitHub sandbox; request it before ``app``."""
    settings_overrides.update(github_sandbox.settings())
    return settings_overrides
