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
from raxx_console.auth import service as auth_service
from raxx_console.clock import ManualClock
from raxx_console.context import Console
from raxx_console.db import Base, Database, normalize_url
from raxx_console.sandbox.github import OWNER_REPO, GitHubSandboxState, create_github_sandbox
from raxx_console.sandbox.server import BackgroundServer

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


# --- foundation helpers (auth, flags, audit) ----------------------------------------------------


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The test's database without an app: for service-level tests (faster than a whole app)."""
    db = Database(database_url)
    yield db
    db.dispose()


def audit_rows(console: Console, action: str | None = None) -> list[Any]:
    """Every audit row (optionally of one action), oldest first, detached from any session."""
    from sqlalchemy import select

    from raxx_console.audit.models import AuditLog

    query = select(AuditLog).order_by(AuditLog.id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    return detached_rows(console, query)


def detached_rows(console: Console, query: Any) -> list[Any]:
    """The rows ``query`` selects, detached from their session so a test can read them freely."""
    with console.db.session() as session:
        rows = list(session.scalars(query))
        session.expunge_all()
    return rows


# --- a running FreeScout sandbox (ticketing: entries A and B) ---------------------------------

SANDBOX_API_KEY = "sandbox-test-api-key-7c1d0e"
SANDBOX_CF_ID = "sandbox-test-cf-id-41f2.access"
SANDBOX_CF_SECRET = "sandbox-test-cf-secret-93ab5d"
SANDBOX_OPERATIONS_MAILBOX_ID = 2
SANDBOX_BOT_USER_ID = 1


class FreeScoutSandbox:
    """The FreeScout sandbox over real HTTP, behind its Cloudflare Access gate.

    Unpacks as ``(url, api_key, cf_id, cf_secret)``; ``settings()`` wires a console to it, and the
    helpers drive its controls (faults, request log) or read its store.
    """

    def __init__(self, url: str, state: Any) -> None:
        self.url, self.state = url, state
        self.api_key, self.cf_id, self.cf_secret = SANDBOX_API_KEY, SANDBOX_CF_ID, SANDBOX_CF_SECRET

    def __iter__(self) -> Iterator[str]:
        return iter((self.url, self.api_key, self.cf_id, self.cf_secret))

    def settings(self) -> dict[str, Any]:
        return {
            "FREESCOUT_API_URL": self.url,
            "FREESCOUT_INSTANCE_URL": self.url,
            "FREESCOUT_API_KEY": self.api_key,
            "CF_ACCESS_SVC_TICKETS_CLIENT_ID": self.cf_id,
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": self.cf_secret,
            "FREESCOUT_OPERATIONS_MAILBOX_ID": SANDBOX_OPERATIONS_MAILBOX_ID,
            "FREESCOUT_BOT_USER_ID": SANDBOX_BOT_USER_ID,
            "FREESCOUT_TIMEOUT_SECONDS": 5,
        }

    def faults(self, **payload: Any) -> None:
        """``mode`` (ok|down|error500|slow|timeout_after_create), ``latency_ms``, ``tags_module``."""
        import httpx

        httpx.post(f"{self.url}/_sandbox/faults", json=payload, timeout=5).raise_for_status()

    def requests(self, prefix: str = "/api/") -> list[dict[str, Any]]:
        import httpx

        entries = httpx.get(f"{self.url}/_sandbox/requests", timeout=5).json()["requests"]
        return [e for e in entries if e["path"].startswith(prefix)]

    def clear_requests(self) -> None:
        import httpx

        httpx.delete(f"{self.url}/_sandbox/requests", timeout=5).raise_for_status()

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the sandbox's FreeScout API, as an agent in FreeScout would make it."""
        import httpx

        headers = {
            "X-FreeScout-API-Key": self.api_key,
            "CF-Access-Client-Id": self.cf_id,
            "CF-Access-Client-Secret": self.cf_secret,
        }
        return httpx.request(method, f"{self.url}/api/{path}", headers=headers, timeout=5, **kwargs)

    def conversations(self) -> list[Any]:
        """Every conversation in the store, oldest first."""
        with self.state.lock:
            return sorted(self.state.conversations.values(), key=lambda c: c.id)


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

SLACK_SANDBOX_TOKEN = "xoxb-test-sandbox-token"
SLACK_DM_USERS = ("U0ONCALL1", "U0ONCALL2")
DEMO_SURFACE_IDS = ("api-prod", "web-prod")
CONSOLE_BASE_URL = "https://console.raxx.app"


class SlackSandboxServer:
    """The Slack sandbox over real HTTP; ``settings()`` points a console's DMs at it."""

    def __init__(self, url: str, app: Any) -> None:
        self.url, self.app = url, app

    def settings(self) -> dict[str, Any]:
        return {
            "SLACK_BOT_TOKEN": SLACK_SANDBOX_TOKEN,
            "SLACK_API_URL": f"{self.url}/api/",
            "SLACK_ALERT_DM_USER_IDS": ",".join(SLACK_DM_USERS),
        }

    def messages(self, user: str | None = None) -> list[dict[str, Any]]:
        return self.app.messages(user)

    def faults(self, mode: str, **kwargs: Any) -> None:
        """``ok``, ``down``, ``error500``, ``ratelimited`` (``retry_after``), ``slow``."""
        self.app.set_faults(mode, **kwargs)


@pytest.fixture
def slack_sandbox() -> Iterator[SlackSandboxServer]:
    from raxx_console.sandbox.server import BackgroundServer
    from raxx_console.sandbox.slack import create_slack_sandbox

    app = create_slack_sandbox(SLACK_SANDBOX_TOKEN, users=SLACK_DM_USERS)
    with BackgroundServer(app, name="slack-sandbox") as server:
        yield SlackSandboxServer(server.url, app)
        app.reset()


def demo_surfaces_toml(
    health_urls: dict[str, str], *, fail_threshold: int = 2, resolve_threshold: int = 2
) -> str:
    """A ``SURFACES_FILE`` probing the demo surfaces, with quick thresholds and short timeouts."""
    lines = []
    for surface_id, url in health_urls.items():
        lines += [
            "[[surface]]",
            f'id = "{surface_id}"',
            f'name = "{surface_id} (demo)"',
            'workflow = "deploy-heroku.yml"',
            'target_env = "production"',
            f'app = "raxx-{surface_id}"',
            f'health_url = "{url}"',
            "timeout_seconds = 2",
            f"fail_threshold = {fail_threshold}",
            f"resolve_threshold = {resolve_threshold}",
            "",
        ]
    return "\n".join(lines)


class DemoSurfacesServer:
    """Demo health endpoints whose answer the test flips; ``settings()`` makes them the registry."""

    def __init__(self, url: str, app: Any, surfaces_file: Path) -> None:
        self.url, self.app, self.surfaces_file = url, app, surfaces_file

    def set(self, surface_id: str, status: str) -> None:
        """``operational``, ``degraded``, ``down`` or ``slow``."""
        self.app.set_status(surface_id, status)

    def settings(self) -> dict[str, Any]:
        return {"SURFACES_FILE": str(self.surfaces_file)}


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
