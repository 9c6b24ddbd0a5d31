"""alert_aggregator: every alert — from the status_poller or the ingest API — goes through ``emit``.

``emit`` finds the alert by its identity, ``alert_id = sha256(source \\x00 check)``, which is the
same in every lifetime and never depends on severity or time (incident runbook FM1: a
non-deterministic ``alert_id`` is what floods the mailbox). Under a row lock it works out what
the emission means — a first fire, a repeat, a severity change, a resolve, a new lifetime — updates
the row, runs the emit hooks (``alerts.hooks``) in the same transaction, and keeps each decision
that changed in ``alert_decisions`` with its reason.

A batch (``emit_batch``; ``emit`` is a batch of one) is stored with a few statements whatever its
size — the **set-based path**, taken by the common emissions:

* a brand-new alert's first fire: each hook's ``first_fire`` plan (DMs, a ticket to reserve)
  made before the row exists, the tickets reserved together (``tickets.reserve_many``), then the
  rows inserted together as their fires leave them (``store.insert_alerts``), the outbox items
  enqueued together (``outbox.enqueue_many``);
* a repeat that every hook says is quiet (``Hook.quiet_repeat``): only the row's counters move,
  with one ``UPDATE … FROM`` for all of them.

One insert writes the decisions that changed. The rare transitions — a severity change, a
resolve, a new lifetime, a reminder due, a ticket to file on a repeat — take the **per-alert
path** (``_emit_one``), after the set-based statements and in the same transaction. Log lines
(INFO): ``alert_aggregator emit alert_key=… severity=… status=… decision=…`` (FM2 Step 3's
grep) for every emission but a quiet repeat in a batch of several, and for such a batch one
line with its counts. Why it is built this way: docs/decisions.md ("Set-based alert ingest"
and the entries after it).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.orm.attributes import instance_dict, manager_of_class

from raxx_console.alerts.emission import (
    SEVERITY_RANK,
    AlertSignal,
    AlertSnapshot,
    Decision,
    Emission,
    Event,
    duration_text,
)
from raxx_console.alerts.filing import TicketPlan, file_ticket
from raxx_console.alerts.hooks import HOOKS, Hook
from raxx_console.alerts.models import FIRING, RESOLVED, Alert
from raxx_console.alerts.store import (
    DECISION_LOG,
    DecisionLog,
    apply_emissions,
    insert_alerts,
    lock_alert,
    lock_alerts,
    point_at_ticket,
    record_decision,
)
from raxx_console.outbox import service as outbox
from raxx_console.tickets import service as tickets

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.alert_aggregator")

AGGREGATOR = "aggregator"


@dataclass(frozen=True)
class EmitResult:
    """What one emission came to: the alert's key, the event and every decision taken."""

    alert_key: str
    alert_id: str
    event: Event | None
    decision: str
    #: hook name → decision
    hooks: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_key": self.alert_key,
            "event": self.event,
            "decision": self.decision,
            "hooks": self.hooks,
        }


def alert_identity(source: str, check: str) -> tuple[str, str]:
    """``(alert_id, alert_key)``: derived from the immutable identity only, stable for every lifetime."""
    alert_id = hashlib.sha256(f"{source}\x00{check}".encode()).hexdigest()
    return alert_id, f"{source}:{alert_id[:16]}"


def emit(console: Console, signal: AlertSignal, *, session: Session | None = None) -> EmitResult:
    """Record one emission and run the hooks; in ``session``'s transaction if given.

    Without a session the emission commits on its own. ValueError for a severity other than
    P1/P2/P3 or a status other than firing/resolved.
    """
    if session is not None:
        return emit_batch(console, session, [signal])[0]
    with console.db.session() as own:
        return emit_batch(console, own, [signal])[0]


def _acts_on(hook: Hook, event: Event) -> bool:
    return hook.events is None or event in hook.events


