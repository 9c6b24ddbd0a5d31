"""A GitHub sandbox: the REST calls deploys and console promotion make, in GitHub's wire format.

It declares the three deploy workflows of the cockpit runbook §4 with their ``workflow_dispatch``
inputs and a ``run-name`` that names every input's value, and serves, under
``/repos/{owner}/{repo}``:

- ``POST /actions/workflows/{file}/dispatches``: 204, or 200 with ``workflow_run_id``,
  ``run_url`` and ``html_url`` when ``return_run_details`` is true (off with the ``legacy``
  control, as on older servers); 404 for an unknown workflow; 422 for an undeclared input, a
  missing required input, or a SHA as the dispatch ``ref`` (it takes a branch or a tag only).
- ``GET /actions/workflows/{file}/runs`` with ``event``, ``status``, ``created`` (``>=``/``<=``/
  ``a..b``), ``per_page`` and ``page`` (a new run is listed only after ``list_delay_seconds``, as
  GitHub's list lags a dispatch); ``GET /actions/runs/{id}``. A run is ``queued`` for
  ``queued_seconds``, ``in_progress`` for ``run_seconds``, then ``completed`` with the configured
  ``conclusion`` — by the sandbox's clock, so tests move time by hand.
- ``GET /commits/{ref}`` and ``GET /compare/{base}...{head}`` over a small linear ``main``.

Every API call needs ``Authorization: Bearer <token>`` (else 401 ``Bad credentials``).
Controls (never gated): ``GET/POST /_sandbox/faults`` (``mode`` ok | down = 503 | error500 |
unauthorized = 401 for any token; ``latency_ms``), ``POST /_sandbox/pace``
(``queued_seconds``, ``run_seconds``, ``conclusion``, ``list_delay_seconds``),
``POST /_sandbox/legacy`` (``{"on": true}``: dispatch answers a bare 204),
``POST /_sandbox/commits`` (push a commit to main),
``GET /_sandbox/dispatches``, ``GET /_sandbox/deployed?workflow=&environment=`` (the SHA the
newest successful run deployed and when it finished: what a console's ``/version`` would report;
a console reads it with ``VERSION_SANDBOX_DEPLOYED_URL``, raxx_console/version.py),
``POST /_sandbox/reset``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, jsonify, request

from raxx_console.clock import Clock, SystemClock
from raxx_console.sandbox.faults import FaultSwitch, add_sandbox_controls, down_response

OWNER_REPO = "raxx/raxx"
FAULT_MODES = ("ok", "down", "error500", "unauthorized")
CONCLUSIONS = ("success", "failure", "cancelled")
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow file: its ``workflow_dispatch`` inputs (name → required) and its ``run-name``."""

    id: int
    path: str
    name: str
    inputs: dict[str, bool]
    run_name: str

    def title(self, inputs: dict[str, str]) -> str:
        return re.sub(r"\$\{\{\s*inputs\.(\w+)\s*\}\}", lambda m: inputs.get(m.group(1), ""), self.run_name)


#: The runbook's three workflow files. ``run-name`` carries every input so a run is found by them.
WORKFLOWS: tuple[WorkflowSpec, ...] = (
    WorkflowSpec(
        101,
        "deploy-heroku.yml",
        "Deploy API (Heroku)",
        {"environment": True, "ref": True},
        "deploy-heroku ${{ inputs.environment }} ${{ inputs.ref }}",
    ),
    WorkflowSpec(
        102,
        "deploy-console.yml",
        "Deploy console",
        {"environment": True, "ref": True},
        "deploy-console ${{ inputs.environment }} ${{ inputs.ref }}",
    ),
    WorkflowSpec(
        103,
        "deploy-customer-docs.yml",
        "Deploy customer docs (CF Pages)",
        {"environment": True, "ref": True, "site": True},
        "deploy-customer-docs ${{ inputs.site }} ${{ inputs.environment }} ${{ inputs.ref }}",
    ),
)


@dataclass
class Run:
    id: int
    workflow: WorkflowSpec
    inputs: dict[str, str]
    head_sha: str
    deployed_sha: str
    created_at: datetime
    queued_seconds: float
    run_seconds: float
    conclusion: str


