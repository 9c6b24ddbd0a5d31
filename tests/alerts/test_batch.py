"""The set-based path of ``emit_batch``: mixed batches, repeats within a batch, concurrent batches
sharing alerts, a batch rejected whole, and how few statements a batch costs."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import event, func, select

from raxx_console.alerts import alert_aggregator, ingest, store
from raxx_console.alerts.models import Alert, AlertDecision
from raxx_console.context import build_console
from raxx_console.outbox.models import OutboxItem
from raxx_console.tickets import service as tickets_service
from raxx_console.tickets.models import ENTRY_ALERT, Ticket
from tests.alerts.helpers import AUTO_TICKET_FLAG, alert, decided, deliver, items, set_flag, signal, tickets
from tests.support.accounts import make_token, make_user


@pytest.fixture
def console(alerts_console):
    set_flag(alerts_console, AUTO_TICKET_FLAG)
    return alerts_console


def emit(console, *signals):
    with console.db.session() as session:
        return alert_aggregator.emit_batch(console, session, list(signals))


def counts(console) -> dict[str, int]:
    with console.db.session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Alert, AlertDecision, Ticket, OutboxItem)
        }


def test_a_batch_mixing_new_fires_repeats_severity_changes_and_resolves(console):
    old = emit(console, signal("repeats"), signal("escalates"), signal("resolves"), signal("p3", "P3"))
    console.clock.advance(30)
    results = emit(
        console,
        signal("repeats"),
        signal("new"),
        signal("escalates", "P1"),
        signal("resolves", status="resolved"),
        signal("p3", "P3"),
        signal("never-seen", status="resolved"),
    )
    assert [(r.event, r.decision) for r in results] == [
        ("repeat", "repeat"),
        ("fire", "first"),
        ("severity_change", "escalated"),
        ("resolve", "resolved"),
        ("repeat", "repeat"),
        (None, "not_firing"),
    ], "results come back in request order"
    assert results[0].hooks == {"slack_dm": "suppressed", "auto_ticket": "ticket_pending"}
    assert results[1].hooks == {"slack_dm": "notified", "auto_ticket": "ticket_reserved"}
    assert results[2].hooks["auto_ticket"] == "ticket_pending"
    assert results[3].hooks["auto_ticket"] == "cancelled"
    assert results[4].hooks == {"slack_dm": "suppressed", "auto_ticket": "below_threshold"}
    keys = {r.alert_key: r for r in old}
    assert alert(console, old[0].alert_key).emit_count == 2
    assert alert(console, old[1].alert_key).severity == "P1"
    assert alert(console, old[2].alert_key).state == "resolved"
    assert len(keys) == 4
    filed = {t.dedup_key: t.state for t in tickets(console)}
    assert filed == {
        old[0].alert_key: "pending",
        old[1].alert_key: "pending",
        old[2].alert_key: "cancelled",
        results[1].alert_key: "pending",
    }, "one reservation per P2+ alert; the resolved one's create cancelled; P3 none"
    assert decided(console, old[0].alert_key, "aggregator") == ["first", "repeat"]
    assert decided(console, old[1].alert_key, "aggregator") == ["first", "escalated"]


def test_the_same_alert_twice_in_one_batch(console):
    fired, repeated = emit(console, signal("twice"), signal("twice"))
    assert (fired.decision, repeated.decision) == ("first", "repeat")
    assert repeated.hooks == {"slack_dm": "suppressed", "auto_ticket": "ticket_pending"}
    row = alert(console, fired.alert_key)
    assert row.emit_count == 2
    assert [t.dedup_key for t in tickets(console)] == [fired.alert_key], "one reservation"
    fired, resolved = emit(console, signal("flap"), signal("flap", status="resolved"))
    assert (fired.decision, resolved.decision) == ("first", "resolved")
    assert alert(console, fired.alert_key).state == "resolved"
    assert {t.dedup_key: t.state for t in tickets(console)}[fired.alert_key] == "cancelled"


def test_a_quiet_repeat_writes_its_decision_again_after_another_one(console):
    """The row's ``quiet_digest`` lets steady repeats skip the decision log; a decision written
    by any other emission clears it, so a repeat that comes back to an older decision still
    writes it (the log reads first, repeat, escalated, deescalated, repeat)."""
    key = emit(console, signal("flip"))[0].alert_key
    for severity in ("P2", "P2", "P1", "P2", "P2", "P2"):
        console.clock.advance(1)  # within the minute: the reminder's time reads the same
        emit(console, signal("flip", severity), signal("other"))
    assert decided(console, key, "aggregator") == ["first", "repeat", "escalated", "deescalated", "repeat"]
    assert decided(console, key, "slack_dm") == [
        "notified",
        "suppressed",
        "notified",
        "notified",
        "suppressed",
    ]
    assert alert(console, key).emit_count == 7


def test_a_ticket_filed_between_quiet_repeats_is_written_once(console, freescout_sandbox, slack_sandbox):
    """Steady repeats read no decisions; the first one after the ticket is filed reads them and
    writes only what changed (the auto-ticket hook's ``deduped``)."""
    keys = [r.alert_key for r in emit(console, signal("a"), signal("b"))]
    console.clock.advance(1)
    emit(console, signal("a"), signal("b"))
    deliver(console)
    for _ in range(3):
        console.clock.advance(1)
        results = emit(console, signal("a"), signal("b"))
        assert [r.hooks["auto_ticket"] for r in results] == ["deduped", "deduped"]
    for key in keys:
        assert decided(console, key, "auto_ticket") == ["ticket_reserved", "ticket_pending", "deduped"]
        assert decided(console, key, "aggregator") == ["first", "repeat"]
        assert alert(console, key).emit_count == 5


@pytest.mark.parametrize("rounds", [6])
def test_concurrent_batches_sharing_alerts_file_once_and_count_every_emission(console, rounds):
    """Two processes' batches over the same alerts, in opposite orders: no deadlock, one ticket
    per alert, and every emission counted (rows are locked in ``alert_id`` order)."""
    checks = [f"shared-{i}" for i in range(12)]
    consoles = [build_console(console.settings, clock=console.clock) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def send(other, order):
        try:
            for _ in range(rounds):
                barrier.wait(timeout=30)
                emit(other, *(signal(check) for check in order))
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=send, args=(consoles[0], checks)),
        threading.Thread(target=send, args=(consoles[1], list(reversed(checks)))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for other in consoles:
        other.db.dispose()
    assert not errors, errors
    with console.db.session() as session:
        rows = list(session.scalars(select(Alert)))
        assert sorted(a.check for a in rows) == sorted(checks)
        assert {a.emit_count for a in rows} == {2 * rounds}, "every emission of both batches counted"
        assert all(decided == "first" for decided in _first_decisions(session, rows))
    assert sorted(t.dedup_key for t in tickets(console)) == sorted(a.alert_key for a in rows)


def test_a_first_fire_that_loses_its_row_to_another_writer_keeps_no_reservation(
    console, backend, monkeypatch
):
    """The batch reserves its new alerts' tickets before inserting their rows; one whose row
    another writer inserted meanwhile (here at P3: no ticket) drops its reservation and its DM,
    and its emission is what it is against that row — an escalation that files the one ticket."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: nothing can insert between the two statements")
    other = build_console(console.settings, clock=console.clock)
    reserve_many = alert_aggregator.tickets.reserve_many
    once: list[bool] = []

    def meanwhile(*args, **kwargs):
        reserved = reserve_many(*args, **kwargs)
        if not once:  # commits while this batch is between its statements
            once.append(True)
            emit(other, signal("contested", "P3"))
        return reserved

    monkeypatch.setattr(alert_aggregator.tickets, "reserve_many", meanwhile)
    contested, fresh = emit(console, signal("contested"), signal("fresh"))
    other.db.dispose()
    assert (contested.event, contested.decision) == ("severity_change", "escalated")
    assert (fresh.event, fresh.decision) == ("fire", "first")
    assert decided(console, contested.alert_key, "aggregator") == ["first", "escalated"]
    assert sorted(t.dedup_key for t in tickets(console)) == sorted([contested.alert_key, fresh.alert_key])
    assert len(items(console, "freescout.create")) == 2, "no create item for the dropped reservation"
    dms = [
        i.payload["event"]
        for i in items(console, "slack.dm")
        if i.payload["alert_key"] == contested.alert_key
    ]
    recipients = len(console.settings.SLACK_ALERT_DM_USER_IDS)
    assert dms == ["fire"] * recipients + ["severity_change"] * recipients, (
        "the other's fire DMs, our escalation's"
    )
    assert alert(console, contested.alert_key).emit_count == 2


def test_a_first_fire_whose_key_has_a_reservation_in_flight_adopts_it(console):
    """``reserve_many`` cannot reserve a key with a pending ticket; that first fire files the
    ordinary way after its row is in — it adopts the reservation and its row points at it."""
    key = alert_aggregator.alert_identity("ci", "adopts")[1]
    with console.db.session() as session:
        request = tickets_service.TicketRequest(
            entry=ENTRY_ALERT,
            dedup_key=key,
            title="left over",
            tags=(),
            requested_by="test",
            selected_env="development",
            build_body=lambda ref, related: ref,
        )
        reservation = tickets_service.reserve(session, console.clock, console.settings, request)
        assert reservation is not None
        left_over = reservation.ticket.id
    adopted, fresh = emit(console, signal("adopts"), signal("fresh"))
    assert (adopted.decision, adopted.hooks["auto_ticket"]) == ("first", "ticket_pending")
    assert fresh.hooks["auto_ticket"] == "ticket_reserved"
    assert alert(console, key).ticket_pk == left_over
    assert alert(console, key).emit_count == 1
    assert sorted(t.dedup_key for t in tickets(console)) == sorted([key, fresh.alert_key])


def _first_decisions(session, rows) -> list[str]:
    return [
        session.scalar(
            select(AlertDecision.decision)
            .where(AlertDecision.alert_pk == a.id, AlertDecision.hook == "aggregator")
            .order_by(AlertDecision.id)
            .limit(1)
        )
        for a in rows
    ]


def test_a_batch_that_fails_in_the_database_leaves_nothing_behind(console, monkeypatch):
    emit(console, signal("before"))
    before = counts(console)

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "apply_emissions", broken)
    monkeypatch.setattr(alert_aggregator, "apply_emissions", broken)
    with pytest.raises(RuntimeError):
        ingest.emit_all(console, [signal("before"), signal("new-1"), signal("new-2")])
    assert counts(console) == before, "no alert, ticket, outbox item or decision of the batch"
    assert alert(console, alert_aggregator.alert_identity("ci", "before")[1]).emit_count == 1


def test_a_batch_refused_at_validation_changes_nothing(console, client):
    make_user(console, "ops@raxx.app", "operator")
    token = make_token(console, "ops@raxx.app")
    emit(console, signal("known"))
    before = counts(console)
    body = [
        {"source": "ci", "check": "known", "severity": "P2", "title": "known"},
        {"source": "ci", "check": "brand-new", "severity": "P2", "title": "brand new"},
        {"source": "ci", "check": "bad", "severity": "P9", "title": "bad"},
    ]
    response = client.post(
        "/api/alerts",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {token}"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["index"] == 2
    assert counts(console) == before
    assert alert(console, alert_aggregator.alert_identity("ci", "known")[1]).emit_count == 1


def test_a_batch_costs_a_handful_of_statements_whatever_its_size(console):
    """50 first fires, then 50 quiet repeats: the statements do not grow with the batch."""
    checks = [f"load-{i:02d}" for i in range(50)]
    emit(console, signal("warm-up"))  # the flags cache and the connection

    def statements(*signals) -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            seen.append(statement)

        event.listen(console.db.engine, "before_cursor_execute", count)
        try:
            emit(console, *signals)
        finally:
            event.remove(console.db.engine, "before_cursor_execute", count)
        found = [s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
        return len(found)

    first = statements(*(signal(c) for c in checks))
    repeats = statements(*(signal(c) for c in checks))
    assert first <= 10, f"{first} statements for 50 first fires"
    assert repeats <= 5, f"{repeats} statements for 50 repeats"
    assert {a.emit_count for a in _alerts(console, checks)} == {2}


def _alerts(console, checks) -> list[Alert]:
    with console.db.session() as session:
        found = list(session.scalars(select(Alert).where(Alert.check.in_(checks))))
        session.expunge_all()
    return found
