"""resolve(): env pin > db > default, lenient env parsing, the 30 s cache, audited writes."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from raxx_console.audit.models import AuditLog
from raxx_console.clock import ManualClock
from raxx_console.config import load_settings
from raxx_console.flags.models import FlagOverride
from raxx_console.flags.registry import FLAGS
from raxx_console.flags.service import FlagStore, PrerequisitesMissing, UnknownFlag, parse_env_flag

FLAG = "FLAG_CONSOLE_DEPLOY_CHIP"
TICKETING = "FLAG_CONSOLE_ALERTS_AUTO_TICKET"
TTL = 30.0
SETTINGS = load_settings({"FREESCOUT_CF_ACCESS_REQUIRED": "false"})


@pytest.fixture
def clock():
    return ManualClock()


def store_for(database, clock, **environ):
    return FlagStore(database, clock, TTL, environ=environ)


def write_row_elsewhere(database, clock, name, value):
    """What another dyno's write looks like to this process: a row, and no cache clearing here."""
    with database.session() as session:
        row = session.get(FlagOverride, name)
        if row is None:
            session.add(FlagOverride(name=name, value=value, updated_at=clock.now(), updated_by="elsewhere"))
        else:
            row.value = value


def toggles(database):
    with database.session() as session:
        return [
            row.payload
            for row in session.scalars(select(AuditLog).where(AuditLog.action == "console.flags.toggled"))
        ]


def test_the_runbooks_flags_are_known_and_default_off():
    names = {spec.name for spec in FLAGS}
    assert {
        "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS",
        "FLAG_CONSOLE_ALERTS_AUTO_TICKET",
        "FLAG_CONSOLE_DEPLOY_UI",
        "FLAG_CONSOLE_DEPLOY_ASYNC",
        "FLAG_CONSOLE_DEPLOY_CHIP",
        "FLAG_CONSOLE_ROTATE_UI",
        "FLAG_CONSOLE_ROTATION_MODE_A",
        "FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET",
    } <= names
    assert not any(spec.default for spec in FLAGS if spec.needs_ticketing)


def test_precedence_is_env_then_db_then_default(database, clock):
    store = store_for(database, clock)
    assert (store.resolve(FLAG).value, store.resolve(FLAG).source) == (False, "default")

    write_row_elsewhere(database, clock, FLAG, True)
    store.clear_cache()
    assert (store.resolve(FLAG).value, store.resolve(FLAG).source) == (True, "db")

    pinned = store_for(database, clock, **{FLAG: "0"}).resolve(FLAG)
    assert (pinned.value, pinned.source, pinned.db_value, pinned.pinned) == (False, "env", True, True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True), ("0", False), ("true", True), ("FALSE", False), ("On", True), ("off", False),
        (" TRUE ", True), ("yes", True), ("No", False),
        ("maybe", None), ("", None), ("2", None), ("enabled", None),
    ],
)  # fmt: skip
def test_env_values_parse_case_insensitively(raw, expected):
    assert parse_env_flag(raw) is expected


def test_a_malformed_env_value_is_logged_shown_and_ignored(database, clock, caplog):
    write_row_elsewhere(database, clock, FLAG, True)
    store = store_for(database, clock, **{FLAG: "maybe", "FLAG_CONSOLE_ROTATE_UI": "sure"})
    with caplog.at_level(logging.ERROR, logger="raxx_console.flags"):
        res = store.resolve(FLAG)
        store.resolve(FLAG)  # logged once per value, not on every request
        other = store.resolve("FLAG_CONSOLE_ROTATE_UI")
    assert (res.value, res.source, res.env_invalid, res.env_raw) == (True, "db", True, "maybe")
    assert (other.value, other.source) == (False, "default")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert f"flag_env_invalid flag={FLAG}" in errors[0]
    assert "flag_env_invalid flag=FLAG_CONSOLE_ROTATE_UI" in errors[1]


