"""The rotation engine: steps, incomplete → resume with the one vault value, one rotation at a time."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from raxx_console.integrations import registry as integrations
from raxx_console.secrets import service
from raxx_console.secrets.fingerprint import fingerprint
from raxx_console.secrets.handlers import ConsoleSecretKey, HandlerFailed
from raxx_console.secrets.models import SecretRotation
from raxx_console.secrets.service import ROTATED, ROTATION_INCOMPLETE_ACTION, RotationRefused
from tests.secrets.conftest import ADMIN, NAME, OLD_VALUE, SPEC, run_rotation
from tests.support.rows import audit_rows, detached_rows

PROD, STAGING = "raxx-console-prod", "raxx-console-staging"


def rotations(console):
    return detached_rows(console, select(SecretRotation).order_by(SecretRotation.id))


def test_rotate_writes_one_new_value_to_the_vault_and_every_app(console, sandboxes):
    versions = sandboxes.vault_versions()

    outcome = run_rotation(console)

    new = sandboxes.vault_value()
    assert outcome.state == "done" and outcome.step == "done"
    assert new != OLD_VALUE and len(new) == 64
    assert sandboxes.vault_versions() == versions + 1
    assert sandboxes.app_values() == {STAGING: new, PROD: new}
    assert outcome.fingerprint == fingerprint(new)
    [row] = audit_rows(console, ROTATED)
    assert row.actor == ADMIN
    assert row.payload["name"] == NAME
    assert row.payload["apps"] == [STAGING, PROD]
    assert row.payload["fingerprint"] == fingerprint(new)
    assert row.payload["actor"] == ADMIN
    assert row.payload["vault_version"] == versions + 1
    [rotation] = rotations(console)
    assert (rotation.state, rotation.apps_done, rotation.previous_version) == (
        "done",
        [STAGING, PROD],
        versions,
    )


def test_failure_between_vault_and_apps_is_incomplete_and_the_retry_uses_the_vault_value(console, sandboxes):
    versions = sandboxes.vault_versions()
    sandboxes.heroku.set_faults("down", apps=[PROD])

    first = run_rotation(console)

    new = sandboxes.vault_value()
    assert (first.state, first.step, first.reason) == ("incomplete", f"app:{PROD}", "heroku_unavailable")
    assert sandboxes.app_values() == {STAGING: new, PROD: OLD_VALUE}
    [failed] = audit_rows(console, ROTATION_INCOMPLETE_ACTION)
    assert failed.payload["step"] == f"app:{PROD}" and failed.payload["fingerprint"] == fingerprint(new)
    assert audit_rows(console, ROTATED) == []

    sandboxes.heroku.set_faults("ok")
    second = run_rotation(console)

    assert second.state == "done" and second.rotation_id == first.rotation_id
    assert sandboxes.vault_versions() == versions + 1, "the retry must not generate a second value"
    assert sandboxes.vault_value() == new
    assert sandboxes.app_values() == {STAGING: new, PROD: new}
    [rotation] = rotations(console)
    assert rotation.attempts == 2 and rotation.fingerprint == fingerprint(new)
    assert len(audit_rows(console, ROTATED)) == 1


def test_a_vault_write_whose_answer_was_lost_is_read_back_not_written_twice(console, sandboxes):
    versions = sandboxes.vault_versions()
    sandboxes.vault.set_faults("timeout_after_write", latency_ms=2500)

    first = run_rotation(console)

    assert (first.state, first.step, first.reason) == ("incomplete", "vault", "infisical_unavailable")
    assert sandboxes.vault_versions() == versions + 1  # the write landed; its answer did not
    landed = sandboxes.vault_value()
    assert first.fingerprint == fingerprint(landed)

    sandboxes.vault.set_faults("ok")
    second = run_rotation(console)

    assert second.state == "done"
    assert sandboxes.vault_versions() == versions + 1
    assert sandboxes.app_values() == {STAGING: landed, PROD: landed}


def test_a_vault_that_is_down_leaves_nothing_changed_and_the_retry_makes_the_value(console, sandboxes):
    versions = sandboxes.vault_versions()
    sandboxes.vault.set_faults("down")

    first = run_rotation(console)

    assert (first.state, first.step, first.reason) == ("incomplete", "vault", "infisical_unavailable")
    assert sandboxes.vault_versions() == versions
    assert sandboxes.app_values() == {STAGING: OLD_VALUE, PROD: OLD_VALUE}

    sandboxes.vault.set_faults("ok")
    assert run_rotation(console).state == "done"
    assert sandboxes.vault_versions() == versions + 1
    assert set(sandboxes.app_values().values()) == {sandboxes.vault_value()}


def test_a_resume_spreads_its_own_vault_version_not_a_newer_one(console, sandboxes):
    sandboxes.heroku.set_faults("down")
    run_rotation(console)
    sandboxes.vault.seed_secret("/MooseQuest/console", NAME, "changed-by-someone-else-0000000000")
    sandboxes.heroku.set_faults("ok")

    # The resume reads the version it wrote (by number), not whatever the vault holds now.
    outcome = run_rotation(console)

    assert outcome.state == "done"
    ours = outcome_value(sandboxes, outcome.fingerprint)
    assert ours != "changed-by-someone-else-0000000000"
    assert set(sandboxes.app_values().values()) == {ours}


def outcome_value(sandboxes, wanted_fingerprint):
    store = sandboxes.vault.store[("/MooseQuest/console", NAME)]
    return next(value for value in store if fingerprint(value) == wanted_fingerprint)


def test_concurrent_rotates_make_one_rotation(console, sandboxes):
    versions = sandboxes.vault_versions()
    sandboxes.heroku.set_faults("ok", latency_ms=400)  # keep the first one running while the second asks
    barrier = threading.Barrier(2)
    results: list[object] = []

    def press() -> None:
        barrier.wait()
        try:
            results.append(run_rotation(console))
        except RotationRefused as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r if isinstance(r, str) else r.state for r in results) == ["done", "rotation_running"]
    assert sandboxes.vault_versions() == versions + 1
    assert len(rotations(console)) == 1
    assert len(audit_rows(console, ROTATED)) == 1


def test_a_running_rotation_refuses_another_until_it_is_stale(console, sandboxes, clock):
    with console.db.session() as session:
        now = clock.now()
        session.add(
            SecretRotation(
                secret_name=NAME,
                state="running",
                step="vault",
                apps_done=[],
                attempts=1,
                actor="someone@raxx.app",
                started_at=now,
                updated_at=now,
            )
        )
    with pytest.raises(RotationRefused) as refused:
        run_rotation(console)
    assert refused.value.code == "rotation_running"

    clock.advance(6 * 60)  # the process running it died: the rotation is taken over
    assert run_rotation(console).state == "done"


class LiveChecked(ConsoleSecretKey):
    """A handler with a live call and a revocation, as the peer link's token handler will have."""

    def __init__(self, console, *, live_ok: bool) -> None:
        super().__init__(console)
        self.live_ok = live_ok
        self.old_seen: str | None = None

    def verify_live(self, value: str) -> bool:
        if not self.live_ok:
            raise HandlerFailed("live_check_refused")
        return True

    def retire(self, old_value) -> str:
        self.old_seen = old_value()
        return "old value revoked"


def test_a_failed_live_check_stops_before_retiring_and_the_retry_retires_the_old_value(console, sandboxes):
    versions = sandboxes.vault_versions()

    def press(handler):
        return service.rotate(
            console.db,
            console.clock,
            SPEC,
            handler,
            vault=integrations.infisical(console),
            heroku=integrations.heroku(console),
            actor=ADMIN,
            env="development",
        )

    refused = LiveChecked(console, live_ok=False)
    first = press(refused)
    assert (first.state, first.step, first.reason) == ("incomplete", "verify", "live_check_refused")
    assert refused.old_seen is None, "nothing is retired before the new value is proven"

    healthy = LiveChecked(console, live_ok=True)
    second = press(healthy)
    assert second.state == "done" and second.retired == "old value revoked"
    assert healthy.old_seen == OLD_VALUE  # read back from the vault's previous version
    assert sandboxes.vault_versions() == versions + 1
    [row] = audit_rows(console, ROTATED)
    assert row.payload["live_checked"] is True