@dataclass
class GitHubSandboxState:
    token: str
    clock: Clock
    faults: FaultSwitch = field(default_factory=lambda: FaultSwitch(FAULT_MODES))
    legacy: bool = False
    queued_seconds: float = 2.0
    run_seconds: float = 6.0
    conclusion: str = "success"
    list_delay_seconds: float = 0.0
    runs: list[Run] = field(default_factory=list)
    commits: list[dict[str, str]] = field(default_factory=list)  # oldest first, on main
    tags: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.legacy = False
            self.faults.reset()
            self.queued_seconds, self.run_seconds, self.conclusion = 2.0, 6.0, "success"
            self.list_delay_seconds = 0.0
            self.runs.clear()
            self.commits.clear()
            self.tags.clear()
        for message, author in (
            ("Initial console", "Kristerpher"),
            ("Status grid and Investigate", "Dana Whitfield"),
            ("Deploys from the cockpit", "Lee Okafor"),
        ):
            self.push(message, author)

    def push(self, message: str, author: str) -> str:
        """A new commit on main; its SHA."""
        with self.lock:
            parent = self.commits[-1]["sha"] if self.commits else ""
            sha = hashlib.sha1(f"{parent}\n{message}\n{author}".encode()).hexdigest()  # noqa: S324 - a git id
            stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            self.commits.append({"sha": sha, "message": message, "author": author, "date": stamp})
            return sha

    def resolve(self, ref: str) -> str | None:
        """A branch (main), tag or (abbreviated) SHA of main → its full SHA."""
        with self.lock:
            if ref in ("main", "HEAD") and self.commits:
                return self.commits[-1]["sha"]
            if ref in self.tags:
                return self.tags[ref]
            if _SHA.match(ref):
                return next((c["sha"] for c in self.commits if c["sha"].startswith(ref)), None)
            return None

    def status_of(self, run: Run) -> tuple[str, str | None]:
        age = (self.clock.now() - run.created_at).total_seconds()
        if age < run.queued_seconds:
            return "queued", None
        if age < run.queued_seconds + run.run_seconds:
            return "in_progress", None
        return "completed", run.conclusion

    def deployed(self, workflow: str, environment: str) -> str | None:
        """The SHA the newest successful completed run of ``workflow`` to ``environment`` deployed."""
        run = self.deployed_run(workflow, environment)
        return run.deployed_sha if run is not None else None

    def deployed_run(self, workflow: str, environment: str) -> Run | None:
        """The newest successful completed run of ``workflow`` to ``environment``."""
        for run in reversed(self.runs):
            if run.workflow.path == workflow and run.inputs.get("environment") == environment:
                if self.status_of(run) == ("completed", "success"):
                    return run
        return None


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str) -> Response:
    response = jsonify(
        {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}
    )
    response.status_code = status
    return response


def _created_filter(value: str) -> tuple[datetime | None, datetime | None]:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    if ".." in value:
        low, high = value.split("..", 1)
        return (parse(low) if low != "*" else None), (parse(high) if high != "*" else None)
    if value.startswith(">="):
        return parse(value[2:]), None
    if value.startswith("<="):
        return None, parse(value[2:])
    day = parse(value)
    return day, day + timedelta(days=1)


