"""A local Sentry DSN endpoint: records what the SDK sends, so no test talks to sentry.io."""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

import sentry_sdk
from flask import Flask, Response, request

from raxx_console.sandbox.server import BackgroundServer


class SentryEndpoint:
    """Accepts ``/api/<project>/envelope/`` and ``/api/<project>/store/`` and keeps the events."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        app = Flask("sentry-endpoint")

        @app.post("/api/<int:project>/envelope/")
        @app.post("/api/<int:project>/store/")
        def ingest(project: int) -> Response:
            raw = request.get_data()
            if request.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            text = raw.decode()
            events = []
            if request.path.endswith("/store/"):
                events.append(json.loads(text))
            else:  # an envelope: a header line, then (item header, item payload) pairs
                lines = text.splitlines()
                for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                    if json.loads(header).get("type") == "event":
                        events.append(json.loads(payload))
            with self._lock:
                self.bodies.append(text)
                self.events.extend(events)
            return Response('{"id": "0"}', mimetype="application/json")

        self.server = BackgroundServer(app, name="sentry-endpoint")

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.port}/1"

    def wait_for_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Flush the SDK and wait until ``count`` events arrived; returns them all."""
        sentry_sdk.flush(timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.05)
        with self._lock:
            return list(self.events)

    def messages(self) -> list[str]:
        return [event.get("logentry", {}).get("message") or event.get("message", "") for event in self.events]
