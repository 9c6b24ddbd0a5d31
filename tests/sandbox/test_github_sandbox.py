"""The GitHub sandbox speaks GitHub's REST wire format, through the console's own GitHub client."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from raxx_console.integrations import github
from raxx_console.integrations.github import GitHubClient, GitHubConfig
from raxx_console.sandbox.github import OWNER_REPO
from tests.conftest import GITHUB_SANDBOX_TOKEN as GITHUB_TOKEN


@pytest.fixture
def gh(github_sandbox):
    with GitHubClient(GitHubConfig(github_sandbox.url, GITHUB_TOKEN, OWNER_REPO)) as client:
        yield client


def dispatch_raw(url: str, workflow: str, body: dict, token: str = GITHUB_TOKEN) -> httpx.Response:
    return httpx.post(
        f"{url}/repos/{OWNER_REPO}/actions/workflows/{workflow}/dispatches",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_dispatch_answers_200_with_the_run_id_when_asked_and_204_otherwise(github_sandbox):
    inputs = {"environment": "staging", "ref": "main"}
    asked = dispatch_raw(
        github_sandbox.url, "deploy-heroku.yml", {"ref": "main", "inputs": inputs, "return_run_details": True}
    )
    assert asked.status_code == 200 and asked.json()["workflow_run_id"]
    assert asked.json()["html_url"].endswith(f"/actions/runs/{asked.json()['workflow_run_id']}")
    plain = dispatch_raw(github_sandbox.url, "deploy-heroku.yml", {"ref": "main", "inputs": inputs})
    assert plain.status_code == 204 and plain.content == b""


@pytest.mark.parametrize(
    ("workflow", "body", "status", "words"),
    [
        ("deploy-nope.yml", {"ref": "main", "inputs": {}}, 404, "Not Found"),
        (
            "deploy-heroku.yml",
            {"ref": "main", "inputs": {"environment": "staging", "ref": "main", "site": "x"}},
            422,
            "Unexpected inputs",
        ),
        (
            "deploy-customer-docs.yml",
            {"ref": "main", "inputs": {"environment": "production", "ref": "main"}},
            422,
            "'site'",
        ),
        (
            "deploy-heroku.yml",
            {"ref": "a" * 40, "inputs": {"environment": "staging", "ref": "main"}},
            422,
            "No ref found",
        ),
    ],
)
def test_dispatch_refusals(github_sandbox, workflow, body, status, words):
    answer = dispatch_raw(github_sandbox.url, workflow, body)
    assert answer.status_code == status
    assert words in answer.json()["message"]
    assert github_sandbox.dispatches() == []


def test_a_bad_token_is_401_and_the_client_says_auth_error_without_the_token(github_sandbox):
    answer = dispatch_raw(
        github_sandbox.url, "deploy-heroku.yml", {"ref": "main", "inputs": {}}, token="wrong"
    )
    assert answer.status_code == 401 and answer.json()["message"] == "Bad credentials"
    with GitHubClient(GitHubConfig(github_sandbox.url, "ghs_wrong_value", OWNER_REPO)) as client:
        outcome = client.dispatch("deploy-heroku.yml", {"environment": "staging", "ref": "main"})
    assert outcome.reason == github.AUTH_ERROR and "ghs_wrong_value" not in outcome.describe()


def test_the_client_without_a_token_is_not_configured(github_sandbox):
    with GitHubClient(GitHubConfig(github_sandbox.url, None, OWNER_REPO)) as client:
        outcome = client.dispatch("deploy-heroku.yml", {})
    assert outcome.reason == github.NOT_CONFIGURED and "GITHUB_TOKEN" in outcome.message
    assert github_sandbox.dispatches() == []


def test_runs_move_queued_in_progress_completed_at_the_configured_pace(gh, github_sandbox, clock):
    github_sandbox.control("pace", {"queued_seconds": 5, "run_seconds": 10, "conclusion": "failure"})
    run_id = gh.dispatch("deploy-heroku.yml", {"environment": "staging", "ref": "main"}).value.run_id
    seen = []
    for step in (0, 5, 10):
        clock.advance(step)
        run = gh.get_run(run_id).value
        seen.append((run.status, run.conclusion))
    assert seen == [("queued", None), ("in_progress", None), ("completed", "failure")]
    assert gh.get_run(424242).reason == github.NOT_FOUND


def test_runs_list_filters_and_pages(gh, clock):
    start = clock.now()
    for env in ("staging", "production", "staging"):
        assert gh.dispatch("deploy-heroku.yml", {"environment": env, "ref": "main"}).ok
        clock.advance(60)
    assert gh.dispatch("deploy-console.yml", {"environment": "staging", "ref": "main"}).ok
    every = gh.list_runs("deploy-heroku.yml", event="workflow_dispatch").value
    assert [r.display_title for r in every] == [
        "deploy-heroku staging main",
        "deploy-heroku production main",
        "deploy-heroku staging main",
    ]
    assert every[0].created_at > every[-1].created_at, "newest first"
    since = gh.list_runs(
        "deploy-heroku.yml", created_since=start.replace(microsecond=0) + timedelta(seconds=60)
    ).value
    assert len(since) == 2
    page_2 = gh.list_runs("deploy-heroku.yml", per_page=2, page=2).value
    assert [r.id for r in page_2] == [every[2].id]
    assert gh.list_runs("deploy-heroku.yml", event="push").value == []


def test_compare_lists_the_commits_between_with_authors_and_messages(gh, github_sandbox):
    base = github_sandbox.state.resolve("main")
    head = github_sandbox.control("commits", {"message": "Promote flow", "author": "Dana Whitfield"})["sha"]
    github_sandbox.control("commits", {"message": "Fix the chip", "author": "Lee Okafor"})
    comparison = gh.compare(base[:7], "main").value
    assert (comparison.status, comparison.ahead_by) == ("ahead", 2)
    assert next((c.sha, c.message, c.author_name) for c in comparison.commits) == (
        head,
        "Promote flow",
        "Dana Whitfield",
    )
    assert gh.compare(base, "nope").reason == github.NOT_FOUND
    assert gh.resolve_sha("main").value == comparison.commits[-1].sha


def test_the_sandbox_tells_which_sha_a_completed_console_deploy_deployed(gh, github_sandbox, clock):
    old = github_sandbox.state.resolve("main")
    github_sandbox.control("commits", {"message": "Newer", "author": "Kristerpher"})
    assert gh.dispatch("deploy-console.yml", {"environment": "production", "ref": old}).ok
    deployed = httpx.get(
        f"{github_sandbox.url}/_sandbox/deployed",
        params={"workflow": "deploy-console.yml", "environment": "production"},
    )
    assert deployed.json() == {"sha": None, "deployed_at": None}, "not until the run completes"
    clock.advance(60)
    deployed = httpx.get(
        f"{github_sandbox.url}/_sandbox/deployed",
        params={"workflow": "deploy-console.yml", "environment": "production"},
    )
    finished = (clock.now() - timedelta(seconds=60 - 8)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )  # queued 2 s + run 6 s
    assert deployed.json() == {"sha": old, "deployed_at": finished}


def test_faults_down_and_error500_are_unavailable_and_controls_check_their_input(gh, github_sandbox):
    github_sandbox.control("faults", {"mode": "down"})
    assert gh.resolve_sha("main").reason == github.UNAVAILABLE
    github_sandbox.control("faults", {"mode": "error500"})
    assert gh.resolve_sha("main").retryable
    assert httpx.post(f"{github_sandbox.url}/_sandbox/faults", json={"mode": "sideways"}).status_code == 400
    assert httpx.post(f"{github_sandbox.url}/_sandbox/pace", json={"conclusion": "maybe"}).status_code == 400
