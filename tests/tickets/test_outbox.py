import threading
from datetime import timedelta

import pytest

from raxx_console import create_app
from raxx_console.health import panel
from raxx_console.outbox import service as outbox
from raxx_console.outbox.models import OutboxItem
from raxx_console.outbox.service import NO_HANDLER, use_handlers

calls: list[int] = []


def _echo(console, item):
    calls.append(item.id)
    return outbox.Result(**item.payload["result"]) if "result" in item.payload else outbox.Result.done()


def _follow(console, item):
    """Done once the item named in the payload has ended; until then, waits for it."""
    leader = _item(console, item.payload["leader"])
    if leader.state == "pending":
        return outbox.Result.wait_for_item(leader.kind, leader.dedup_key, "the leader goes first")
    return outbox.Result.done()


@pytest.fixture(autouse=True)
def _echo_handler(console):
    use_handlers(console, {"test.echo": _echo, "test.follow": _follow})


def _enqueue(console, key, **payload):
    with console.db.session() as session:
        item = outbox.enqueue(session, console.clock, kind="test.echo", dedup_key=key, payload=payload)
        return item.id if item else None


def _item(console, item_id):
    with console.db.session() as session:
        return session.get(OutboxItem, item_id)


def test_a_pending_key_is_enqueued_once(console):
    first = _enqueue(console, "k1")
    assert first is not None
    assert _enqueue(console, "k1") is None
    assert outbox.deliver_due(console) == 1
    assert _item(console, first).state == "done"
    assert _enqueue(console, "k1") is not None, "a finished key may be enqueued again"


def test_an_item_is_claimed_by_one_deliverer_only(console):
    item_id = _enqueue(console, "k2")
    assert outbox.claim_due(console) == [item_id]
    assert outbox.claim_due(console) == [], "leased items are not handed out twice"
    console.clock.advance(outbox.LEASE_SECONDS + 1)
    assert outbox.claim_due(console) == [item_id], "a dead deliverer's lease runs out"


def test_retry_backs_off_and_keeps_the_reason(console):
    item_id = _enqueue(console, "k3", result={"status": "retry", "reason": "freescout_unavailable"})
    outbox.deliver_due(console)
    item = _item(console, item_id)
    assert (item.state, item.last_reason, item.attempts) == ("pending", "freescout_unavailable", 1)
    assert item.next_attempt_at > console.clock.now()
    assert outbox.deliver_due(console) == 0, "not due yet"
    console.clock.advance(outbox.BACKOFF_CAP_SECONDS)
    assert outbox.deliver_due(console) == 1


def test_expired_items_are_not_delivered(console):
    calls.clear()
    with console.db.session() as session:
        item = outbox.enqueue(
            session,
            console.clock,
            kind="test.echo",
            dedup_key="k4",
            expires_at=console.clock.now() + timedelta(minutes=60),
        )
    console.clock.advance(3601)
    outbox.deliver_due(console)
    stored = _item(console, item.id)
    assert (stored.state, stored.last_reason) == ("expired", "expired_before_delivery")
    assert item.id not in calls


def test_backlog_counts_pending_items_and_the_oldest(console):
    _enqueue(console, "k5")
    console.clock.advance(30)
    _enqueue(console, "k6")
    with console.db.session() as session:
        backlog = outbox.backlog(session)
    assert backlog.pending == 2
    assert console.clock.now() - backlog.oldest_created_at == timedelta(seconds=30)


def test_an_item_nobody_handles_stays_queued_and_raises_an_alarm(console):
    with console.db.session() as session:
        item = outbox.enqueue(session, console.clock, kind="test.unknown", dedup_key="k7")
    assert outbox.deliver_due(console) == 1
    stored = _item(console, item.id)
    assert (stored.state, stored.last_reason) == ("pending", NO_HANDLER), "never a silent permanent drop"
    with console.db.session() as session:
        snapshot = panel.collect(console, session)
    assert snapshot.unhandled_kinds == ["test.unknown"]
    assert any(
        problem.code == NO_HANDLER and "test.unknown" in problem.message for problem in snapshot.problems
    )
    use_handlers(console, {"test.echo": _echo, "test.unknown": _echo})
    console.clock.advance(outbox.BACKOFF_CAP_SECONDS)
    assert outbox.deliver_due(console) == 1
    assert _item(console, item.id).state == "done", "a release that knows the kind delivers it"


def test_a_claim_leases_no_more_items_than_its_limit(console):
    for n in range(6):
        _enqueue(console, f"many-{n}")
    assert len(outbox.claim_due(console, limit=4)) == 4
    assert len(outbox.claim_due(console, limit=4)) == 2, "the rest were not leased"


def _leader_and_follower(console):
    with console.db.session() as session:
        payload = outbox.followed_by({}, "test.follow", "follower")
        leader = outbox.enqueue(session, console.clock, kind="test.echo", dedup_key="leader", payload=payload)
        follower = outbox.enqueue(
            session, console.clock, kind="test.follow", dedup_key="follower", payload={"leader": leader.id}
        )
        return leader.id, follower.id


def test_an_item_waiting_for_another_is_due_when_that_one_ends_without_polling(console):
    leader, follower = _leader_and_follower(console)
    assert outbox.claim_due(console, where=outbox.OutboxItem.id == leader) == [leader]  # in flight
    assert outbox.deliver_due(console) == 1
    waiting = _item(console, follower)
    assert (waiting.state, waiting.last_reason) == ("pending", outbox.WAITING_FOR_ITEM)
    assert waiting.next_attempt_at > console.clock.now(), "no retry of its own while the leader is pending"
    outbox.record(console, leader, outbox.Result.done())
    assert _item(console, follower).next_attempt_at == console.clock.now(), "the leader's end made it due"
    assert outbox.deliver_due(console) == 1
    assert _item(console, follower).state == "done"


def test_a_wait_recorded_after_what_it_waits_for_has_ended_is_due_at_once(console):
    leader, follower = _leader_and_follower(console)
    assert outbox.claim_due(console, where=outbox.OutboxItem.id == follower) == [follower]
    outbox.record(console, leader, outbox.Result.done())  # the follower is leased: nothing to wake
    outbox.record(
        console, follower, outbox.Result.wait_for_item("test.echo", "leader", "the leader goes first")
    )
    assert _item(console, follower).next_attempt_at == console.clock.now(), "no wake-up lost in between"


@pytest.fixture
def one_deliverer(settings_overrides, clock, console):
    """A second app on the same database whose FreeScout pool has one deliverer."""
    app = create_app({**settings_overrides, "OUTBOX_FREESCOUT_CONCURRENCY": 1}, clock=clock)
    yield app.extensions["raxx_console"]
    app.extensions["raxx_console"].db.dispose()


def test_stopping_lets_the_item_in_flight_finish_and_claims_nothing_new(one_deliverer):
    console = one_deliverer
    started, release = threading.Event(), threading.Event()

    def block(console, item):
        started.set()
        release.wait(30)
        return outbox.Result.done()

    use_handlers(console, {"test.block": block})
    with console.db.session() as session:
        first, second = (
            outbox.enqueue(session, console.clock, kind="test.block", dedup_key=key).id
            for key in ("b1", "b2")
        )
    delivering = threading.Thread(target=outbox.deliver_due, args=(console,))
    delivering.start()
    assert started.wait(30)
    outbox.stop_delivering(console)
    release.set()
    delivering.join(30)
    assert not delivering.is_alive()
    assert _item(console, first).state == "done", "what was in flight finished and was recorded"
    assert (_item(console, second).state, _item(console, second).attempts) == ("pending", 0)
