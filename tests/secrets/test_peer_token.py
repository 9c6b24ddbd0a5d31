"""The peer link's service token, rotated by its Mode A handler against a second live console.

The console under test plays prod (its peer is ``staging``, which issued the token it calls
with), so the rotation touches ``raxx-console-prod`` and ``/MooseQuest/console/peer/raxx-console-prod``
only. ``peer_down`` makes staging answer 503 on the peer paths a test names.
"""

from __future__ import annotations

import json
import logging

import pytest
from flask import Response
from sqlalchemy import select

from raxx_console.auth.models import ServiceToken
from raxx_console.config import load_settings
from raxx_console.integrations import registry as integrations
from raxx_console.peers import (
    SERVICE_TOKENS_PATH,
    SERVICE_TOKENS_RETIRE_PATH,
    VERSION_PATH,
    PeerLink,
    PeerStatus,
)
from raxx_console.secrets.fingerprint import fingerprint
from raxx_console.secrets.models import SecretRotation
from raxx_console.secrets.registry import get_spec
from raxx_console.secrets.service import ROTATED
from tests.secrets.conftest import run_rotation
from tests.secrets.test_sentinel import _log_text
from tests.support.accounts import csrf_token, make_token, make_user
from tests.support.rows import audit_rows, detached_rows

NAME = "CONSOLE_PEER_TOKEN"
SPEC = get_spec(NAME)
assert SPEC is not None
PROD, STAGING = "raxx-console-prod", "raxx-console-staging"
VAULT_PATH = f"/MooseQuest/console/peer/{PROD}"
#: What staging's own app holds (the token it calls prod with): a rotation on prod never touches it.
STAGING_APP_TOKEN = "rxs_staging-app-s3ntinel-untouched-0000000000"


@pytest.fixture(autouse=True)
def peer_down(peer_settings, staging, sandboxes):
    """Link the console under test to ``staging`` with the token staging issued, planted in the
    vault and prod's config var; the set it yields names the peer paths that answer 503."""
    sandboxes.vault.seed_secret(VAULT_PATH, NAME, staging.token)
    sandboxes.heroku.set_config_var(PROD, NAME, staging.token)
    sandboxes.heroku.set_config_var(STAGING, NAME, STAGING_APP_TOKEN)
    down: set[str] = set()

    @staging.app.before_request
    def _fault() -> Response | None:
        from flask import request

        if request.path in down:
            return Response('{"error": "unavailable"}', 503, mimetype="application/json")
        return None

    return down


def rotate(console):
    return run_rotation(console, name=NAME)


def link_with(settings_overrides, clock, token: str) -> PeerLink:
    """A fresh link as a restarted dyno builds it, from a config with ``token``."""
    return PeerLink.from_settings(load_settings({**settings_overrides, NAME: token}), clock)


def live_tokens(staging) -> list[ServiceToken]:
    return detached_rows(
        staging.console,
        select(ServiceToken).where(ServiceToken.service == "console-prod", ServiceToken.revoked_at.is_(None)),
    )


def test_the_rotated_token_works_for_the_peer_link_and_the_old_one_no_longer_does(
    console, staging, sandboxes, settings_overrides, clock
):
    old = staging.token
    assert integrations.peer_link(console).version()[0].ok

    outcome = rotate(console)

    new = sandboxes.vault.current(VAULT_PATH, NAME)
    assert outcome.state == "done", outcome
    assert new and new != old and new.startswith("rxs_")
    assert sandboxes.heroku.config_var(PROD, NAME) == new
    assert sandboxes.heroku.config_var(STAGING, NAME) == STAGING_APP_TOKEN, "only this console's app"
    assert outcome.apps == (PROD,) and outcome.fingerprint == fingerprint(new)
    # The new token speaks for the link — in this process at once, and in a restarted one.
    assert integrations.peer_link(console).version()[0].ok
    assert link_with(settings_overrides, clock, new).version()[0].ok
    refused, _ = link_with(settings_overrides, clock, old).version()
    assert (refused.status, refused.http_status) == (PeerStatus.REFUSED, 401)
    [live] = live_tokens(staging)
    assert live.prefix == new[:10]
    [row] = audit_rows(console, ROTATED)
    assert row.payload["apps"] == [PROD] and row.payload["live_checked"] is True
    assert old[:10] in row.payload["retired"]
    [revoked] = audit_rows(staging.console, "console.token.revoked")
    assert (revoked.actor, revoked.payload["prefix"]) == ("service:console-prod", old[:10])


def test_a_failure_midway_is_incomplete_and_the_retry_finishes_with_the_one_vault_value(
    console, staging, sandboxes, settings_overrides, clock
):
    old = staging.token
    versions = sandboxes.vault.versions(VAULT_PATH, NAME)
    sandboxes.heroku.set_faults("down", apps=[PROD])

    first = rotate(console)

    new = sandboxes.vault.current(VAULT_PATH, NAME)
    assert (first.state, first.step, first.reason) == ("incomplete", f"app:{PROD}", "heroku_unavailable")
    assert sandboxes.heroku.config_var(PROD, NAME) == old
    # The peer already accepts the new token, and still the old one: the link never broke.
    assert sorted(t.prefix for t in live_tokens(staging)) == sorted([old[:10], new[:10]])
    assert link_with(settings_overrides, clock, old).version()[0].ok

    sandboxes.heroku.set_faults("ok")
    second = rotate(console)

    assert second.state == "done" and second.rotation_id == first.rotation_id
    assert sandboxes.vault.versions(VAULT_PATH, NAME) == versions + 1, "never a second value"
    assert sandboxes.vault.current(VAULT_PATH, NAME) == new == sandboxes.heroku.config_var(PROD, NAME)
    assert link_with(settings_overrides, clock, new).version()[0].ok
    assert link_with(settings_overrides, clock, old).version()[0].status is PeerStatus.REFUSED
    assert [t.prefix for t in live_tokens(staging)] == [new[:10]]


