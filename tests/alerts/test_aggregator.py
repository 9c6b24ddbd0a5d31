"""alert_aggregator.emit: identity, lifetimes, the decision log, hook isolation, concurrent first emits."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from raxx_console.alerts import alert_aggregator
from raxx_console.alerts.emission import Decision
from raxx_console.alerts.hooks import HOOKS, Hook, registered_hooks
from raxx_console.alerts.models import Alert
from raxx_console.context import build_console
from tests.alerts.helpers import alert, decided, decisions, fire, lines, signal


def test_alert_id_is_derived_from_source_and_check_only(console):
    expected = hashlib.sha256(b"ci\x00disk-full").hexdigest()
    first = fire(console, "P3")
    console.clock.advance(3600)
    later = fire(console, "P1", title="a different title", details="other", labels={"x": "y"})
    assert first.alert_id == later.alert_id == expected
    assert first.alert_key == later.alert_key == f"ci:{expected[:16]}"
    assert alert_aggregator.alert_identity("ci", "disk-full") == (expected, first.alert_key)
    assert alert_aggregator.alert_identity("ci", "disk-ful") != alert_aggregator.alert_identity(
        "ci", "disk-full"
    )


def test_events_across_two_lifetimes(console):
    seen = [
        fire(console, "P3"),
        fire(console, "P3"),
        fire(console, "P2"),
        fire(console, "P3"),
        fire(console, "P3", status="resolved"),
        fire(console, "P3", status="resolved"),
        fire(console, "P2"),
    ]
    assert [(r.event, r.decision) for r in seen] == [
        ("fire", "first"),
        ("repeat", "repeat"),
        ("severity_change", "escalated"),
        ("severity_change", "deescalated"),
        ("resolve", "resolved"),
        (None, "not_firing"),
        ("fire", "new_lifetime"),
    ]
    row = alert(console, seen[0].alert_key)
    assert (row.state, row.lifetime, row.severity, row.emit_count) == ("firing", 2, "P2", 1)
    with console.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_a_resolve_for_an_alert_never_seen_stores_nothing(console):
    result = fire(console, status="resolved")
    assert (result.event, result.decision) == (None, "not_firing")
    with console.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_bad_severity_or_status_is_refused_before_anything_is_stored(console):
    with pytest.raises(ValueError, match="severity"):
        fire(console, "P4")
    with pytest.raises(ValueError, match="status"):
        fire(console, status="pending")


def test_repeats_write_a_decision_only_when_it_changes_and_count_on_the_alert_row(console):
    key = fire(console).alert_key
    fired_at = console.clock.now()
    for _ in range(20):
        console.clock.advance(30)
        fire(console)
    assert decided(console, key, "aggregator") == ["first", "repeat"]
    ticket = decisions(console, key, "auto_ticket")
    assert [(d.event, d.decision) for d in ticket] == [("fire", "flag_off"), ("repeat", "flag_off")]
    row = alert(console, key)
    assert row.emit_count == 21
    assert row.last_emit_at == fired_at + timedelta(seconds=600)


def test_each_emission_logs_the_runbook_line(console, caplog):
    caplog.set_level(logging.INFO, logger="raxx_console.alert_aggregator")
    key = fire(console).alert_key
    fire(console)
    found = lines(caplog, "alert_aggregator emit")
    assert len(found) == 2
    assert found[0].startswith(
        f"alert_aggregator emit alert_key={key} severity=P2 status=firing decision=first"
    )
    assert "decision=repeat" in found[1]


def test_a_batch_logs_its_new_fires_and_one_line_of_counts(console, caplog):
    caplog.set_level(logging.INFO, logger="raxx_console.alert_aggregator")
    disk, cpu = signal("disk-full"), signal("cpu-hot")
    with console.db.session() as session:
        alert_aggregator.emit_batch(console, session, [disk, cpu])
    with console.db.session() as session:
        alert_aggregator.emit_batch(console, session, [disk, cpu, signal("mem-low"), signal("cpu-hot", "P1")])
    found = lines(caplog, "alert_aggregator emit")
    assert [line.split("decision=")[1].split()[0] for line in found] == [
        "first",
        "first",
        "first",
        "escalated",
    ], "new fires and the severity change; the quiet repeat of disk-full only in the counts"
    assert lines(caplog, "alert_aggregator batch") == [
        "alert_aggregator batch emissions=2 first_fires=2 quiet_repeats=0 per_alert=0 decisions=6",
        "alert_aggregator batch emissions=4 first_fires=1 quiet_repeats=2 per_alert=1 decisions=12",
    ]


def test_the_hooks_are_registered_in_one_place_and_listable():
    assert [hook["name"] for hook in registered_hooks()] == ["slack_dm", "auto_ticket", "surface_recovery"]
    assert all(hook["description"] for hook in registered_hooks())


def test_a_failing_hook_is_recorded_and_does_not_stop_the_others(console, monkeypatch, caplog):
    def broken(_emission):
        raise RuntimeError("boom")

    ran = []

    def after(emission):
        ran.append(emission.event)
        return Decision("ok", "ran after the broken hook")

    monkeypatch.setattr(
        alert_aggregator, "HOOKS", (Hook("broken", "raises", broken), *HOOKS, Hook("after", "", after))
    )
    with caplog.at_level(logging.ERROR):
        result = fire(console)
    assert result.hooks["broken"] == "hook_error"
    assert result.hooks["auto_ticket"] == "flag_off"
    assert ran == ["fire"]
    [error] = decisions(console, result.alert_key, "broken")
    assert "RuntimeError" in error.reason
    assert "alert_aggregator hook failed hook=broken" in caplog.text


def test_concurrent_first_emissions_make_one_alert(console, backend):
    """Eight processes' worth of first emissions at once: one row, one "first", the rest repeats."""
    consoles = [build_console(console.settings, clock=console.clock) for _ in range(8)]
    barrier = threading.Barrier(len(consoles))
    results, errors = [], []

    def emit(other):
        barrier.wait()
        try:
            results.append(fire(other))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=emit, args=(c,)) for c in consoles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for other in consoles:
        other.db.dispose()
    assert not errors
    assert sorted(r.decision for r in results) == ["first"] + ["repeat"] * 7
    row = alert(console, results[0].alert_key)
    assert row.emit_count == 8
