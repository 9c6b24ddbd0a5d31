"""Two consoles in one test: the app under test plays prod, ``staging`` is a second live console.

``staging`` runs on its own SQLite copy (the console under test keeps the test's backend) and has
issued the service token prod calls it with. ``peer_settings`` links the console under test to it;
request it before ``app``. Pages that behave as prod need the prod host: ``prod_client``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from raxx_console import create_app
from raxx_console.auth import service as auth_service
from raxx_console.clock import ManualClock
from raxx_console.context import Console
from raxx_console.sandbox.server import BackgroundServer

PROD_HOST = "console.raxx.app"
STAGING_HOST = "console-staging.raxx.app"


@dataclass
class StagingConsole:
    app: Flask
    console: Console
    server: BackgroundServer
    #: The service token staging issued for prod (``token create --service console-prod``).
    token: str
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """Take staging down: its port stops answering."""
        if not self.stopped:
            self.server.stop()
            self.stopped = True


@pytest.fixture
def staging(sqlite_template: Path, tmp_path: Path, clock: ManualClock) -> Iterator[StagingConsole]:
    path = tmp_path / "staging.db"
    shutil.copy(sqlite_template, path)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{path}",
            "INSTANCE_PATH": str(tmp_path / "staging-instance"),
            "SECRET_KEY": "staging-secret-key-0123456789",
            "CONSOLE_ENV": "development",
            "CONSOLE_HOST_ENV_MAP": f"{PROD_HOST}=production,{STAGING_HOST}=staging",
        },
        clock=clock,
    )
    console: Console = app.extensions["raxx_console"]
    with console.db.session() as session:
        token = auth_service.create_service_token(
            session, clock, service="console-prod", actor="test", env="staging"
        )
    server = BackgroundServer(app, name="staging-console").start()
    staging = StagingConsole(app, console, server, token)
    yield staging
    staging.stop()
    console.db.dispose()


@pytest.fixture
def peer_settings(settings_overrides: dict[str, Any], staging: StagingConsole) -> dict[str, Any]:
    """The console under test (prod) linked to ``staging``; request it before ``app``."""
    settings_overrides["CONSOLE_PEER_URLS"] = f"staging={staging.url}"
    settings_overrides["CONSOLE_PEER_TOKEN"] = staging.token
    return settings_overrides


class HostClient(FlaskClient):
    """A test client that visits the app by one host name (the env comes from the host)."""

    host = PROD_HOST

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("base_url", f"http://{self.host}")
        return super().open(*args, **kwargs)


def prod_client(app: Flask) -> FlaskClient:
    """A test client that visits the console under test by its production host."""
    return HostClient(app, app.response_class, use_cookies=True)


@contextmanager
def serve_tls(app: Flask) -> Iterator[int]:
    """The app over HTTPS (self-signed) on a free port: Chromium upgrades the ``.app`` hosts
    to https (HSTS preload), so the browser can only visit them over TLS."""
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context="adhoc")
    thread = threading.Thread(target=server.serve_forever, name="console-tls", daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
