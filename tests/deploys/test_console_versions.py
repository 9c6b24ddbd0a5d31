"""Console versions over HTTP on two live consoles: the page, a promotion, and every refusal, audited."""

from __future__ import annotations

import json

import httpx
import pyotp
import pytest
from sqlalchemy import select

from raxx_console.config import ConfigError, load_settings
from raxx_console.deploys import service, versions
from raxx_console.deploys.models import KIND_PROMOTION, Deploy
from raxx_console.version import running_version
from tests.deploys.versions_consoles import enrol, signed_in
from tests.peer_consoles import prod_client
from tests.support.accounts import csrf_token, login
from tests.support.rows import audit_rows, detached_rows

pytestmark = pytest.mark.usefixtures("versions_settings")

ADMIN = "root@raxx.app"


@pytest.fixture
def admin(app, console, clock):
    """A signed-in admin with TOTP on; the clock is a step past the enrolment code. (client, secret)"""
    client = signed_in(app, console, ADMIN)
    secret = enrol(console, ADMIN)
    clock.advance(30)
    return client, secret


def post_promote(client, word="PROMOTE", code=None):
    token = csrf_token(client, "/console/status")
    return client.post(
        "/admin/console-versions/promote",
        json={"word": word, "code": code},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


def current(secret, console):
    return pyotp.TOTP(secret).at(console.clock.now())


def refused(console, response, status, reason, code=None):
    """The answer, the one audit row, and nothing dispatched or requested."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == reason
    rows = audit_rows(console, versions.PROMOTE_REFUSED)
    assert [r.payload["reason"] for r in rows][-1] == reason
    if code:
        assert code not in json.dumps([r.payload for r in audit_rows(console)])
    assert audit_rows(console, versions.PROMOTED) == []
    assert detached_rows(console, select(Deploy)) == []


def test_the_page_shows_both_shas_and_the_commits_between(admin, github_sandbox):
    client, _ = admin
    page = client.get("/admin/console-versions").get_data(as_text=True)
    commits = github_sandbox.state.commits
    assert commits[-1]["sha"] in page and commits[0]["sha"] in page
    assert "Status grid and Investigate" in page and "Deploys from the cockpit" in page
    assert "Dana Whitfield" in page and "Lee Okafor" in page
    assert "Initial console" not in page.split('data-table="commits"')[1].split("</table>")[0]
    assert "Promote staging → prod" in page


def test_promote_dispatches_stagings_sha_to_console_prod_and_audits_it(admin, console, github_sandbox, clock):
    client, secret = admin
    staging_sha = github_sandbox.state.resolve("main")
    answer = post_promote(client, code=current(secret, console))
    assert answer.status_code == 202, answer.get_data(as_text=True)
    [sent] = github_sandbox.dispatches()
    assert sent["path"] == ".github/workflows/deploy-console.yml"
    assert sent["head_branch"] == "main"
    assert sent["inputs"] == {"environment": "production", "ref": staging_sha}
    [deploy] = detached_rows(console, select(Deploy))
    assert (deploy.surface_id, deploy.kind, deploy.ref) == ("console-prod", KIND_PROMOTION, staging_sha)
    [row] = audit_rows(console, versions.PROMOTED)
    assert set(row.payload) == {"from_sha", "to_sha", "requested_by_admin_id", "promoted_at_utc"}
    assert row.payload["from_sha"] == github_sandbox.state.commits[0]["sha"]
    assert row.payload["to_sha"] == staging_sha
    assert row.payload["promoted_at_utc"].endswith("Z")


def test_wrong_word_is_refused(admin, console):
    client, secret = admin
    code = current(secret, console)
    refused(console, post_promote(client, word="promote", code=code), 400, "wrong_word", code)


def test_a_wrong_code_is_refused(admin, console):
    client, secret = admin
    wrong = f"{(int(current(secret, console)) + 1) % 1_000_000:06d}"
    refused(console, post_promote(client, code=wrong), 400, "bad_code", wrong)


def test_a_code_used_once_is_refused_for_the_rest_of_its_window(app, console):
    client = signed_in(app, console, ADMIN)
    secret = enrol(console, ADMIN)  # the enrolment used the current code
    code = current(secret, console)
    refused(console, post_promote(client, code=code), 400, "replay", code)


def test_five_wrong_codes_lock_promotion(admin, console):
    client, secret = admin
    wrong = f"{(int(current(secret, console)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert post_promote(client, code=wrong).status_code == 400
    right = current(secret, console)
    refused(console, post_promote(client, code=right), 423, "locked", right)
    reasons = [r.payload["reason"] for r in audit_rows(console, versions.PROMOTE_REFUSED)]
    assert reasons == ["bad_code"] * 5 + ["locked"]


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_an_operator_or_viewer_is_refused(app, console, role):
    client = signed_in(app, console, f"{role}@raxx.app", role)
    assert client.get("/admin/console-versions").status_code == 403
    refused(console, post_promote(client, code="123456"), 403, "not_admin")


def test_an_admin_without_totp_is_told_to_enrol_first(app, console):
    client = signed_in(app, console, ADMIN)
    assert "Enrol first" in client.get("/admin/console-versions").get_data(as_text=True)
    refused(console, post_promote(client, code="123456"), 403, "not_enrolled")


def test_prod_down_shows_a_banner_and_is_refused(admin, console, prod):
    client, secret = admin
    prod.stop()
    page = client.get("/admin/console-versions").get_data(as_text=True)
    assert "The production console did not answer" in page
    assert "Promote staging → prod" not in page
    refused(console, post_promote(client, code=current(secret, console)), 503, "peer_unreachable")


def test_an_unknown_sha_is_refused(admin, console, prod):
    client, secret = admin
    prod.console.settings.SOURCE_VERSION = None  # no release metadata, no sandbox run yet
    assert httpx.get(f"{prod.url}/version").json()["sha"] == "unknown"
    assert "reports no known SHA" in client.get("/admin/console-versions").get_data(as_text=True)
    refused(console, post_promote(client, code=current(secret, console)), 409, "unknown_sha")


def test_a_promotion_in_flight_refuses_another(admin, console, clock):
    client, secret = admin
    assert post_promote(client, code=current(secret, console)).status_code == 202
    clock.advance(30)
    answer = post_promote(client, code=current(secret, console))
    assert answer.status_code == 409 and answer.get_json()["error"] == "in_flight"
    assert audit_rows(console, versions.PROMOTE_REFUSED)[-1].payload["reason"] == "in_flight"
    assert len(detached_rows(console, select(Deploy))) == 1


def test_after_the_run_completes_prod_reports_stagings_sha_and_promote_says_in_sync(
    admin, console, prod, clock, github_sandbox
):
    client, secret = admin
    assert post_promote(client, code=current(secret, console)).status_code == 202
    clock.advance(30)
    service.follow(console)
    version = httpx.get(f"{prod.url}/version").json()
    assert version["sha"] == github_sandbox.state.resolve("main")
    assert version["deployed_at"].endswith("Z")
    assert "In sync" in client.get("/admin/console-versions").get_data(as_text=True)
    answer = post_promote(client, code=current(secret, console))
    assert answer.status_code == 409 and answer.get_json()["error"] == "in_sync"


def test_the_production_console_does_not_promote(admin, app, console):
    client = prod_client(app)
    login(client, ADMIN)
    token = csrf_token(client, "/console/status")
    answer = client.post(
        "/admin/console-versions/promote",
        json={"word": "PROMOTE", "code": "123456"},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 409 and answer.get_json()["error"] == "wrong_console"


def test_version_reports_the_release_time_and_the_sandbox_wiring_is_refused_in_production(
    settings_overrides,
):
    settings = load_settings(settings_overrides | {"HEROKU_RELEASE_CREATED_AT": "2026-12-01T10:00:00Z"})
    assert running_version(settings, "staging").deployed_at == "2026-12-01T10:00:00Z"
    with pytest.raises(ConfigError, match="VERSION_SANDBOX_DEPLOYED_URL"):
        load_settings(
            settings_overrides
            | {
                "CONSOLE_ENV": "production",
                "VERSION_SANDBOX_DEPLOYED_URL": "http://127.0.0.1:1/_sandbox/deployed",
            }
        )


def test_a_promotion_requested_a_moment_ago_by_another_admin_refuses_this_one(admin, console, clock):
    """Both read no deploy of console-prod: the key the other request took makes this one in_flight."""
    client, secret = admin
    with console.db.session() as session:
        service.request_deploy(
            session,
            clock,
            console.surfaces,
            surface_id="api-staging",  # any row holding the key the other admin's promotion took
            ref="main",
            actor="other@raxx.app",
            env="staging",
            kind=KIND_PROMOTION,
            idempotency_key="console-promotion:0",
        )
    answer = post_promote(client, code=current(secret, console))
    assert answer.status_code == 409 and answer.get_json()["error"] == "in_flight"
    assert "requested a moment ago" in answer.get_json()["message"]
    assert audit_rows(console, versions.PROMOTED) == []
    assert [d.surface_id for d in detached_rows(console, select(Deploy))] == ["api-staging"]


def test_github_down_shows_why_there_are_no_commits_and_a_refused_dispatch_is_not_promoted(
    admin, console, github_sandbox
):
    client, secret = admin
    github_sandbox.control("faults", {"mode": "down"})
    page = client.get("/admin/console-versions").get_data(as_text=True)
    assert "GitHub could not compare the two SHAs: github_unavailable" in page
    assert github_sandbox.state.commits[0]["sha"] in page and github_sandbox.state.resolve("main") in page
    answer = post_promote(client, code=current(secret, console))
    assert answer.status_code == 502 and answer.get_json()["error"] == "dispatch_failed"
    assert audit_rows(console, versions.PROMOTE_REFUSED)[-1].payload["reason"] == "dispatch_failed"
    assert audit_rows(console, versions.PROMOTED) == []
    [deploy] = detached_rows(console, select(Deploy))
    assert deploy.status == "dispatch_failed"