def emit_batch(console: Console, session: Session, signals: Sequence[AlertSignal]) -> list[EmitResult]:
    """Emit a batch in ``session``'s transaction; the results in the signals' order.

    ValueError, before anything is written, for a bad severity or status. The alerts are handled
    in ``alert_id`` order (two batches sharing alerts lock them in the same order and cannot
    deadlock); two signals for the same alert keep their order. Each alert's first signal takes
    the set-based path when it can; the rest take the per-alert path after it.
    """
    for signal in signals:
        problem = signal.problem()
        if problem is not None:
            raise ValueError(problem)
    now = console.clock.now()
    identities = [alert_identity(s.source, s.check) for s in signals]
    order = sorted(range(len(signals)), key=lambda i: identities[i][0])
    first: dict[str, int] = {}
    for i in order:
        first.setdefault(identities[i][0], i)
    times = Counter(alert_id for alert_id, _key in identities)
    steady = [  # likely quiet repeats: the batch's one signal of the alert, firing
        f"{alert_id} {signals[i].severity}"
        for alert_id, i in first.items()
        if times[alert_id] == 1 and signals[i].status == FIRING
    ]
    snapshots, decisions = lock_alerts(session, list(first), steady)
    session.info[DECISION_LOG] = decisions
    try:
        batch = _SetBatch(console, session, now, decisions)
        for alert_id, i in first.items():
            if alert_id not in snapshots and signals[i].status == FIRING:
                if not batch.plan_fire(i, _new_row(*identities[i], now, signals[i])):
                    batch.per_alert.add(i)
        snapshots.update(batch.insert_fires())
        for alert_id, i in first.items():
            if i in batch.results or i in batch.per_alert:
                continue
            if not batch.quiet_repeat(i, snapshots.get(alert_id), signals[i]):
                batch.per_alert.add(i)
        results = batch.write()
        for i in order:
            if i in batch.per_alert or first[identities[i][0]] != i:
                results[i] = _emit_one(console, session, now, signals[i])
        written = decisions.write(session)
        session.flush()
    finally:
        session.info.pop(DECISION_LOG, None)
    if len(signals) > 1:
        log.info(
            "alert_aggregator batch emissions=%d first_fires=%d quiet_repeats=%d per_alert=%d decisions=%d",
            len(signals),
            batch.fires,
            batch.repeats,
            len(signals) - batch.fires - batch.repeats,
            written,
        )
    elif batch.quiet:  # a batch of one (the poller's): its line is the emission's
        _log_emit(*batch.quiet[0])
    return [results[i] for i in range(len(signals))]


@dataclass
class _Fire:
    """A brand-new alert's first fire as its hooks planned it, before its row is inserted."""

    index: int
    alert: Alert
    row: dict[str, Any]
    #: (hook, decision) in order, the aggregator's first; the reservation's comes after them.
    decided: list[tuple[str, Decision]]
    items: list[outbox.NewItem] = field(default_factory=list)
    #: The hook that wants a ticket, and its plan.
    ticket: tuple[str, TicketPlan] | None = None
    #: What ``tickets.reserve_many`` gave it: (ticket pk, ref, create item), or None.
    reserved: tuple[int, str, outbox.NewItem] | None = None