@pytest.mark.parametrize(
    ("down_path", "step"),
    [(SERVICE_TOKENS_PATH, "enrol"), (VERSION_PATH, "verify"), (SERVICE_TOKENS_RETIRE_PATH, "retire")],
)
def test_a_peer_failing_at_any_step_keeps_the_old_token_live_until_the_retry(
    down_path, step, console, staging, sandboxes, peer_down, settings_overrides, clock
):
    old = staging.token
    versions = sandboxes.vault.versions(VAULT_PATH, NAME)
    peer_down.add(down_path)

    first = rotate(console)

    assert (first.state, first.step, first.reason) == ("incomplete", step, "peer_unreachable")
    [rotation] = detached_rows(console, select(SecretRotation))
    assert rotation.step == step

    peer_down.clear()
    assert link_with(settings_overrides, clock, old).version()[0].ok, "nothing retired yet"
    assert rotate(console).state == "done"
    new = sandboxes.vault.current(VAULT_PATH, NAME)
    assert sandboxes.vault.versions(VAULT_PATH, NAME) == versions + 1, "never a second value"
    assert [t.prefix for t in live_tokens(staging)] == [new[:10]]
    assert link_with(settings_overrides, clock, old).version()[0].status is PeerStatus.REFUSED


def test_without_a_peer_nothing_is_written(console, sandboxes, clock):
    unlinked = PeerLink(env=None, base_url=None, token=None, cf_headers={}, timeout=1, clock=clock)
    console.components[integrations.PEER_KEY] = unlinked
    paths = (VAULT_PATH, f"/MooseQuest/console/peer/{STAGING}")
    versions = [sandboxes.vault.versions(path, NAME) for path in paths]

    outcome = rotate(console)

    assert (outcome.state, outcome.step, outcome.reason) == ("incomplete", "vault", "peer_not_configured")
    assert outcome.fingerprint is None
    assert [sandboxes.vault.versions(path, NAME) for path in paths] == versions
    assert sandboxes.heroku.config_var(STAGING, NAME) == STAGING_APP_TOKEN


@pytest.mark.parametrize(
    "path", ["heroku_down", "peer_enrol_down", "peer_verify_down", "peer_retire_down", "vault_down"]
)
def test_no_token_escapes_in_any_failure_path(
    path, admin, console, staging, sandboxes, peer_down, flags_on, caplog
):
    """The old and the new token appear in no log line, page, answer, audit row (on either
    console) or rotation row, through a failed Rotate, its retry and the pages after."""
    caplog.set_level(logging.DEBUG)
    make_user(console, "robot@raxx.app", "admin")
    bearer = {"Authorization": f"Bearer {make_token(console, 'robot@raxx.app')}"}
    breaks = {
        "peer_enrol_down": SERVICE_TOKENS_PATH,
        "peer_verify_down": VERSION_PATH,
        "peer_retire_down": SERVICE_TOKENS_RETIRE_PATH,
    }
    if path == "heroku_down":
        sandboxes.heroku.set_faults("down", apps=[PROD])
    elif path == "vault_down":
        sandboxes.vault.set_faults("down")
    else:
        peer_down.add(breaks[path])
    outputs: list[str] = []

    failed = admin.post(f"/secrets/{NAME}/rotate", data={"csrf_token": csrf_token(admin, "/secrets")})
    outputs.append(failed.get_data(as_text=True))
    outputs.append(admin.get("/secrets").get_data(as_text=True))
    again = admin.post(f"/secrets/{NAME}/rotate", headers=bearer)
    assert again.status_code == 502, again.get_data(as_text=True)
    outputs.append(again.get_data(as_text=True))

    sandboxes.heroku.set_faults("ok")
    sandboxes.vault.set_faults("ok")
    peer_down.clear()
    done = admin.post(f"/secrets/{NAME}/rotate", headers=bearer)
    assert done.status_code == 200 and done.get_json()["state"] == "done", done.get_data(as_text=True)
    outputs.append(done.get_data(as_text=True))
    for page in ("/secrets", "/secrets.json", "/console/health.json", "/metrics"):
        outputs.append(admin.get(page).get_data(as_text=True))

    old, new = staging.token, sandboxes.vault.current(VAULT_PATH, NAME)
    assert new and new != old and sandboxes.heroku.config_var(PROD, NAME) == new
    outputs.append(_log_text(caplog.records))
    for each in (console, staging.console):
        outputs.extend(f"{row.action} {row.actor} {json.dumps(row.payload)}" for row in audit_rows(each))
    outputs.extend(
        repr({column: getattr(row, column) for column in SecretRotation.__table__.columns.keys()})
        for row in detached_rows(console, select(SecretRotation))
    )
    everything = "\n".join(outputs)
    assert "incomplete" in everything and "console.token.revoked" in everything
    assert old not in everything
    assert new not in everything
