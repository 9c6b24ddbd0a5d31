"""The old and the new value of a rotated secret appear nowhere but the vault and the apps.

Each path runs a rotation through the page (a form post and the page it redirects to) and the
JSON API, fails it in one way, then retries it to the end. Everything the console put out along
the way is collected — every log record (message, arguments, exception text), every answer and
page, every audit row, every ``secret_rotations`` row — and searched for the old value (planted
before the test) and the new one (read from the vault sandbox afterwards).
"""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from raxx_console.secrets.models import SecretRotation
from tests.secrets.conftest import NAME, OLD_VALUE
from tests.support.accounts import csrf_token, make_token, make_user
from tests.support.rows import audit_rows, detached_rows

PROD = "raxx-console-prod"


def _break(sandboxes, path: str) -> None:
    if path == "heroku_one_app_down":
        sandboxes.heroku.set_faults("down", apps=[PROD])
    elif path == "heroku_rate_limited":
        sandboxes.heroku.set_faults("ratelimited")
    elif path == "heroku_error500":
        sandboxes.heroku.set_faults("error500", apps=[PROD])
    elif path == "heroku_token_refused":
        sandboxes.heroku.token = "a-token-the-console-does-not-have"
    elif path == "vault_down":
        sandboxes.vault.set_faults("down")
    elif path == "vault_error500":
        sandboxes.vault.set_faults("error500")
    elif path == "vault_answer_lost":
        sandboxes.vault.set_faults("timeout_after_write", latency_ms=2500)
    elif path == "vault_login_refused":
        sandboxes.vault.client_secret = "a-secret-the-console-does-not-have"


def _mend(sandboxes) -> None:
    sandboxes.heroku.set_faults("ok")
    sandboxes.heroku.token = sandboxes.stack.heroku_token
    sandboxes.vault.set_faults("ok")
    sandboxes.vault.client_secret = sandboxes.stack.infisical_client_secret


def _log_text(records: list[logging.LogRecord]) -> str:
    lines = []
    for record in records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        lines.append(record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            lines.append(repr(record.exc_info[1]))
    return "\n".join(lines)


@pytest.mark.parametrize(
    "path",
    [
        "heroku_one_app_down",
        "heroku_rate_limited",
        "heroku_error500",
        "heroku_token_refused",
        "vault_down",
        "vault_error500",
        "vault_answer_lost",
        "vault_login_refused",
    ],
)
def test_no_value_escapes_in_any_failure_path(path, admin, console, sandboxes, flags_on, caplog):
    caplog.set_level(logging.DEBUG)
    make_user(console, "robot@raxx.app", "admin")
    bearer = {"Authorization": f"Bearer {make_token(console, 'robot@raxx.app')}"}
    outputs: list[str] = []

    _break(sandboxes, path)
    failed_form = admin.post(f"/secrets/{NAME}/rotate", data={"csrf_token": csrf_token(admin, "/secrets")})
    outputs.append(failed_form.get_data(as_text=True))
    outputs.append(admin.get("/secrets").get_data(as_text=True))  # shows the flashed outcome
    # A lost vault answer is already mended for the second press: it reads the value back and ends.
    again = admin.post(f"/secrets/{NAME}/rotate", headers=bearer)
    assert again.status_code == (200 if path == "vault_answer_lost" else 502), again.get_data(as_text=True)
    outputs.append(again.get_data(as_text=True))
    outputs.append(admin.get("/secrets.json").get_data(as_text=True))

    _mend(sandboxes)
    if path != "vault_answer_lost":
        done = admin.post(f"/secrets/{NAME}/rotate", headers=bearer)
        assert done.status_code == 200 and done.get_json()["state"] == "done"
        outputs.append(done.get_data(as_text=True))
    outputs.append(admin.get("/secrets").get_data(as_text=True))
    outputs.append(admin.get("/secrets.json").get_data(as_text=True))
    outputs.append(admin.get("/console/health.json").get_data(as_text=True))
    outputs.append(admin.get("/metrics").get_data(as_text=True))

    new_value = sandboxes.vault_value()
    assert new_value and new_value != OLD_VALUE
    assert set(sandboxes.app_values().values()) == {new_value}
    outputs.append(_log_text(caplog.records))
    outputs.extend(json.dumps(row.payload) + row.actor for row in audit_rows(console))
    outputs.extend(
        repr({column: getattr(row, column) for column in SecretRotation.__table__.columns.keys()})
        for row in detached_rows(console, select(SecretRotation))
    )
    everything = "\n".join(outputs)
    assert "incomplete" in everything  # the failure was seen, and described
    assert OLD_VALUE not in everything
    assert new_value not in everything
