"""The fault switch the Heroku, Infisical and Slack sandboxes share, and its HTTP controls.

A switch holds a mode (``ok``, ``down``, ``error500``, … — each sandbox names its own), how long
an answer waits first (``latency_ms``; a mode such as ``slow`` brings a default), and the knobs a
sandbox adds (``apps`` for Heroku, ``retry_after`` for Slack). Tests flip it in process
(``sandbox.set_faults("down", apps=[...])``) or over HTTP (``GET``/``POST /_sandbox/faults``); a bad
body is a 400 naming the field and changes nothing. ``reset`` wakes every answer sleeping in a
fault, so a test never waits out a long latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request

MAX_LATENCY_MS = 120_000
DOWN_PAGE = "<html><body><h1>503 Service Unavailable</h1></body></html>"


def down_response() -> Response:
    """What a load balancer answers for a service that is down: 503 with an HTML page."""
    return Response(DOWN_PAGE, status=503, mimetype="text/html")


@dataclass(frozen=True)
class Knob:
    """One extra field of a sandbox's faults: its default, its check, and the words for a bad value."""

    default: Any
    valid: Callable[[Any], bool]
    expected: str


def whole_number(low: int, high: int) -> Callable[[Any], bool]:
    """A check for an integer (not a bool) from ``low`` to ``high``."""
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def names(value: Any) -> bool:
    """A check for a list of strings."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_LATENCY = Knob(0, whole_number(0, MAX_LATENCY_MS), f"an integer from 0 to {MAX_LATENCY_MS}")


class FaultError(ValueError):
    """A fault setting the switch refuses; the message names the field."""


class FaultSwitch:
    """One sandbox's faults, guarded by a lock; ``sleep`` is cut short by ``reset``."""

    def __init__(
        self,
        modes: tuple[str, ...],
        *,
        default_latency_ms: Mapping[str, int] | None = None,
        knobs: Mapping[str, Knob] | None = None,
    ) -> None:
        self.modes = modes
        self._default_latency = dict(default_latency_ms or {})
        self._knobs = {"latency_ms": _LATENCY, **(knobs or {})}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._settings: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        """Back to ``ok`` with every knob at its default; wake any answer sleeping in a fault."""
        with self._lock:
            self._settings = {"mode": "ok", **{name: knob.default for name, knob in self._knobs.items()}}
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    def set(self, mode: str = "ok", **fields: Any) -> dict[str, Any]:
        """Switch to ``mode``; a ``latency_ms`` of 0 (or none) takes the mode's default wait."""
        if mode not in self.modes:
            raise FaultError(f"mode must be one of {', '.join(self.modes)}")
        unknown = sorted(set(fields) - set(self._knobs))
        if unknown:
            raise FaultError(f"unknown field(s): {', '.join(unknown)}")
        settings: dict[str, Any] = {"mode": mode}
        for name, knob in self._knobs.items():
            value = fields.get(name, knob.default)
            if value is None:
                value = knob.default
            if not knob.valid(value):
                raise FaultError(f"{name} must be {knob.expected}")
            settings[name] = value
        settings["latency_ms"] = settings["latency_ms"] or self._default_latency.get(mode, 0)
        with self._lock:
            self._settings = settings
            return dict(settings)

    def set_from_json(self, body: object) -> dict[str, Any]:
        """``POST /_sandbox/faults``'s body: a JSON object of the mode and knobs."""
        if not isinstance(body, dict):
            raise FaultError(f"expected a JSON object with any of: mode, {', '.join(self._knobs)}")
        return self.set(**body)

    def current(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._settings)

    def sleep(self, milliseconds: int) -> None:
        """Wait, unless a reset comes first."""
        if milliseconds > 0:
            with self._lock:
                wake = self._wake
            wake.wait(milliseconds / 1000)


class FaultedSandbox(Flask):
    """A sandbox app with its fault switch and a log of the requests sent to it.

    The log keeps method, path and whether a credential came, never its value. ``reset`` in a
    subclass clears its own state and calls ``fault_switch.reset()``.
    """

    def __init__(self, import_name: str, switch: FaultSwitch) -> None:
        super().__init__(import_name)
        self._lock = threading.Lock()
        self.fault_switch = switch
        self.requests: list[dict[str, Any]] = []

    def set_faults(self, mode: str = "ok", **fields: Any) -> dict[str, Any]:
        """Switch to ``mode`` with the sandbox's knobs (``latency_ms``, ``apps``, ``retry_after``)."""
        return self.fault_switch.set(mode, **fields)

    def faults(self) -> dict[str, Any]:
        return self.fault_switch.current()

    def log_request(self) -> None:
        """Note the request being served in the log."""
        entry = {"method": request.method, "path": request.path, "auth": "Authorization" in request.headers}
        with self._lock:
            self.requests.append(entry)

    def logged_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests)


def add_sandbox_controls(
    app: Flask,
    switch: FaultSwitch,
    *,
    refuse: Callable[[str], Response],
    reset: Callable[[], None],
    requests: Callable[[], list[dict[str, Any]]] | None = None,
) -> None:
    """``GET``/``POST /_sandbox/faults``, ``POST /_sandbox/reset`` and, given ``requests``, the log
    ``GET /_sandbox/requests``; ``refuse`` words a 400 in the sandbox's own error shape."""

    def get_faults() -> Response:
        return jsonify(switch.current())

    def post_faults() -> Response:
        try:
            return jsonify(switch.set_from_json(request.get_json(silent=True)))
        except FaultError as exc:
            return refuse(str(exc))

    def post_reset() -> Response:
        reset()
        return jsonify({"reset": True})

    app.add_url_rule("/_sandbox/faults", "get_faults", get_faults, methods=["GET"])
    app.add_url_rule("/_sandbox/faults", "post_faults", post_faults, methods=["POST"])
    app.add_url_rule("/_sandbox/reset", "post_reset", post_reset, methods=["POST"])
    if requests is not None:
        log = requests
        app.add_url_rule("/_sandbox/requests", "get_requests", lambda: jsonify({"requests": log()}))