def create_github_sandbox(*, token: str, clock: Clock | None = None) -> Flask:
    """The sandbox app; its state is ``app.extensions["github_sandbox"]``."""
    app = Flask("github_sandbox")
    state = GitHubSandboxState(token=token, clock=clock or SystemClock())
    app.extensions["github_sandbox"] = state
    by_path = {w.path: w for w in WORKFLOWS}
    base_url = ""

    def html_base() -> str:
        return base_url or request.host_url.rstrip("/")

    def run_json(run: Run) -> dict[str, Any]:
        status, conclusion = state.status_of(run)
        root = html_base()
        return {
            "id": run.id,
            "name": run.workflow.name,
            "display_title": run.workflow.title(run.inputs),
            "event": "workflow_dispatch",
            "status": status,
            "conclusion": conclusion,
            "workflow_id": run.workflow.id,
            "head_branch": "main",
            "head_sha": run.head_sha,
            "path": f".github/workflows/{run.workflow.path}",
            "created_at": _iso(run.created_at),
            "updated_at": _iso(state.clock.now()),
            "url": f"{root}/repos/{OWNER_REPO}/actions/runs/{run.id}",
            "html_url": f"{root}/{OWNER_REPO}/actions/runs/{run.id}",
        }

    def commit_json(commit: dict[str, str]) -> dict[str, Any]:
        return {
            "sha": commit["sha"],
            "commit": {
                "message": commit["message"],
                "author": {"name": commit["author"], "date": commit["date"]},
            },
            "author": {"login": commit["author"].split()[0].lower()},
            "html_url": f"{html_base()}/{OWNER_REPO}/commit/{commit['sha']}",
        }

    @app.before_request
    def gate() -> Response | None:
        if not request.path.startswith("/repos/"):
            return None
        faults = state.faults.current()
        state.faults.sleep(faults["latency_ms"])
        if faults["mode"] == "down":
            return down_response()
        if faults["mode"] == "error500":
            return _error(500, "Server Error")
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {state.token}"
        if faults["mode"] == "unauthorized" or not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, "Bad credentials")
        return None

    def workflow(owner: str, repo: str, file: str) -> WorkflowSpec:
        spec = by_path.get(file)
        if f"{owner}/{repo}" != OWNER_REPO or spec is None:
            raise _Refused(404, "Not Found")
        return spec

    @app.errorhandler(_Refused)
    def refused(exc: _Refused) -> Response:
        return _error(exc.status, exc.message)

    @app.post("/repos/<owner>/<repo>/actions/workflows/<file>/dispatches")
    def dispatch(owner: str, repo: str, file: str) -> Response:
        spec = workflow(owner, repo, file)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            raise _Refused(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        ref = body["ref"]
        if ref != "main" and ref not in state.tags:
            raise _Refused(422, f"No ref found for: {ref}")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
            raise _Refused(
                422, "Invalid request.\n\nFor 'properties/inputs', it is not an object of strings."
            )
        unexpected = sorted(set(inputs) - set(spec.inputs))
        if unexpected:
            raise _Refused(422, f"Unexpected inputs provided: {unexpected}")
        missing = sorted(name for name, required in spec.inputs.items() if required and not inputs.get(name))
        if missing:
            raise _Refused(422, f"Required input '{missing[0]}' not provided")
        deploy_ref = inputs.get("ref", "main")
        deployed = state.resolve(deploy_ref) or hashlib.sha1(deploy_ref.encode()).hexdigest()  # noqa: S324
        with state.lock:
            run = Run(
                id=9_000_000 + len(state.runs) + 1,
                workflow=spec,
                inputs=dict(inputs),
                head_sha=state.commits[-1]["sha"],
                deployed_sha=deployed,
                created_at=state.clock.now(),
                queued_seconds=state.queued_seconds,
                run_seconds=state.run_seconds,
                conclusion=state.conclusion,
            )
            state.runs.append(run)
            legacy = state.legacy
        if legacy or body.get("return_run_details") is not True:
            return Response(status=204)
        data = run_json(run)
        return jsonify({"workflow_run_id": run.id, "run_url": data["url"], "html_url": data["html_url"]})

    @app.get("/repos/<owner>/<repo>/actions/workflows/<file>/runs")
    def list_runs(owner: str, repo: str, file: str) -> Response:
        spec = workflow(owner, repo, file)
        try:
            per_page = min(100, max(1, int(request.args.get("per_page", 30))))
            page = max(1, int(request.args.get("page", 1)))
            low, high = (
                _created_filter(request.args["created"]) if "created" in request.args else (None, None)
            )
        except ValueError:
            raise _Refused(422, "Validation Failed") from None
        event, status = request.args.get("event"), request.args.get("status")
        listed_before = state.clock.now() - timedelta(seconds=state.list_delay_seconds)
        with state.lock:
            runs = [r for r in state.runs if r.workflow is spec and r.created_at <= listed_before]
        matched = []
        for run in reversed(runs):  # newest first, as GitHub lists them
            created = run.created_at.replace(microsecond=0)
            if event and event != "workflow_dispatch":
                continue
            if (low and created < low) or (high and created > high):
                continue
            run_status, conclusion = state.status_of(run)
            if status and status not in (run_status, conclusion):
                continue
            matched.append(run)
        chunk = matched[(page - 1) * per_page : page * per_page]
        return jsonify({"total_count": len(matched), "workflow_runs": [run_json(r) for r in chunk]})

    @app.get("/repos/<owner>/<repo>/actions/runs/<int:run_id>")
    def get_run(owner: str, repo: str, run_id: int) -> Response:
        run = next((r for r in state.runs if r.id == run_id), None)
        if f"{owner}/{repo}" != OWNER_REPO or run is None:
            raise _Refused(404, "Not Found")
        return jsonify(run_json(run))

    @app.get("/repos/<owner>/<repo>/commits/<path:ref>")
    def get_commit(owner: str, repo: str, ref: str) -> Response:
        sha = state.resolve(ref) if f"{owner}/{repo}" == OWNER_REPO else None
        if sha is None:
            raise _Refused(422, f"No commit found for SHA: {ref}")
        commit = next(c for c in state.commits if c["sha"] == sha)
        return jsonify(commit_json(commit))

    @app.get("/repos/<owner>/<repo>/compare/<path:spec>")
    def compare(owner: str, repo: str, spec: str) -> Response:
        base, sep, head = spec.partition("...")
        base_sha, head_sha = state.resolve(base), state.resolve(head)
        if f"{owner}/{repo}" != OWNER_REPO or not sep or base_sha is None or head_sha is None:
            raise _Refused(404, "Not Found")
        shas = [c["sha"] for c in state.commits]
        lo, hi = shas.index(base_sha), shas.index(head_sha)
        ahead = state.commits[lo + 1 : hi + 1] if hi > lo else []
        status = "identical" if lo == hi else ("ahead" if hi > lo else "behind")
        return jsonify(
            {
                "status": status,
                "ahead_by": max(0, hi - lo),
                "behind_by": max(0, lo - hi),
                "total_commits": len(ahead),
                "html_url": f"{html_base()}/{OWNER_REPO}/compare/{base}...{head}",
                "commits": [commit_json(c) for c in ahead],
            }
        )

    # -- controls ----------------------------------------------------------------------
    def control_body() -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _Refused(400, "expected a JSON object")
        return body

    add_sandbox_controls(app, state.faults, refuse=lambda problem: _error(400, problem), reset=state.reset)

    @app.post("/_sandbox/pace")
    def set_pace() -> Response:
        body = control_body()
        conclusion = body.get("conclusion", state.conclusion)
        if conclusion not in CONCLUSIONS:
            raise _Refused(400, f"conclusion must be one of {', '.join(CONCLUSIONS)}")
        try:
            queued = float(body.get("queued_seconds", state.queued_seconds))
            running = float(body.get("run_seconds", state.run_seconds))
            delay = float(body.get("list_delay_seconds", state.list_delay_seconds))
        except (TypeError, ValueError):
            raise _Refused(400, "the pace's seconds must be numbers") from None
        if min(queued, running, delay) < 0:
            raise _Refused(400, "the pace's seconds must not be negative")
        state.queued_seconds, state.run_seconds, state.conclusion = queued, running, conclusion
        state.list_delay_seconds = delay
        return jsonify(
            {
                "queued_seconds": queued,
                "run_seconds": running,
                "conclusion": conclusion,
                "list_delay_seconds": delay,
            }
        )

    @app.post("/_sandbox/legacy")
    def set_legacy() -> Response:
        state.legacy = bool(control_body().get("on"))
        return jsonify({"legacy": state.legacy})

    @app.post("/_sandbox/commits")
    def push_commit() -> Response:
        body = control_body()
        message, author = body.get("message"), body.get("author", "Sandbox")
        if not isinstance(message, str) or not message.strip() or not isinstance(author, str):
            raise _Refused(400, "message (and optionally author) must be strings")
        return jsonify({"sha": state.push(message, author)})

    @app.get("/_sandbox/dispatches")
    def dispatches() -> Response:
        return jsonify([run_json(r) | {"inputs": r.inputs} for r in state.runs])

    @app.get("/_sandbox/deployed")
    def deployed() -> Response:
        run = state.deployed_run(request.args.get("workflow", ""), request.args.get("environment", ""))
        if run is None:
            return jsonify({"sha": None, "deployed_at": None})
        finished = run.created_at + timedelta(seconds=run.queued_seconds + run.run_seconds)
        return jsonify({"sha": run.deployed_sha, "deployed_at": _iso(finished)})

    @app.get("/<owner>/<repo>/actions/runs/<int:run_id>")
    def run_page(owner: str, repo: str, run_id: int) -> Response:
        run = next((r for r in state.runs if r.id == run_id), None)
        if run is None:
            return Response("Not Found", 404, mimetype="text/plain")
        status, conclusion = state.status_of(run)
        title = run.workflow.title(run.inputs)
        return Response(f"{title}: {status} {conclusion or ''}", mimetype="text/plain")

    return app
