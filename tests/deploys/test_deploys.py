"""Deploys through SURFACE_WORKFLOW_MAP against the GitHub sandbox: sync and async, both run-id paths,
GitHub failures at dispatch, a double submit, the modal's rules, break-glass, and incidents."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from raxx_console.audit.models import AuditLog
from raxx_console.cli import main
from raxx_console.deploys import service
from raxx_console.deploys.models import DISPATCH_FAILED, KIND_PROMOTION, KIND_UI, RESOLVING, Deploy
from raxx_console.flags import registry as flag_names
from raxx_console.integrations import registry
from raxx_console.outbox.kinds import NOTE_KIND
from raxx_console.outbox.models import OutboxItem
from raxx_console.status.surfaces import SURFACE_WORKFLOW_MAP
from raxx_console.tickets.models import Ticket
from tests.conftest import GITHUB_SANDBOX_TOKEN
from tests.support.accounts import csrf_token, login, make_user
from tests.support.rows import detached_rows
from tests.tickets.helpers import INVESTIGATE_FLAG, click, grid_token, set_flag, set_status

pytestmark = pytest.mark.usefixtures("github_settings")


def deploys(console) -> list[Deploy]:
    return detached_rows(console, select(Deploy).order_by(Deploy.id))


def audit_actions(console) -> list[str]:
    return [row.action for row in detached_rows(console, select(AuditLog).order_by(AuditLog.id))]


def post(client, surface_id: str, **body: Any):
    token = csrf_token(client, "/console/status")
    return client.post(
        f"/console/deploys/{surface_id}",
        json=body,
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


@pytest.fixture
def op(console, operator):
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    return operator


def test_the_map_is_exported_under_the_runbooks_name_and_tells_the_two_sites_apart():
    assert SURFACE_WORKFLOW_MAP["getraxx"].workflow == SURFACE_WORKFLOW_MAP["raxx-mockups"].workflow
    assert SURFACE_WORKFLOW_MAP["getraxx"].dispatch_inputs("main") == {
        "environment": "production",
        "ref": "main",
        "site": "getraxx",
    }
    assert SURFACE_WORKFLOW_MAP["raxx-mockups"].inputs == {"site": "raxx-mockups"}
    assert SURFACE_WORKFLOW_MAP["api-staging"].target_env == "staging"


def test_sync_deploy_gets_the_run_id_from_the_dispatch_answer(console, op, github_sandbox):
    answer = post(op, "api-staging", ref="main", workflow="deploy-console.yml", environment="production")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["run_id"] and body["status"] == "queued"
    [sent] = github_sandbox.dispatches()
    # the map alone chose the workflow and the env: the body's workflow/environment were ignored
    assert sent["path"].endswith("deploy-heroku.yml")
    assert sent["inputs"] == {"environment": "staging", "ref": "main"}
    [row] = deploys(console)
    assert (row.run_id, row.actor, row.sha) == (
        sent["id"],
        "operator@raxx.app",
        github_sandbox.state.resolve("main"),
    )
    assert audit_actions(console)[-2:] == [service.INTENT, service.DISPATCHED]


def test_a_204_dispatch_is_matched_in_the_runs_list_by_its_inputs(console, op, github_sandbox, clock):
    client = registry.github(console)
    # runs of the same workflows already in flight, for the other env and the other site
    for surface in ("api-prod", "raxx-mockups", "getraxx"):
        binding = SURFACE_WORKFLOW_MAP[surface]
        assert client.dispatch(binding.workflow, binding.dispatch_inputs("main")).ok
    assert client.dispatch(
        "deploy-customer-docs.yml", SURFACE_WORKFLOW_MAP["getraxx"].dispatch_inputs("v1")
    ).ok
    taken = {r["id"] for r in github_sandbox.dispatches()}
    github_sandbox.control("legacy", {"on": True})
    clock.advance(5)

    staging = post(op, "api-staging", ref="main")
    docs = post(op, "getraxx", ref="main", confirm="getraxx")
    assert staging.status_code == docs.status_code == 200
    by_id = {r["id"]: r for r in github_sandbox.dispatches()}
    assert by_id[staging.get_json()["run_id"]]["inputs"]["environment"] == "staging"
    docs_run = by_id[docs.get_json()["run_id"]]
    assert docs_run["inputs"] == {"environment": "production", "ref": "main", "site": "getraxx"}
    assert docs_run["id"] not in taken, "the getraxx run dispatched before this deploy is not its run"


def test_the_sync_path_stops_at_its_bound_and_the_worker_finishes(console, op, github_sandbox, clock):
    github_sandbox.control("legacy", {"on": True})
    github_sandbox.control("pace", {"list_delay_seconds": 90})
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the injected clock moves instead of the wall clock
        slept.append(seconds)
        clock.advance(seconds)

    with console.db.session() as session:
        row, _ = service.request_deploy(
            session,
            clock,
            console.surfaces,
            surface_id="api-staging",
            ref="main",
            actor="operator@raxx.app",
            env="staging",
            role=None,
            kind=KIND_PROMOTION,
        )
        deploy_id = row.id
    row = service.dispatch(console, deploy_id, bound_seconds=25, sleep=sleep)
    assert row.status == RESOLVING and row.run_id is None
    assert 20 <= sum(slept) <= 25, "bounded below the H12 limit"
    assert service.DISPATCHED not in audit_actions(console)
    clock.advance(90)
    service.follow(console)
    [row] = deploys(console)
    assert row.run_id == github_sandbox.dispatches()[0]["id"]
    assert audit_actions(console).count(service.DISPATCHED) == 1


def test_the_view_answers_202_still_resolving_when_the_bound_runs_out(console, app, op, github_sandbox):
    github_sandbox.control("legacy", {"on": True})
    github_sandbox.control("pace", {"list_delay_seconds": 3600})
    console.settings.DEPLOY_SYNC_BOUND_SECONDS = 0.5  # the ManualClock does not move: one look only
    answer = post(op, "api-staging")
    assert answer.status_code == 202
    assert answer.get_json()["message"] == "dispatched; still resolving the run"


def test_async_answers_202_at_once_and_the_worker_dispatches_and_follows(console, op, github_sandbox, clock):
    set_flag(console, flag_names.DEPLOY_ASYNC_FLAG)
    answer = post(op, "api-staging", ref="main")
    assert answer.status_code == 202
    assert answer.get_json()["status"] == "requested"
    assert github_sandbox.dispatches() == [], "nothing reaches GitHub within the request"
    service.follow(console)
    assert deploys(console)[0].status == "queued"
    clock.advance(3)
    service.follow(console)
    assert deploys(console)[0].status == "in_progress"
    clock.advance(10)
    service.follow(console)
    service.follow(console)
    [row] = deploys(console)
    assert (row.status, row.conclusion) == ("completed", "success")
    completed = [a for a in detached_rows(console, select(AuditLog)) if a.action == service.COMPLETED_ACTION]
    assert len(completed) == 1 and completed[0].payload["conclusion"] == "success"


@pytest.mark.parametrize("mode", ["down", "unauthorized"])
def test_github_failing_at_dispatch_leaves_the_intent_and_a_dispatch_failed_row(
    console, op, github_sandbox, mode
):
    github_sandbox.control("faults", {"mode": mode})
    answer = post(op, "api-staging")
    assert answer.status_code == 502
    assert answer.get_json()["error"] == "dispatch_failed"
    [row] = deploys(console)
    assert row.status == DISPATCH_FAILED
    assert ("github_unavailable" if mode == "down" else "github_auth_error") in row.reason
    actions = audit_actions(console)
    assert service.INTENT in actions and service.DISPATCHED not in actions
    assert GITHUB_SANDBOX_TOKEN not in row.reason


def test_a_concurrent_double_submit_dispatches_once(console, github_sandbox):
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    barrier = threading.Barrier(2)
    answers: list[Deploy] = []

    def submit() -> None:
        barrier.wait()
        row, _ = service.deploy_now(
            console,
            surface_id="api-staging",
            ref="main",
            actor="operator@raxx.app",
            env="staging",
            kind=KIND_UI,
            role=service.Role.operator,
            idempotency_key="modal-123",
        )
        answers.append(row)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(github_sandbox.dispatches()) == 1
    assert len(deploys(console)) == 1
    assert {row.id for row in answers} == {deploys(console)[0].id}


def test_the_modal_rules(console, op, client, github_sandbox):
    assert post(op, "api-prod").get_json()["error"] == "confirmation_required"
    assert post(op, "api-prod", confirm="api-staging").status_code == 400
    assert post(op, "api-prod", confirm="api-prod", ref="feature/x").get_json()["error"] == "admin_required"
    assert post(op, "console-prod", confirm="console-prod").get_json()["error"] == "promotion_only"
    assert post(op, "nope").status_code == 404
    assert post(op, "api-staging", ref="bad ref;rm").get_json()["error"] == "invalid_ref"
    unknown = post(op, "api-staging", ref="no-such-branch")
    assert (unknown.status_code, unknown.get_json()["error"]) == (422, "unknown_ref")
    assert github_sandbox.dispatches() == []
    assert post(op, "api-prod", confirm="api-prod").status_code == 200


def test_an_admin_may_deploy_a_non_main_ref_to_production(console, client, github_sandbox):
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    make_user(console, "admin@raxx.app", "admin")
    login(client, "admin@raxx.app")
    sha = github_sandbox.state.resolve("main")
    answer = post(client, "api-prod", confirm="api-prod", ref=sha[:10])
    assert answer.status_code == 200
    assert github_sandbox.dispatches()[0]["inputs"]["ref"] == sha[:10]


def test_a_viewer_cannot_deploy(console, viewer):
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    assert post(viewer, "api-staging").status_code == 403


def test_deploy_ui_off_answers_404(console, operator, github_sandbox):
    assert post(operator, "api-staging").status_code == 404
    assert github_sandbox.dispatches() == []


def test_breakglass_works_with_the_ui_off(console, github_settings, github_sandbox, database_url, tmp_path):
    environment = {key: str(value) for key, value in github_settings.items()}
    result = CliRunner().invoke(
        main,
        ["deploy", "console-prod", "--ref", "main", "--breakglass", "--actor", "kris@raxx.app"],
        env=environment,
    )
    assert result.exit_code == 0, result.output
    assert "deploy-console.yml environment=production ref=main" in result.output
    [sent] = github_sandbox.dispatches()
    assert sent["inputs"] == {"environment": "production", "ref": "main"}
    [intent] = [a for a in detached_rows(console, select(AuditLog)) if a.action == service.INTENT_BREAKGLASS]
    assert intent.actor == "kris@raxx.app" and intent.payload["actor_email"] == "kris@raxx.app"
    refused = CliRunner().invoke(main, ["deploy", "api-prod", "--actor", "kris@raxx.app"], env=environment)
    assert refused.exit_code != 0 and "--breakglass" in refused.output


def test_a_ticket_filed_after_a_deploy_names_it(freescout_settings, console, op, github_sandbox, clock):
    answer = post(op, "api-prod", confirm="api-prod")
    assert answer.status_code == 200
    clock.advance(14 * 60)
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console, "api-prod", "degraded")
    assert click(op, "api-prod", token=grid_token(op)).status_code == 200
    [ticket] = detached_rows(console, select(Ticket))
    sha = github_sandbox.state.resolve("main")
    assert "Recent deploy" in ticket.body_html and sha[:12] in ticket.body_html
    assert "operator@raxx.app" in ticket.body_html and "14 min ago" in ticket.body_html
    tile = op.get("/console/deploys.json").get_json()["latest"]["api-prod"]
    assert tile["deployed_line"] == "deploying since 14 min by operator@raxx.app"


def test_a_deploy_while_the_surface_has_an_open_ticket_notes_it(
    freescout_settings, console, op, github_sandbox
):
    set_flag(console, INVESTIGATE_FLAG)
    set_status(console, "api-staging", "degraded")
    assert click(op, "api-staging", token=grid_token(op)).status_code == 200
    [ticket] = detached_rows(console, select(Ticket))
    assert post(op, "api-staging").status_code == 200
    notes = detached_rows(console, select(OutboxItem).where(OutboxItem.kind == NOTE_KIND))
    assert [n.ticket_pk for n in notes] == [ticket.id]
    assert "Deploy started" in notes[0].payload["text"]


def test_missing_github_settings_are_a_prerequisite_failure_once_the_deploy_ui_is_on(
    app, console, monkeypatch
):
    from raxx_console.health import doctor, panel

    monkeypatch.setattr(console.settings, "GITHUB_TOKEN", None)
    assert doctor.check_deploys(console).verdict == "ok"
    set_flag(console, flag_names.DEPLOY_UI_FLAG)
    result = doctor.check_deploys(console)
    assert result.failed and "GITHUB_TOKEN" in result.summary and "GITHUB_REPOSITORY" not in result.summary
    with console.db.session() as session:
        snapshot = panel.collect(console, session)
    assert snapshot.deploy_prereqs_missing == ["GITHUB_TOKEN"]
    assert "deploy_prerequisites_missing" in {p.code for p in snapshot.problems}
