"""``raxx-console doctor`` against the FreeScout and Slack sandboxes over real HTTP."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from raxx_console.cli import main
from raxx_console.sandbox.freescout import create_freescout_sandbox
from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.slack import create_slack_sandbox
from raxx_console.worker import WorkerHeartbeat
from tests.support.accounts import csrf_token

API_KEY = "sentinel-doctor-fs-key-61c2"
CF_ID = "sentinel-doctor-cf-id.access"
CF_SECRET = "sentinel-doctor-cf-secret-0b9e"
SLACK_TOKEN = "xoxb-sentinel-doctor-77d1"
SENTINELS = (API_KEY, CF_ID, CF_SECRET, SLACK_TOKEN, "sentinel")
OPS_USER = "U0OPSDOC"


@pytest.fixture(scope="module")
def freescout():
    app = create_freescout_sandbox(api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET)
    with BackgroundServer(app, name="doctor-freescout") as server:
        yield server.url, app.extensions["freescout_sandbox"]


@pytest.fixture(scope="module")
def freescout_302():
    app = create_freescout_sandbox(
        api_key=API_KEY, cf_client_id=CF_ID, cf_client_secret=CF_SECRET, cf_mode="302"
    )
    with BackgroundServer(app, name="doctor-freescout-302") as server:
        yield server.url


@pytest.fixture(scope="module")
def slack():
    with BackgroundServer(create_slack_sandbox(SLACK_TOKEN, users={OPS_USER}), name="doctor-slack") as server:
        yield server.url


@pytest.fixture
def env(freescout, slack, database_url, tmp_path):
    """Everything the pipeline needs, pointed at the sandboxes, with alert auto-tickets pinned on."""
    freescout[1].reset()
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CONSOLE_ENV": "development",
        "FREESCOUT_API_URL": freescout[0],
        "FREESCOUT_INSTANCE_URL": freescout[0],
        "FREESCOUT_API_KEY": API_KEY,
        "FREESCOUT_OPERATIONS_MAILBOX_ID": "2",
        "FREESCOUT_BOT_USER_ID": "1",
        "CF_ACCESS_SVC_TICKETS_CLIENT_ID": CF_ID,
        "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": CF_SECRET,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_URL": f"{slack}/api/",
        "SLACK_ALERT_DM_USER_IDS": OPS_USER,
        "FLAG_CONSOLE_ALERTS_AUTO_TICKET": "1",
        "FREESCOUT_TIMEOUT_SECONDS": "3",
    }


def doctor(env, caplog, *args):
    """Run the command; assert no secret reached the terminal or any log record."""
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(main, ["doctor", *args], env=env)
    for text in (result.output, caplog.text):
        for sentinel in SENTINELS:
            assert sentinel not in text
    return result


def verdicts(env, caplog, **changes):
    result = doctor({**env, **changes}, caplog, "--json")
    body = json.loads(result.stdout)
    assert result.exit_code == body["exit_code"]
    return result.exit_code, {check["step"]: check for check in body["checks"]}


def test_all_ok_exits_0(env, caplog):
    result = doctor(env, caplog)
    assert result.exit_code == 0, result.output
    for step in ("Step 0", "Step 1", "Step 1.5", "Step 2", "Step 3", "Step 4", "Step 5", "Flags", "Outbox"):
        assert f"\n{step:<9}ok" in result.output, step
    assert "Mailbox 2 (Operations) is in FreeScout's mailbox list." in result.output
    assert "Registered, in order: slack_dm, auto_ticket, surface_recovery." in result.output
    assert "All steps ok (1 warn)" in result.output
    assert "\nPoller   warn  status_poller leader and last cycle" in result.output, "no worker in this test"


def test_a_stale_poller_fails_and_a_fresh_one_passes(env, caplog, database):
    with database.session() as session:
        session.add(
            WorkerHeartbeat(
                name="status_poller",
                holder="worker.1:77",
                since=datetime.now(UTC) - timedelta(hours=1),
                last_cycle_at=datetime.now(UTC) - timedelta(minutes=5),
                last_cycle_seconds=0.5,
                detail={"surfaces": 6},
            )
        )
    code, steps = verdicts(env, caplog)
    assert (code, steps["Poller"]["verdict"]) == (1, "FAIL")
    assert steps["Poller"]["summary"].startswith("No poll cycle for 5 minutes")
    with database.session() as session:
        session.get(WorkerHeartbeat, "status_poller").last_cycle_at = datetime.now(UTC)
    code, steps = verdicts(env, caplog)
    assert (code, steps["Poller"]["verdict"]) == (0, "ok")
    assert steps["Poller"]["summary"].endswith(" took 0.50 s over 6 surfaces.")


def test_a_wrong_cf_secret_fails_step_1_5(env, caplog):
    code, steps = verdicts(env, caplog, CF_ACCESS_SVC_TICKETS_CLIENT_SECRET="wrong-secret")
    assert code == 1
    assert (steps["Step 1.5"]["verdict"], steps["Step 1.5"]["reason"]) == ("FAIL", "cf_access_denied")
    assert "HTTP 403" in steps["Step 1.5"]["summary"]
    assert "302/403 → CF Access is blocking" in steps["Step 1.5"]["remedy"]
    assert steps["Step 1"]["verdict"] == "warn", "the key was never seen by FreeScout"
    assert steps["Step 2"]["verdict"] == "warn"


def test_a_cf_redirect_is_cf_access_denied_too(env, caplog, freescout_302):
    code, steps = verdicts(
        env, caplog, FREESCOUT_API_URL=freescout_302, CF_ACCESS_SVC_TICKETS_CLIENT_ID="someone-else.access"
    )
    assert code == 1
    assert steps["Step 1.5"]["reason"] == "cf_access_denied"
    assert "HTTP 302" in steps["Step 1.5"]["summary"]


def test_a_wrong_api_key_fails_step_1(env, caplog):
    code, steps = verdicts(env, caplog, FREESCOUT_API_KEY="not-the-key")
    assert code == 1
    assert (steps["Step 1"]["verdict"], steps["Step 1"]["reason"]) == ("FAIL", "freescout_auth_error")
    assert "HTTP 401" in steps["Step 1"]["summary"]
    assert "rotate it per docs/ops/runbooks/rotation/" in steps["Step 1"]["remedy"]
    assert steps["Step 1.5"]["verdict"] == "ok", "FreeScout answered, so the gate let it through"


def test_a_mailbox_not_in_the_list_fails_step_2(env, caplog):
    code, steps = verdicts(env, caplog, FREESCOUT_OPERATIONS_MAILBOX_ID="7")
    assert code == 1
    assert (steps["Step 2"]["verdict"], steps["Step 2"]["reason"]) == ("FAIL", "mailbox_not_found")
    assert "the key sees: 1 (Support), 2 (Operations)" in steps["Step 2"]["summary"]
    assert "re-run the provisioning SOP" in steps["Step 2"]["remedy"]


def test_missing_vars_fail_step_0_by_name(env, caplog):
    code, steps = verdicts(env, caplog, FREESCOUT_API_KEY=None, CF_ACCESS_SVC_TICKETS_CLIENT_SECRET=None)
    assert code == 1
    assert steps["Step 0"]["verdict"] == "FAIL"
    assert steps["Step 0"]["summary"] == "Missing: FREESCOUT_API_KEY, CF_ACCESS_SVC_TICKETS_CLIENT_SECRET"
    assert (
        steps["Step 1"]["verdict"] == "FAIL" and steps["Step 1"]["summary"] == "FREESCOUT_API_KEY is not set."
    )
    assert steps["Step 1.5"]["summary"] == "Missing: CF_ACCESS_SVC_TICKETS_CLIENT_SECRET"


def test_freescout_down_fails_step_1_as_fm4(env, caplog, freescout):
    freescout[1].set_faults({"mode": "down"})
    code, steps = verdicts(env, caplog)
    assert code == 1
    assert (steps["Step 1"]["verdict"], steps["Step 1"]["reason"]) == ("FAIL", "freescout_unavailable")
    assert "Failure mode 4" in steps["Step 1"]["remedy"]


def test_slack_auth_and_recipients_are_step_4(env, caplog):
    code, steps = verdicts(env, caplog, SLACK_BOT_TOKEN="xoxb-revoked")
    assert code == 1
    assert (steps["Step 4"]["verdict"], steps["Step 4"]["reason"]) == ("FAIL", "slack_auth_error")
    code, steps = verdicts(env, caplog, SLACK_ALERT_DM_USER_IDS="")
    assert code == 1
    assert "SLACK_ALERT_DM_USER_IDS is empty" in steps["Step 4"]["summary"]


@pytest.fixture
def sandboxed_app(env, settings_overrides):
    settings_overrides.update({k: v for k, v in env.items() if not k.startswith("FLAG_")})


def test_the_panel_runs_the_same_checks_for_an_operator(sandboxed_app, operator):
    token = csrf_token(operator, "/console/health")
    page = operator.post("/console/health/checks", data={"csrf_token": token}).get_data(as_text=True)
    assert 'data-step="Step 1.5" data-verdict="ok"' in page
    assert 'data-step="Step 2" data-verdict="ok"' in page
    assert not any(sentinel in page for sentinel in SENTINELS)
    body = operator.post(
        "/console/health/checks", headers={"X-CSRFToken": token, "Accept": "application/json"}
    )
    steps = {check["step"]: check["verdict"] for check in body.get_json()["checks"]}
    assert steps["Step 4"] == "ok" and steps["Flags"] == "warn", "no ticketing flag is on in this app"
