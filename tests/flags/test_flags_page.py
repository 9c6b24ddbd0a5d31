"""/console/flags: what an operator sees at 3 a.m., and the toggle form with its confirmation step."""

from __future__ import annotations

import logging
import re

import pytest

from raxx_console.flags.registry import FLAGS
from tests.support.accounts import csrf_token
from tests.support.rows import audit_rows

FLAG = "FLAG_CONSOLE_DEPLOY_CHIP"
TICKETING = "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS"
PREREQS = {
    "FREESCOUT_API_URL": "https://tickets.raxx.app",
    "FREESCOUT_INSTANCE_URL": "https://tickets.raxx.app",
    "FREESCOUT_API_KEY": "fs-key-0123456789",
    "FREESCOUT_OPERATIONS_MAILBOX_ID": "2",
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID": "cf-id.access",
    "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": "cf-secret-0123456789",
    "FREESCOUT_BOT_USER_ID": "7",
}


def row_of(page: str, name: str) -> str:
    match = re.search(rf'<tr id="flag-{name}".*?</tr>', page, re.S)
    assert match, f"no row for {name}"
    return match.group(0)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def toggle(client, name, value, **extra):
    data = {"value": value, "csrf_token": csrf_token(client, "/console/flags"), **extra}
    return client.post(f"/console/flags/{name}", data=data)


def test_a_viewer_sees_every_flag_but_no_toggles(viewer):
    page = viewer.get("/console/flags").get_data(as_text=True)
    for spec in FLAGS:
        row = row_of(page, spec.name)
        assert spec.description in text_of(row).replace("&#39;", "'")
        assert 'data-source="default"' in row
    assert 'data-action="toggle"' not in page
    assert "needs the operator role" in page


def test_an_operator_toggles_a_flag_and_its_source_becomes_db(operator, console, clock):
    response = toggle(operator, FLAG, "on")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/console/flags#flag-{FLAG}")
    clock.advance(240)
    page = operator.get("/console/flags").get_data(as_text=True)
    row = row_of(page, FLAG)
    assert 'data-source="db"' in row and 'data-value="on"' in row
    assert "operator@raxx.app" in row
    assert "2026-11-23 12:00 UTC · 4 min ago" in text_of(row)
    assert "Turn off" in row  # the button now offers the way back
    assert f"{FLAG} set to on in the database" in page  # the flash
    [row] = audit_rows(console, "console.flags.toggled")
    assert (row.actor, row.payload["before"]["value"], row.payload["after"]["value"]) == (
        "operator@raxx.app",
        False,
        True,
    )


def test_a_pinned_flag_shows_both_values_and_explains_the_reconcile_step(operator, console, monkeypatch):
    monkeypatch.setenv("FLAG_CONSOLE_DEPLOY_UI", "0")
    response = toggle(operator, "FLAG_CONSOLE_DEPLOY_UI", "on")
    assert response.status_code == 303
    page = operator.get("/console/flags").get_data(as_text=True)
    row = text_of(row_of(page, "FLAG_CONSOLE_DEPLOY_UI"))
    assert "db: on · effective: off (env pin)" in row
    assert "FLAG_CONSOLE_DEPLOY_UI=0" in row
    assert "reconciling DB row so the audit log reflects the true state" in row
    assert "Set db off" in row
    assert "the effective value did not change" in text_of(page)
    [audited] = audit_rows(console, "console.flags.toggled")
    assert audited.payload["pinned_by_env"] is True


def test_a_malformed_env_value_is_shown_and_ignored_without_breaking_the_page(operator, monkeypatch, caplog):
    monkeypatch.setenv(FLAG, "enabled-ish")
    with caplog.at_level(logging.ERROR, logger="raxx_console.flags"):
        response = operator.get("/console/flags")
    assert response.status_code == 200
    row = row_of(response.get_data(as_text=True), FLAG)
    assert "enabled-ish" in row
    assert "ignored" in text_of(row)
    assert 'data-source="default"' in row
    assert any(f"flag_env_invalid flag={FLAG}" in r.getMessage() for r in caplog.records)


def test_the_page_says_which_ticketing_prerequisites_are_missing(viewer):
    page = text_of(viewer.get("/console/flags").get_data(as_text=True))
    assert "Ticketing prerequisites missing" in page
    assert "FREESCOUT_OPERATIONS_MAILBOX_ID" in page and "FREESCOUT_BOT_USER_ID" in page


def test_turning_a_ticketing_flag_on_needs_a_second_confirmed_step(operator, console):
    first = toggle(operator, TICKETING, "on")
    assert first.status_code == 409
    page = text_of(first.get_data(as_text=True))
    assert f"<h1>Turn on <code>{TICKETING}</code>?</h1>" in first.get_data(as_text=True)
    for name in ("FREESCOUT_API_URL", "FREESCOUT_API_KEY", "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET"):
        assert name in page
    assert 'name="confirm"' in first.get_data(as_text=True)
    assert not audit_rows(console, "console.flags.toggled")
    assert 'data-value="off"' in row_of(operator.get("/console/flags").get_data(as_text=True), TICKETING)

    confirmed = toggle(operator, TICKETING, "on", confirm="yes")
    assert confirmed.status_code == 303
    row = row_of(operator.get("/console/flags").get_data(as_text=True), TICKETING)
    assert 'data-value="on"' in row and 'data-source="db"' in row
    [audited] = audit_rows(console, "console.flags.toggled")
    assert "FREESCOUT_API_KEY" in audited.payload["prerequisites_missing"]


@pytest.fixture
def ticketing_configured(settings_overrides):
    settings_overrides.update(PREREQS)


def test_with_every_prerequisite_set_there_is_no_confirmation_step(ticketing_configured, operator):
    page = operator.get("/console/flags").get_data(as_text=True)
    assert "Ticketing prerequisites missing" not in page
    assert toggle(operator, TICKETING, "on").status_code == 303


def test_turning_a_ticketing_flag_off_never_asks(operator):
    assert toggle(operator, TICKETING, "off").status_code == 303


def test_an_unknown_flag_or_a_bad_value_is_refused_plainly(operator, console):
    missing = toggle(operator, "FLAG_NOPE", "on")
    assert missing.status_code == 404
    assert "no flag called FLAG_NOPE" in missing.get_data(as_text=True)
    bad = toggle(operator, FLAG, "maybe")
    assert bad.status_code == 400
    assert "value=on or value=off" in bad.get_data(as_text=True)
    assert not audit_rows(console, "console.flags.toggled")