class _SetBatch:
    """The set-based part of a batch: first fires and quiet repeats, written together.

    A first fire is planned before its row exists (``plan_fire``; the hooks' plans only compute),
    so its row goes in as the fire leaves it — counted, its DM noted, its ticket reserved —
    and is never updated after (``insert_fires``).
    """

    def __init__(self, console: Console, session: Session, now: datetime, decisions: DecisionLog) -> None:
        self.console, self.session, self.now, self.decisions = console, session, now, decisions
        self.per_alert: set[int] = set()
        self.fires = self.repeats = 0
        self.quiet: list[tuple[AlertSnapshot, str, dict[str, str]]] = []
        self.results: dict[int, EmitResult] = {}
        self.planned: list[_Fire] = []
        self.updates: list[dict[str, Any]] = []
        self.items: list[outbox.NewItem] = []
        self.fire_hooks = [hook for hook in HOOKS if _acts_on(hook, "fire")]
        self.repeat_hooks = [hook for hook in HOOKS if _acts_on(hook, "repeat")]

    def plan_fire(self, index: int, row: dict[str, Any]) -> bool:
        """A brand-new alert (no row yet): each hook's ``first_fire`` plan.

        False (the per-alert path runs the hooks) when a hook that acts on fire has no plan.
        """
        if any(hook.first_fire is None for hook in self.fire_hooks):
            return False
        alert = _transient_alert({**row, "emit_count": 1})
        emission = Emission(self.console, self.session, alert, "fire", None, self.now)
        fire = _Fire(index, alert, row, [(AGGREGATOR, Decision("first", _first_reason(alert)))])
        for hook in self.fire_hooks:
            assert hook.first_fire is not None
            try:
                plan = hook.first_fire(emission)
            except Exception as exc:
                log.exception("alert_aggregator hook failed hook=%s alert_key=%s", hook.name, alert.alert_key)
                fire.decided.append((hook.name, _hook_error(hook, exc)))
                continue
            fire.items.extend(plan.items)
            if plan.ticket is not None:
                fire.ticket = (hook.name, plan.ticket)
            elif plan.decision is not None:
                fire.decided.append((hook.name, plan.decision))
        self.planned.append(fire)
        return True

    def insert_fires(self) -> dict[str, AlertSnapshot]:
        """Reserve the planned fires' tickets (one statement), insert their rows complete (one
        statement), keep the decisions and items of those inserted. Returns the snapshots of the
        alerts another writer inserted meanwhile — their emissions are repeats — after dropping
        the tickets reserved for them."""
        if not self.planned:
            return {}
        wanted = [fire for fire in self.planned if fire.ticket is not None]
        requests = [fire.ticket[1].request for fire in wanted if fire.ticket is not None]
        reserved = tickets.reserve_many(self.session, self.console.clock, self.console.settings, requests)
        for fire, got in zip(wanted, reserved, strict=True):
            fire.reserved = got
            if got is not None:
                fire.alert.ticket_pk, fire.alert.ticket_lifetime = got[0], fire.alert.lifetime
        inserted, raced = insert_alerts(
            self.session, [_fired_row(fire) for fire in self.planned], self.decisions
        )
        lost = [f.reserved[0] for f in self.planned if f.reserved and f.alert.alert_id not in inserted]
        tickets.drop_reservations(self.session, lost)
        creates: list[outbox.NewItem] = []
        for fire in self.planned:
            if fire.alert.alert_id not in inserted:
                continue
            fire.alert.id = inserted[fire.alert.alert_id]
            hooks: dict[str, str] = {}
            for hook, decision in fire.decided:
                if hook == AGGREGATOR:
                    self.decisions.add(self.now, fire.alert, hook, "fire", decision)
                else:
                    self._decide(fire.alert, hook, "fire", decision, hooks)
            if fire.ticket is not None:
                self._decide(fire.alert, fire.ticket[0], "fire", self._ticket_decision(fire, creates), hooks)
            self.items.extend(fire.items)
            self.results[fire.index] = EmitResult(
                fire.alert.alert_key, fire.alert.alert_id, "fire", "first", hooks
            )
            _log_emit(fire.alert, "first", hooks)
            self.fires += 1
        self.items[:0] = creates  # each ticket's create first, as ``reserve`` enqueues it
        return raced

    def _ticket_decision(self, fire: _Fire, creates: list[outbox.NewItem]) -> Decision:
        assert fire.ticket is not None
        plan = fire.ticket[1]
        if fire.reserved is None:  # a reservation already in flight, or a ref clash: the ordinary way
            decision = file_ticket(self.session, self.console, fire.alert, plan.why)
            point_at_ticket(self.session, fire.alert.id, fire.alert.ticket_pk, fire.alert.ticket_lifetime)
            return decision
        ticket_pk, ref, create = fire.reserved
        creates.append(create)
        return plan.reserved(ticket_pk, ref)

    def quiet_repeat(self, index: int, alert: AlertSnapshot | None, signal: AlertSignal) -> bool:
        """A repeat that every hook says writes nothing: decided here; False sends it per-alert."""
        if (
            alert is None
            or signal.status != FIRING
            or alert.state != FIRING
            or signal.severity != alert.severity
        ):
            return False
        decided: list[tuple[str, Event, Decision]] = [
            (AGGREGATOR, "repeat", Decision("repeat", _still_firing(alert)))
        ]
        for hook in self.repeat_hooks:
            decision = hook.quiet_repeat(self.console, alert, self.now) if hook.quiet_repeat else None
            if decision is None:
                return False
            decided.append((hook.name, "repeat", decision))
        digest = self.decisions.quiet(self.now, alert, decided)
        hooks = {name: decision.decision for name, _event, decision in decided[1:]}
        self.updates.append(_update_row(alert.id, signal, digest))
        self.results[index] = EmitResult(alert.alert_key, alert.alert_id, "repeat", "repeat", hooks)
        self.quiet.append((alert, "repeat", hooks))
        self.repeats += 1
        return True

    def write(self) -> dict[int, EmitResult]:
        """The outbox items (the tickets' and the DMs together) and the quiet repeats' rows, a
        statement each."""
        outbox.enqueue_many(self.session, self.console.clock, self.items)
        apply_emissions(self.session, self.now, self.updates)
        return self.results

    def _decide(
        self, alert: Alert | AlertSnapshot, hook: str, event: Event, decision: Decision, hooks: dict[str, str]
    ) -> None:
        self.decisions.add(self.now, alert, hook, event, decision)
        hooks[hook] = decision.decision


