"""A Heroku Platform API sandbox: ``GET``/``PATCH /apps/{app}/config-vars``, in memory.

The wire format of the real API: ``Accept: application/vnd.heroku+json; version=3`` (without it,
400 ``missing_version``), ``Authorization: Bearer <token>`` (else 401 ``unauthorized``), errors as
``{"id", "message"}`` (404 ``not_found`` for an unknown app, 422 ``invalid_params`` for a body
that is not an object of strings or nulls), and both calls answer with *every* config var of
the app; ``PATCH`` sets the given vars, ``null`` unsets one, and each change is a new release.

Faults (``POST /_sandbox/faults`` ``{"mode", "apps", "latency_ms"}``): ``ok``, ``down`` (503
HTML from the router), ``error500``, ``ratelimited`` (429 ``rate_limit``), ``slow``; ``apps``
narrows the fault to those apps (the "vault written, one app not" failure). ``/_sandbox/reset``,
``/_sandbox/requests`` (method, path, auth present — never a value) and ``/`` (apps, var names,
fingerprints) are for tests and demos; nothing here ever shows a config var's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from flask import Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from raxx_console.sandbox.faults import (
    FaultedSandbox,
    FaultSwitch,
    Knob,
    add_sandbox_controls,
    down_response,
    names,
)
from raxx_console.secrets.fingerprint import fingerprint

FAULT_MODES = ("ok", "down", "error500", "ratelimited", "slow")
_VERSION = "version=3"


class HerokuSandbox(FaultedSandbox):
    """The sandbox app; apps and their config vars live on the instance."""

    def __init__(self, token: str, apps: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__(
            "raxx_console.sandbox.heroku",
            FaultSwitch(
                FAULT_MODES,
                default_latency_ms={"slow": 3000},
                knobs={"apps": Knob([], names, "a list of app names")},
            ),
        )
        self.token = token
        self._seed = {app: dict(config) for app, config in apps.items()}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.apps: dict[str, dict[str, str]] = {app: dict(c) for app, c in self._seed.items()}
            self.releases: dict[str, int] = {app: 1 for app in self._seed}
            self.requests.clear()
        self.fault_switch.reset()

    def config_var(self, app: str, name: str) -> str | None:
        """For tests in the same process: one value (the HTTP controls never show values)."""
        with self._lock:
            return self.apps.get(app, {}).get(name)

    def set_config_var(self, app: str, name: str, value: str) -> None:
        """Seed a value (the stack seeds the registry's secrets this way)."""
        with self._lock:
            self.apps.setdefault(app, {})[name] = value
            self._seed.setdefault(app, {})[name] = value


def _error(status: int, error_id: str, message: str) -> Response:
    response = jsonify({"id": error_id, "message": message})
    response.status_code = status
    return response


def create_heroku_sandbox(token: str, apps: Mapping[str, Mapping[str, str]]) -> HerokuSandbox:
    """The sandbox app: ``apps`` maps each app name to its initial config vars."""
    app = HerokuSandbox(token, apps)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 400, "bad_request", exc.description or exc.name)

    def refuse(name: str) -> Response | None:
        if _VERSION not in request.headers.get("Accept", "").replace(" ", ""):
            return _error(
                400,
                "missing_version",
                "Please specify a version along with Heroku's API MIME type. "
                "For example, `Accept: application/vnd.heroku+json; version=3`.",
            )
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:].strip() != app.token:
            return _error(401, "unauthorized", "Invalid credentials provided.")
        faults = app.faults()
        if faults["apps"] and name not in faults["apps"]:
            return None
        app.fault_switch.sleep(faults["latency_ms"])
        if faults["mode"] == "down":
            return down_response()
        if faults["mode"] == "error500":
            return _error(500, "internal_server_error", "Internal server error.")
        if faults["mode"] == "ratelimited":
            return _error(429, "rate_limit", "Your account reached the API rate limit.")
        return None

    @app.route("/apps/<name>/config-vars", methods=["GET", "PATCH"])
    def config_vars(name: str) -> Response:
        app.log_request()
        refused = refuse(name)
        if refused is not None:
            return refused
        with app._lock:
            config = app.apps.get(name)
        if config is None:
            return _error(404, "not_found", "Couldn't find that app.")
        if request.method == "PATCH":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not all(v is None or isinstance(v, str) for v in body.values()):
                return _error(422, "invalid_params", "Config vars must be strings (or null to unset).")
            with app._lock:
                for key, value in body.items():
                    if value is None:
                        config.pop(key, None)
                    else:
                        config[key] = value
                app.releases[name] += 1
        with app._lock:
            return jsonify(dict(config))

    bad_control = partial(_error, 400, "bad_request")
    add_sandbox_controls(
        app, app.fault_switch, refuse=bad_control, reset=app.reset, requests=app.logged_requests
    )

    @app.get("/")
    def index() -> Response:
        with app._lock:
            rows = "".join(
                f"<tr><td>{escape(name)}</td><td>{app.releases[name]}</td><td>{escape(key)}</td>"
                f"<td><code>{fingerprint(value)}</code></td></tr>"
                for name, config in sorted(app.apps.items())
                for key, value in sorted(config.items())
            )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="3"><title>Heroku sandbox — config vars</title></head>'
            "<body><h1>Heroku sandbox</h1><p>Config vars by app: names and fingerprints (sha256 prefix),"
            " never values. Refreshes every 3 s.</p><table><thead><tr><th>app</th><th>release</th>"
            f"<th>var</th><th>fingerprint</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
        )
        return Response(page, mimetype="text/html")

    return app
