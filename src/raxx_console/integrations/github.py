"""GitHub Actions and commits: a thin, typed adapter over GitHub's REST API (httpx).

Four calls serve deploys and console promotion: ``dispatch`` (a ``workflow_dispatch``, asking
for ``return_run_details``), ``list_runs`` (a workflow's runs with GitHub's filters),
``get_run`` and ``resolve_sha`` (a branch, tag or SHA → the commit SHA), and ``compare``
(``/compare/{base}...{head}``, the commits between two SHAs). Why httpx rather than githubkit:
docs/decisions.md.

Every call returns a :class:`GitHubOutcome` and never raises for a GitHub or transport
problem. Reasons: ``github_not_configured`` (no token or repository), ``github_auth_error``
(401, or 403 without a rate limit), ``github_not_found`` (404), ``github_rejected`` (422 and
other 4xx, with GitHub's message), ``github_rate_limited`` and ``github_unavailable`` (5xx,
timeout, connection failure). The token never reaches a log line or a message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from raxx_console.config import Settings

log = logging.getLogger("raxx_console.github")

DEFAULT_API_URL = "https://api.github.com"
#: The dispatch ``ref`` is the workflow file's branch; the ref to deploy travels as an input.
WORKFLOW_REF = "main"

NOT_CONFIGURED = "github_not_configured"
AUTH_ERROR = "github_auth_error"
NOT_FOUND = "github_not_found"
REJECTED = "github_rejected"
RATE_LIMITED = "github_rate_limited"
UNAVAILABLE = "github_unavailable"

T = TypeVar("T")


@dataclass(frozen=True)
class GitHubOutcome(Generic[T]):
    """What a GitHub call came to: ``value`` when ``ok``, else a reason and GitHub's message."""

    ok: bool
    value: T | None = None
    reason: str | None = None
    message: str = ""
    status: int | None = None

    @property
    def retryable(self) -> bool:
        return self.reason in (UNAVAILABLE, RATE_LIMITED)

    def describe(self) -> str:
        """``github_rejected (HTTP 422): Unexpected inputs provided`` — safe to show and store."""
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{self.reason}{code}: {self.message}" if self.message else f"{self.reason}{code}"


@dataclass(frozen=True)
class WorkflowRun:
    """The fields of a workflow run deploys follow."""

    id: int
    status: str
    conclusion: str | None
    html_url: str
    display_title: str
    event: str
    head_sha: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowRun:
        return cls(
            id=int(data["id"]),
            status=str(data.get("status") or "queued"),
            conclusion=data.get("conclusion"),
            html_url=str(data.get("html_url") or ""),
            display_title=str(data.get("display_title") or data.get("name") or ""),
            event=str(data.get("event") or ""),
            head_sha=str(data.get("head_sha") or ""),
            created_at=datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00")),
        )


@dataclass(frozen=True)
class Dispatched:
    """A dispatch GitHub accepted; the run id and URL when it returned run details (200)."""

    run_id: int | None = None
    run_url: str | None = None


@dataclass(frozen=True)
class CommitSummary:
    sha: str
    message: str
    author_name: str
    author_login: str | None
    authored_at: str | None


@dataclass(frozen=True)
class Comparison:
    """``/compare/{base}...{head}``: how far apart two commits are, and the commits between."""

    status: str
    ahead_by: int
    behind_by: int
    commits: tuple[CommitSummary, ...] = field(default_factory=tuple)
    html_url: str = ""


@dataclass(frozen=True)
class GitHubConfig:
    api_url: str = DEFAULT_API_URL
    token: str | None = None
    repository: str | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubConfig:
        return cls(
            api_url=settings.GITHUB_API_URL,
            token=settings.secret("GITHUB_TOKEN"),
            repository=settings.GITHUB_REPOSITORY,
            timeout_seconds=settings.GITHUB_TIMEOUT_SECONDS,
        )

    def missing(self) -> list[str]:
        """The env var names a deploy needs and does not have."""
        return [
            name
            for name, value in (("GITHUB_TOKEN", self.token), ("GITHUB_REPOSITORY", self.repository))
            if not value
        ]