def _new_row(alert_id: str, alert_key: str, now: datetime, signal: AlertSignal) -> dict[str, Any]:
    """A brand-new alert's row as its first fire leaves it (the DM and ticket fields come after)."""
    return {
        "alert_id": alert_id,
        "alert_key": alert_key,
        "source": signal.source,
        "check": signal.check,
        "state": FIRING,
        "severity": signal.severity,
        "title": signal.title[:255],
        "details": signal.details,
        "labels": dict(signal.labels),
        "surface_id": signal.labels.get("surface_id") or None,
        "lifetime": 1,
        "first_seen_at": now,
        "fired_at": now,
        "last_emit_at": now,
        "emit_count": 0,
        "slack_seq": 0,
    }


def _transient_alert(row: dict[str, Any]) -> Alert:
    """An ``Alert`` holding ``row``, never added to the session (``insert_fires`` inserts its
    row): its values go straight into the instance's dict, without the attribute events
    ``Alert(**row)`` fires for each — a first fire's costliest Python object otherwise."""
    configure_mappers()  # what ``Alert(**row)`` would do first (a no-op once they are)
    alert = _ALERT_MANAGER.new_instance()
    instance_dict(alert).update(row)
    return alert


_ALERT_MANAGER = manager_of_class(Alert)


def _fired_row(fire: _Fire) -> dict[str, Any]:
    """The row as the first fire leaves it: counted, its DM sequence and time, its ticket."""
    alert = fire.alert
    return {
        **fire.row,
        "emit_count": 1,
        "slack_seq": alert.slack_seq,
        "slack_notified_at": alert.slack_notified_at,
        "ticket_pk": alert.ticket_pk,
        "ticket_lifetime": alert.ticket_lifetime,
    }


def _update_row(pk: int, signal: AlertSignal, quiet_digest: int) -> dict[str, Any]:
    """``store.apply_emissions``'s row for a quiet repeat: what the signal says, and the digest."""
    return {
        "id": pk,
        "title": signal.title[:255],
        "details": signal.details,
        "labels": dict(signal.labels),
        "surface_id": signal.labels.get("surface_id") or None,
        "quiet_digest": quiet_digest,
    }


def _hook_error(hook: Hook, exc: Exception) -> Decision:
    return Decision("hook_error", f"{hook.name} raised {type(exc).__name__}; see the log")


def _log_emit(alert: Alert | AlertSnapshot, decision: str, hooks: dict[str, str]) -> None:
    log.info(
        "alert_aggregator emit alert_key=%s severity=%s status=%s decision=%s %s",
        alert.alert_key,
        alert.severity,
        alert.state,
        decision,
        " ".join(f"{name}={value}" for name, value in hooks.items()),
    )


# --- the per-alert path: the rare transitions ----------------------------------------------------