def test_another_processs_write_is_seen_once_the_ttl_has_passed(database, clock):
    store = store_for(database, clock)
    assert store.resolve(FLAG).value is False  # caches the (empty) overrides

    write_row_elsewhere(database, clock, FLAG, True)
    clock.advance(TTL - 1)
    assert store.resolve(FLAG).value is False
    clock.advance(1)
    assert store.resolve(FLAG).value is True


def test_a_local_write_is_seen_at_once(database, clock):
    store = store_for(database, clock)
    assert store.resolve(FLAG).value is False
    change = store.change(FLAG, True, settings=SETTINGS, actor="op@raxx.app", env="staging")
    assert (change.after.value, change.after.source) == (True, "db")
    assert store.resolve(FLAG).value is True


def test_unknown_flags_are_refused(database, clock):
    store = store_for(database, clock)
    with pytest.raises(UnknownFlag):
        store.resolve("FLAG_NOPE")
    with pytest.raises(UnknownFlag):
        store.change("FLAG_NOPE", True, settings=SETTINGS, actor="op@raxx.app", env="staging")
    assert toggles(database) == []


def test_every_toggle_is_audited_with_before_and_after(database, clock):
    store = store_for(database, clock)
    store.change(FLAG, True, settings=SETTINGS, actor="op@raxx.app", env="staging")
    clock.advance(60)
    store.change(FLAG, False, settings=SETTINGS, actor="op2@raxx.app", env="production")
    first, second = toggles(database)
    assert first == {
        "flag": FLAG,
        "before": {"value": False, "source": "default", "db": None},
        "after": {"value": True, "source": "db", "db": True},
        "pinned_by_env": False,
    }
    assert second["before"] == {"value": True, "source": "db", "db": True}
    assert second["after"] == {"value": False, "source": "db", "db": False}
    with database.session() as session:
        rows = list(session.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [(r.actor, r.selected_env) for r in rows] == [
        ("op@raxx.app", "staging"),
        ("op2@raxx.app", "production"),
    ]
    res = store.resolve(FLAG)
    assert (res.updated_by, res.updated_at) == ("op2@raxx.app", clock.now())


def test_the_audit_before_is_the_databases_truth_not_a_stale_cache(database, clock):
    store = store_for(database, clock)
    store.resolve(FLAG)  # cache: no override
    write_row_elsewhere(database, clock, FLAG, True)
    store.change(FLAG, False, settings=SETTINGS, actor="op@raxx.app", env="staging")
    assert toggles(database)[0]["before"] == {"value": True, "source": "db", "db": True}


def test_a_pinned_flag_accepts_the_reconciling_db_write(database, clock):
    """Rollout runbook: after a break-glass env flip, write the DB row so the audit log is true."""
    store = store_for(database, clock, **{TICKETING: "0"})
    write_row_elsewhere(database, clock, TICKETING, True)
    change = store.change(TICKETING, False, settings=SETTINGS, actor="op@raxx.app", env="production")
    assert (change.after.value, change.after.source, change.after.db_value) == (False, "env", False)
    [payload] = toggles(database)
    assert payload["pinned_by_env"] is True
    assert payload["before"] == {"value": False, "source": "env", "db": True}
    assert payload["after"] == {"value": False, "source": "env", "db": False}


def test_a_ticketing_flag_needs_confirmation_while_prerequisites_are_missing(database, clock):
    store = store_for(database, clock)
    with pytest.raises(PrerequisitesMissing) as refused:
        store.change(TICKETING, True, settings=SETTINGS, actor="op@raxx.app", env="staging")
    assert "FREESCOUT_API_KEY" in refused.value.missing
    assert toggles(database) == []
    assert store.resolve(TICKETING).value is False

    # off never needs it, nor does a flag that files no tickets
    store.change(TICKETING, False, settings=SETTINGS, actor="op@raxx.app", env="staging")
    store.change(FLAG, True, settings=SETTINGS, actor="op@raxx.app", env="staging")

    change = store.change(
        TICKETING, True, settings=SETTINGS, actor="op@raxx.app", env="staging", confirm=True
    )
    assert change.after.value is True
    assert change.confirmed_missing == tuple(refused.value.missing)
    assert toggles(database)[-1]["prerequisites_missing"] == refused.value.missing
