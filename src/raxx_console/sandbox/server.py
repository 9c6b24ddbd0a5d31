"""Serve a WSGI app on a background thread: how the sandboxes run beside the console and in tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """The sandboxes' access lines would drown the console's own log."""

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


class BackgroundServer:
    """A threaded werkzeug server on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0, name: str = "sandbox"
    ) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self.host = host
        self.port = self._server.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