def _emit_one(console: Console, session: Session, now: datetime, signal: AlertSignal) -> EmitResult:
    alert_id, alert_key = alert_identity(signal.source, signal.check)
    status = signal.status
    alert = lock_alert(session, alert_id)
    if alert is None and status == FIRING:
        alert = _insert(session, alert_id, alert_key, now, signal)
    if alert is not None and alert.emit_count == 0:  # ours: a brand-new alert (this batch's insert)
        return _run(console, session, alert, "fire", "first", None, now, signal)
    if alert is None or (alert.state == RESOLVED and status == RESOLVED):
        decision = "not_firing"
        log.info(
            "alert_aggregator emit alert_key=%s severity=%s status=%s decision=%s",
            alert_key,
            signal.severity,
            status,
            decision,
        )
        if alert is not None:
            alert.last_emit_at = now
        return EmitResult(alert_key, alert_id, None, decision)
    previous = alert.severity
    if status == RESOLVED:
        alert.state, alert.resolved_at = RESOLVED, now
        return _run(console, session, alert, "resolve", "resolved", previous, now, signal)
    if alert.state == RESOLVED:
        alert.state, alert.lifetime, alert.fired_at, alert.resolved_at = FIRING, alert.lifetime + 1, now, None
        alert.emit_count = 0
        return _run(console, session, alert, "fire", "new_lifetime", previous, now, signal)
    if signal.severity == previous:
        return _run(console, session, alert, "repeat", "repeat", previous, now, signal)
    worse = SEVERITY_RANK[signal.severity] < SEVERITY_RANK[previous]
    decision = "escalated" if worse else "deescalated"
    return _run(console, session, alert, "severity_change", decision, previous, now, signal)


def _insert(session: Session, alert_id: str, alert_key: str, now: datetime, signal: AlertSignal) -> Alert:
    """Insert a new alert; if another writer inserted it first, lock and return theirs."""
    alert = Alert(**_new_row(alert_id, alert_key, now, signal))
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        existing = lock_alert(session, alert_id)
        assert existing is not None, "a unique violation means the row exists"
        return existing
    return alert


def _run(
    console: Console,
    session: Session,
    alert: Alert,
    event: Event,
    decision: str,
    previous: str | None,
    now: datetime,
    signal: AlertSignal,
) -> EmitResult:
    """Apply the emission to the row, record the aggregator's decision, then run every hook,
    each in a savepoint of its own."""
    if event != "resolve":
        alert.severity = signal.severity
    alert.title = signal.title[:255]
    alert.details = signal.details
    alert.labels = dict(signal.labels)
    alert.surface_id = signal.labels.get("surface_id") or None
    alert.last_emit_at = now
    alert.emit_count += 1
    session.flush()
    emission = Emission(console, session, alert, event, previous, now)
    record_decision(session, now, alert, AGGREGATOR, event, Decision(decision, _reason(emission, decision)))
    hooks: dict[str, str] = {}
    for hook in HOOKS:
        if not _acts_on(hook, event):
            continue
        try:
            with session.begin_nested():
                outcome = hook.run(emission)
        except Exception as exc:
            log.exception("alert_aggregator hook failed hook=%s alert_key=%s", hook.name, alert.alert_key)
            outcome = _hook_error(hook, exc)
        if outcome is not None:
            record_decision(session, now, alert, hook.name, event, outcome)
            hooks[hook.name] = outcome.decision
    _log_emit(alert, decision, hooks)
    return EmitResult(alert.alert_key, alert.alert_id, event, decision, hooks)


def _first_reason(alert: Alert) -> str:
    return f"first emission of {alert.source}/{alert.check}: lifetime 1"


def _reason(emission: Emission, decision: str) -> str:
    alert = emission.alert
    if decision == "first":
        return _first_reason(alert)
    if decision == "new_lifetime":
        return f"fired again after resolving: lifetime {alert.lifetime}"
    if decision in ("escalated", "deescalated"):
        return f"severity {emission.previous_severity} → {alert.severity}"
    if decision == "resolved":
        return f"resolved after {duration_text(emission.now - alert.fired_at)}"
    return _still_firing(alert)


def _still_firing(alert: Alert | AlertSnapshot) -> str:
    return f"still firing since {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC"
