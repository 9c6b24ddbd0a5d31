"""Two consoles in one test: the app under test plays prod, ``staging`` is a second live console.

``staging`` runs on its own SQLite copy (the console under test keeps the test's backend) and has
issued the service token prod calls it with. ``peer_settings`` links the console under test to it;
request it before ``app``. Pages that behave as prod need the prod host: ``prod_client``.
``start_console`` starts any second live console (console versions starts a prod one).
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
class LiveConsole:
    app: Flask
    console: Console
    server: BackgroundServer
    #: The service token this console issued for the console under test (``token create --service``).
    token: str
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """Take this console down: its port stops answering."""
        if not self.stopped:
            self.server.stop()
            self.stopped = True


def start_console(
    sqlite_template: Path,
    tmp_path: Path,
    clock: ManualClock,
    *,
    name: str,
    service: str,
    overrides: dict[str, Any] | None = None,
) -> LiveConsole:
    """A second live console on its own SQLite copy, with the service token it issued for ``service``."""
    path = tmp_path / f"{name}.db"
    shutil.copy(sqlite_template, path)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{path}",
            "INSTANCE_PATH": str(tmp_path / f"{name}-instance"),
            "SECRET_KEY": f"{name}-secret-key-0123456789",
            "CONSOLE_ENV": "development",
            "CONSOLE_HOST_ENV_MAP": f"{PROD_HOST}=production,{STAGING_HOST}=staging",
            **(overrides or {}),
        },
        clock=clock,
    )
    console: Console = app.extensions["raxx_console"]
    with console.db.session() as session:
        token = auth_service.create_service_token(session, clock, service=service, actor="test", env=name)
    server = BackgroundServer(app, name=f"{name}-console").start()
    return LiveConsole(app, console, server, token)


@pytest.fixture
def staging(sqlite_template: Path, tmp_path: Path, clock: ManualClock) -> Iterator[LiveConsole]:
    staging = start_console(sqlite_template, tmp_path, clock, name="staging", service="console-prod")
    yield staging
    staging.stop()
    staging.console.db.dispose()


@pytest.fixture
def peer_settings(settings_overrides: dict[str, Any], staging: LiveConsole) -> dict[str, Any]:
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
