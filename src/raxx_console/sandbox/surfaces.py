"""Demo surfaces: health endpoints whose answer can be flipped, for ``serve --sandbox`` and tests.

``GET /surfaces/<id>/health`` answers per the surface's mode — operational: 200
``{"status": "ok"}``; degraded: 200 ``{"status": "degraded"}``; down: 503; slow: 200 after a
delay longer than the default latency budget. A newcomer flips a surface from the page at
``/`` (or ``POST /_sandbox/surfaces/<id>``) and watches the poller notice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

MODES = ("operational", "degraded", "down", "slow")
DEFAULT_SLOW_MS = 1500  # above the surfaces' default 1000 ms latency budget
MAX_LATENCY_MS = 120_000


class DemoSurfaces(Flask):
    """The demo app; each surface has a mode and an optional extra latency."""

    def __init__(self, surface_ids: Iterable[str], *, slow_latency_ms: int = DEFAULT_SLOW_MS) -> None:
        super().__init__("raxx_console.sandbox.surfaces")
        self.config["MAX_CONTENT_LENGTH"] = 64 * 1024
        self.surface_ids: tuple[str, ...] = tuple(dict.fromkeys(surface_ids))
        if not self.surface_ids:
            raise ValueError("at least one surface id is needed")
        self.slow_latency_ms = slow_latency_ms
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.reset()

    def reset(self) -> None:
        """Every surface back to operational with no added latency; wake sleeping answers."""
        with self._lock:
            self._state: dict[str, dict[str, Any]] = {
                sid: {"status": "operational", "latency_ms": 0} for sid in self.surface_ids
            }
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    def set_status(self, surface_id: str, status: str, latency_ms: int | None = None) -> dict[str, Any]:
        """Flip one surface (KeyError for an unknown id, ValueError for a bad mode)."""
        if status not in MODES:
            raise ValueError(f"status must be one of {', '.join(MODES)}")
        with self._lock:
            if surface_id not in self._state:
                raise KeyError(surface_id)
            self._state[surface_id] = {"status": status, "latency_ms": latency_ms or 0}
            return {"id": surface_id, **self._state[surface_id]}

    def state(self, surface_id: str) -> dict[str, Any] | None:
        with self._lock:
            current = self._state.get(surface_id)
            return None if current is None else {"id": surface_id, **current}

    def states(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"id": sid, **self._state[sid]} for sid in self.surface_ids]

    def health_urls(self, base_url: str) -> dict[str, str]:
        """Where each demo surface answers, given the server's base URL."""
        base = base_url.rstrip("/")
        return {sid: f"{base}/surfaces/{quote(sid, safe='')}/health" for sid in self.surface_ids}

    def _delay(self, state: dict[str, Any]) -> float:
        milliseconds = state["latency_ms"]
        if state["status"] == "slow" and not milliseconds:
            milliseconds = self.slow_latency_ms
        return milliseconds / 1000

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)


def _error(message: str, status: int) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def create_demo_surfaces(
    surface_ids: Iterable[str], *, slow_latency_ms: int = DEFAULT_SLOW_MS
) -> DemoSurfaces:
    """The demo surfaces app for ``surface_ids``, all operational to start with."""
    app = DemoSurfaces(surface_ids, slow_latency_ms=slow_latency_ms)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _error(exc.description or exc.name, exc.code or 400)

    @app.get("/surfaces/<surface_id>/health")
    def health(surface_id: str) -> Response:
        state = app.state(surface_id)
        if state is None:
            return _error(f"unknown surface '{surface_id}'", 404)
        app._sleep(app._delay(state))
        if state["status"] == "down":
            return _json({"status": "down"}, 503)
        if state["status"] == "degraded":
            return _json({"status": "degraded"}, 200)
        return _json({"status": "ok"}, 200)

    @app.get("/_sandbox/surfaces")
    def list_surfaces() -> Response:
        return jsonify({"surfaces": app.states()})

    @app.post("/_sandbox/surfaces/<surface_id>")
    def flip(surface_id: str) -> Response:
        if app.state(surface_id) is None:
            return _error(f"unknown surface '{surface_id}'", 404)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error('expected a JSON object such as {"status": "down"}', 400)
        unknown = set(body) - {"status", "latency_ms"}
        if unknown:
            return _error(f"unknown field(s): {', '.join(sorted(unknown))}", 400)
        status = body.get("status")
        if status not in MODES:
            return _error(f"status must be one of {', '.join(MODES)}", 400)
        latency = body.get("latency_ms")
        if latency is not None and (
            not isinstance(latency, int) or isinstance(latency, bool) or not 0 <= latency <= MAX_LATENCY_MS
        ):
            return _error(f"latency_ms must be an integer from 0 to {MAX_LATENCY_MS}", 400)
        return jsonify(app.set_status(surface_id, status, latency))

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        app.reset()
        return jsonify({"surfaces": app.states()})

    @app.get("/")
    def index() -> Response:
        rows = []
        for state in app.states():
            sid = escape(state["id"])
            buttons = "".join(
                f'<button data-id="{sid}" data-status="{mode}"'
                f"{' disabled' if mode == state['status'] else ''}>{mode}</button> "
                for mode in MODES
            )
            latency = f" (+{state['latency_ms']} ms)" if state["latency_ms"] else ""
            rows.append(
                f'<tr><td>{sid}</td><td class="st-{escape(state["status"])}">'
                f"{escape(state['status'])}{latency}</td><td>{buttons}</td>"
                f'<td><a href="surfaces/{escape(quote(state["id"], safe=""))}/health">health</a>'
                "</td></tr>"
            )
        return Response(_PAGE.replace("{rows}", "".join(rows)), mimetype="text/html")

    return app


def _json(payload: dict[str, Any], status: int) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo surfaces</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; }
td, th { padding: .4rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }
.st-operational { color: #1a7f37; } .st-degraded, .st-slow { color: #9a6700; }
.st-down { color: #cf222e; font-weight: bold; }
</style></head>
<body>
<h1>Demo surfaces</h1>
<p>Flip a surface and watch the status grid (and Slack sandbox) react after the poller's
fail threshold. <button id="reset">reset all</button></p>
<table><thead><tr><th>surface</th><th>answers</th><th>set to</th><th></th></tr></thead>
<tbody>{rows}</tbody></table>
<p id="error" role="alert"></p>
<script>
async function post(url, body) {
  const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(body)});
  if (!r.ok) { document.getElementById("error").textContent = (await r.json()).error; return; }
  location.reload();
}
document.querySelectorAll("button[data-id]").forEach(b => b.addEventListener("click",
  () => post("_sandbox/surfaces/" + encodeURIComponent(b.dataset.id), {status: b.dataset.status})));
document.getElementById("reset").addEventListener("click", () => post("_sandbox/reset", {}));
</script>
</body></html>
"""
