"""ticketing_prereqs_missing(): runbook Step 0's names (never values), plus the bot user."""

from __future__ import annotations

import pytest

from raxx_console.config import load_settings
from raxx_console.health.prereqs import ticketing_prereqs_missing

STEP_0 = [
    "FREESCOUT_API_URL",
    "FREESCOUT_INSTANCE_URL",
    "FREESCOUT_API_KEY",
    "FREESCOUT_OPERATIONS_MAILBOX_ID",
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID",
    "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET",
]
COMPLETE = {
    "FREESCOUT_API_URL": "https://tickets.raxx.app",
    "FREESCOUT_INSTANCE_URL": "https://tickets.raxx.app",
    "FREESCOUT_API_KEY": "fs-key-SENTINEL",
    "FREESCOUT_OPERATIONS_MAILBOX_ID": "2",
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID": "cf-id.access",
    "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": "cf-secret-SENTINEL",
    "FREESCOUT_BOT_USER_ID": "7",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in [*COMPLETE, "FREESCOUT_CF_ACCESS_REQUIRED"]:
        monkeypatch.delenv(name, raising=False)


def test_nothing_set_names_all_seven_in_the_runbooks_order():
    assert ticketing_prereqs_missing(load_settings({})) == [*STEP_0, "FREESCOUT_BOT_USER_ID"]


def test_everything_set_means_nothing_missing():
    missing = ticketing_prereqs_missing(load_settings(COMPLETE))
    assert missing == []


@pytest.mark.parametrize("name", list(COMPLETE))
def test_each_one_is_noticed_when_blank(name):
    settings = load_settings({**COMPLETE, name: "  "})
    assert ticketing_prereqs_missing(settings) == [name]


def test_the_cf_access_pair_only_counts_when_access_gates_the_api():
    partial = {k: v for k, v in COMPLETE.items() if not k.startswith("CF_ACCESS")}
    assert (
        ticketing_prereqs_missing(load_settings({**partial, "FREESCOUT_CF_ACCESS_REQUIRED": "false"})) == []
    )
    assert ticketing_prereqs_missing(load_settings(partial)) == STEP_0[4:]
