"""An Infisical sandbox: universal-auth login and the v3 raw secrets API, in memory, versioned.

The wire format of the real API: ``POST /api/v1/auth/universal-auth/login`` ``{clientId,
clientSecret}`` → ``{accessToken, expiresIn, accessTokenMaxTTL, tokenType}``; ``GET``, ``POST``
(create) and ``PATCH`` (update) ``/api/v3/secrets/raw/{name}`` scoped by ``workspaceId``,
``environment`` and ``secretPath`` (query for GET, JSON body for writes; GET takes ``version``),
answering ``{"secret": {id, workspace, environment, version, type, secretKey, secretValue,
secretComment, secretPath}}``; errors ``{"statusCode", "message", "error"}`` (401 without a valid
token, 404 for an unknown secret or project, 400 for a create over an existing secret).

Faults (``POST /_sandbox/faults`` ``{"mode", "latency_ms"}``): ``ok``, ``down`` (503 HTML),
``error500``, ``slow``, and ``timeout_after_write`` (a write is stored, then the answer waits
``latency_ms``, so the client times out although the vault has the new value).
``/_sandbox/reset``, ``/_sandbox/requests`` and ``/`` (paths, names, versions, fingerprints)
never show a value.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from raxx_console.sandbox.faults import FaultedSandbox, FaultSwitch, add_sandbox_controls, down_response
from raxx_console.secrets.fingerprint import fingerprint

FAULT_MODES = ("ok", "down", "error500", "slow", "timeout_after_write")
TOKEN_TTL_SECONDS = 7200


class InfisicalSandbox(FaultedSandbox):
    """The sandbox app. ``secrets`` maps ``(path, name)`` to the list of versions, oldest first."""

    def __init__(
        self, client_id: str, client_secret: str, project_id: str, environment: str,
        seed: Mapping[tuple[str, str], str],
    ) -> None:  # fmt: skip
        super().__init__(
            "raxx_console.sandbox.infisical",
            FaultSwitch(FAULT_MODES, default_latency_ms={"slow": 3000, "timeout_after_write": 5000}),
        )
        self.client_id, self.client_secret = client_id, client_secret
        self.project_id, self.environment = project_id, environment
        self._seed = dict(seed)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.store: dict[tuple[str, str], list[str]] = {key: [v] for key, v in self._seed.items()}
            self.tokens: set[str] = set()
            self.requests.clear()
        self.fault_switch.reset()

    def current(self, path: str, name: str) -> str | None:
        """For tests in the same process: the current value (HTTP controls never show values)."""
        with self._lock:
            versions = self.store.get((path, name))
            return versions[-1] if versions else None

    def versions(self, path: str, name: str) -> int:
        with self._lock:
            return len(self.store.get((path, name), []))

    def seed_secret(self, path: str, name: str, value: str) -> None:
        """Seed a value (as the stack does for the registry's secrets)."""
        with self._lock:
            self.store.setdefault((path, name), []).append(value)
            self._seed[(path, name)] = value


def _error(status: int, error: str, message: str) -> Response:
    response = jsonify({"statusCode": status, "message": message, "error": error})
    response.status_code = status
    return response


def create_infisical_sandbox(
    *,
    client_id: str,
    client_secret: str,
    project_id: str,
    environment: str = "prod",
    seed: Mapping[tuple[str, str], str] | None = None,
) -> InfisicalSandbox:
    """The sandbox app with one machine identity and one project/environment."""
    app = InfisicalSandbox(client_id, client_secret, project_id, environment, seed or {})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 400, exc.name.replace(" ", ""), exc.description or exc.name)

    def fault() -> Response | None:
        faults = app.faults()
        mode, latency = faults["mode"], faults["latency_ms"]
        if mode == "timeout_after_write":
            return None  # reads answer at once; a write is stored first, its answer delayed after
        app.fault_switch.sleep(latency)
        if mode == "down":
            return down_response()
        if mode == "error500":
            return _error(500, "InternalServerError", "Something went wrong")
        return None

    @app.post("/api/v1/auth/universal-auth/login")
    def login() -> Response:
        app.log_request()
        refused = fault()
        if refused is not None:
            return refused
        body = request.get_json(silent=True) or {}
        if body.get("clientId") != app.client_id or body.get("clientSecret") != app.client_secret:
            return _error(401, "UnauthorizedError", "Invalid credentials")
        token = f"sandbox-at-{secrets.token_urlsafe(24)}"
        with app._lock:
            app.tokens.add(token)
        return jsonify(
            {
                "accessToken": token,
                "expiresIn": TOKEN_TTL_SECONDS,
                "accessTokenMaxTTL": TOKEN_TTL_SECONDS,
                "tokenType": "Bearer",
            }
        )

    def entity(path: str, name: str, version: int, value: str) -> dict[str, Any]:
        return {
            "secret": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path}/{name}")),
                "workspace": app.project_id,
                "environment": app.environment,
                "version": version,
                "type": "shared",
                "secretKey": name,
                "secretValue": value,
                "secretComment": "",
                "secretPath": path,
            }
        }

    @app.route("/api/v3/secrets/raw/<name>", methods=["GET", "POST", "PATCH"])
    def raw_secret(name: str) -> Response:
        app.log_request()
        header = request.headers.get("Authorization", "")
        with app._lock:
            authed = header.startswith("Bearer ") and header[7:].strip() in app.tokens
        if not authed:
            return _error(401, "UnauthorizedError", "Failed to authenticate")
        write = request.method != "GET"
        refused = fault()
        if refused is not None:
            return refused
        params = (request.get_json(silent=True) or {}) if write else request.args
        if params.get("workspaceId") != app.project_id or params.get("environment") != app.environment:
            return _error(404, "NotFound", "Project or environment not found")
        path = params.get("secretPath") or "/"
        key = (path, name)
        if not write:
            with app._lock:
                versions = list(app.store.get(key, []))
            wanted = request.args.get("version", type=int) or len(versions)
            if not versions or not 1 <= wanted <= len(versions):
                return _error(404, "NotFound", f"Secret with name '{name}' not found")
            return jsonify(entity(path, name, wanted, versions[wanted - 1]))
        value = params.get("secretValue")
        if not isinstance(value, str):
            return _error(400, "BadRequest", "secretValue must be a string")
        with app._lock:
            exists = key in app.store
            if request.method == "POST" and exists:
                return _error(400, "BadRequest", "Secret already exist")
            if request.method == "PATCH" and not exists:
                return _error(404, "NotFound", f"Secret with name '{name}' not found")
            app.store.setdefault(key, []).append(value)
            version = len(app.store[key])
        faults = app.faults()
        if faults["mode"] == "timeout_after_write":
            app.fault_switch.sleep(faults["latency_ms"])
        return jsonify(entity(path, name, version, value))

    bad_control = partial(_error, 400, "BadRequest")
    add_sandbox_controls(
        app, app.fault_switch, refuse=bad_control, reset=app.reset, requests=app.logged_requests
    )

    @app.get("/")
    def index() -> Response:
        with app._lock:
            rows = "".join(
                f"<tr><td><code>{escape(path)}</code></td><td>{escape(name)}</td><td>{len(versions)}</td>"
                f"<td><code>{fingerprint(versions[-1])}</code></td></tr>"
                for (path, name), versions in sorted(app.store.items())
            )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="3"><title>Infisical sandbox — the vault</title></head>'
            f"<body><h1>Infisical sandbox</h1><p>Project <code>{escape(app.project_id)}</code>, environment"
            f" <code>{escape(app.environment)}</code>: secrets by path, their version and fingerprint"
            " (sha256 prefix), never values. Refreshes every 3 s.</p><table><thead><tr><th>path</th>"
            f"<th>name</th><th>version</th><th>fingerprint</th></tr></thead><tbody>{rows}</tbody></table>"
            "</body></html>"
        )
        return Response(page, mimetype="text/html")

    return app