class GitHubClient:
    """One connection pool per process; thread-safe (httpx.Client is)."""

    def __init__(self, config: GitHubConfig) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.api_url.rstrip("/"),
            timeout=config.timeout_seconds,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "raxx-console",
            },
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the calls ------------------------------------------------------------------------
    def dispatch(self, workflow: str, inputs: dict[str, str]) -> GitHubOutcome[Dispatched]:
        """``workflow_dispatch`` on ``main``; 200 carries ``workflow_run_id``, an older 204 does not."""
        body = {"ref": WORKFLOW_REF, "inputs": inputs, "return_run_details": True}
        outcome = self._call("POST", f"actions/workflows/{quote(workflow, safe='')}/dispatches", json=body)
        if not outcome.ok:
            return GitHubOutcome(False, reason=outcome.reason, message=outcome.message, status=outcome.status)
        data = outcome.value
        if isinstance(data, dict) and data.get("workflow_run_id"):
            run_url = data.get("html_url") or data.get("run_url")
            return GitHubOutcome(
                True, Dispatched(int(data["workflow_run_id"]), run_url), status=outcome.status
            )
        return GitHubOutcome(True, Dispatched(), status=outcome.status)

    def list_runs(
        self,
        workflow: str,
        *,
        event: str | None = None,
        created_since: datetime | None = None,
        per_page: int = 30,
        page: int = 1,
    ) -> GitHubOutcome[list[WorkflowRun]]:
        """A page of a workflow's runs, newest first, with GitHub's ``event`` and ``created`` filters."""
        params: dict[str, str | int] = {"per_page": per_page, "page": page}
        if event:
            params["event"] = event
        if created_since:
            params["created"] = ">=" + created_since.strftime("%Y-%m-%dT%H:%M:%SZ")
        outcome = self._call("GET", f"actions/workflows/{quote(workflow, safe='')}/runs", params=params)
        return self._map(outcome, lambda d: [WorkflowRun.from_json(r) for r in d["workflow_runs"]])

    def get_run(self, run_id: int) -> GitHubOutcome[WorkflowRun]:
        return self._map(self._call("GET", f"actions/runs/{int(run_id)}"), WorkflowRun.from_json)

    def resolve_sha(self, ref: str) -> GitHubOutcome[str]:
        """The commit SHA a branch, tag or SHA names (``GET /commits/{ref}``)."""
        outcome = self._call("GET", f"commits/{quote(ref, safe='')}")
        return self._map(outcome, lambda d: str(d["sha"]))

    def compare(self, base: str, head: str) -> GitHubOutcome[Comparison]:
        """The commits in ``head`` that ``base`` lacks, with their authors and messages."""
        outcome = self._call("GET", f"compare/{quote(base, safe='')}...{quote(head, safe='')}")

        def parse(data: dict[str, Any]) -> Comparison:
            commits = tuple(
                CommitSummary(
                    sha=str(c["sha"]),
                    message=str(c["commit"]["message"]),
                    author_name=str((c["commit"].get("author") or {}).get("name") or ""),
                    author_login=(c.get("author") or {}).get("login"),
                    authored_at=(c["commit"].get("author") or {}).get("date"),
                )
                for c in data.get("commits", [])
            )
            return Comparison(
                status=str(data.get("status", "")),
                ahead_by=int(data.get("ahead_by", 0)),
                behind_by=int(data.get("behind_by", 0)),
                commits=commits,
                html_url=str(data.get("html_url") or ""),
            )

        return self._map(outcome, parse)

    # -- plumbing -------------------------------------------------------------------------
    def _map(self, outcome: GitHubOutcome[Any], parse: Any) -> GitHubOutcome[Any]:
        if not outcome.ok:
            return outcome
        try:
            return GitHubOutcome(True, parse(outcome.value), status=outcome.status)
        except (KeyError, TypeError, ValueError):
            return self._fail(UNAVAILABLE, "GitHub answered with an unexpected body", outcome.status)

    def _fail(self, reason: str, message: str, status: int | None = None) -> GitHubOutcome[Any]:
        log.warning("github degraded reason=%s status=%s %s", reason, status, message)
        return GitHubOutcome(False, reason=reason, message=message, status=status)

    def _call(self, method: str, path: str, **kwargs: Any) -> GitHubOutcome[Any]:
        missing = self.config.missing()
        if missing:
            return self._fail(NOT_CONFIGURED, f"not configured: {', '.join(missing)}")
        url = f"/repos/{self.config.repository}/{path}"
        headers = {"Authorization": f"Bearer {self.config.token}"}
        try:
            response = self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException:
            return self._fail(UNAVAILABLE, "GitHub did not answer in time")
        except httpx.HTTPError as exc:
            return self._fail(UNAVAILABLE, f"cannot reach GitHub ({type(exc).__name__})")
        status = response.status_code
        try:
            data: Any = response.json() if response.content else None
        except ValueError:
            data = None
        if status < 300:
            return GitHubOutcome(True, data, status=status)
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        if status == 401:
            return self._fail(AUTH_ERROR, message or "bad credentials", status)
        if status in (403, 429) and (
            response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
        ):
            return self._fail(RATE_LIMITED, message or "rate limited", status)
        if status == 403:
            return self._fail(AUTH_ERROR, message or "forbidden", status)
        if status == 404:
            return self._fail(NOT_FOUND, message or "not found", status)
        if status >= 500:
            return self._fail(UNAVAILABLE, message or "server error", status)
        return self._fail(REJECTED, message or "rejected", status)
