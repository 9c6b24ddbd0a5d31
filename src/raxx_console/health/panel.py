"""The pipeline health snapshot: everything that can stop tickets, read from the database.

One ``collect()`` backs the health page, its JSON twin, ``/metrics`` and the non-live steps of
``doctor``, so the three never disagree. It reads only the database and this process's
settings and flags — never FreeScout or Slack (that is ``doctor``'s live half) — so it is cheap
enough for every page view and scrape, and it is the same answer whichever web or worker
process serves it: outbox items, audit rows and poller state are shared by all of them, while a
log-fed ring buffer would only know the errors of the process that happened to log them (and
deliveries run in the worker, which serves no pages).

``problems`` are the banner: each one says in plain words what stops tickets and since when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from raxx_console import call_failures
from raxx_console.alerts.hooks import registered_hooks
from raxx_console.audit.models import AuditLog
from raxx_console.clock import ago, iso
from raxx_console.context import Console
from raxx_console.flags.registry import BY_NAME, FLAGS
from raxx_console.health.prereqs import deploy_prereqs_missing, ticketing_prereqs_missing
from raxx_console.health.startup import COMPONENT_KEY as STARTUP_KEY
from raxx_console.health.startup import StartupCheck
from raxx_console.integrations.freescout_outcomes import Reason
from raxx_console.outbox.kinds import CREATE_KIND
from raxx_console.outbox.service import (
    NO_HANDLER,
    KindBacklog,
    LastError,
    delivered_since,
    failure_counts,
    handlers_of,
    last_error,
    last_successes,
    oldest_due_at,
    outbox_backlog,
)
from raxx_console.secrets.service import overdue as overdue_secrets
from raxx_console.status import poller
from raxx_console.status.models import SurfaceStatus
from raxx_console.status.service import effective_status
from raxx_console.tickets.reasons import REASONS
from raxx_console.tickets.service import ENTRIES
from raxx_console.worker import WorkerHeartbeat

#: The audit actions that record a filing, by entry point (overview, "Audit trail").
FILED_ACTIONS = {entry: spec.audit_action for entry, spec in ENTRIES.items()}
#: Outbox kinds are ``<component>.<call>``; these are the components with an error column.
COMPONENTS = call_failures.COMPONENTS
#: The panel's drain rate: outbox items delivered within this window.
DRAIN_WINDOW = timedelta(minutes=1)
#: The emit hooks that deliver entry B (incident runbook FM2 Steps 3 and 4).
TICKET_HOOK = "auto_ticket"
SLACK_HOOK = "slack_dm"
#: The status_poller's heartbeat row (``worker_heartbeats.name``).
POLLER = poller.NAME

Severity = Literal["stop", "warn"]
#: The code of "this ticketing flag is off" problems is this prefix and the flag's name.
FLAG_OFF = "flag_off:"

#: The reasons of a call that failed for good that the banner shows (the rest it shows otherwise:
#: an unavailable FreeScout as tickets waiting); their words are the one table's, ``tickets/reasons.py``.
_BANNER_REASONS = frozenset(
    {
        Reason.CF_ACCESS_DENIED,
        Reason.AUTH_ERROR,
        Reason.NOT_CONFIGURED,
        Reason.MAILBOX_NOT_FOUND,
        Reason.REJECTED,
        Reason.UNEXPECTED,
        "slack_auth_error",
        "slack_not_configured",
        "slack_rejected",
    }
)


@dataclass(frozen=True)
class Problem:
    """One line of the banner."""

    code: str
    message: str
    severity: Severity = "stop"
    since: datetime | None = None


@dataclass(frozen=True)
class FlagState:
    name: str
    value: bool
    source: str
    env_invalid: bool


@dataclass(frozen=True)
class LastTicket:
    entry: str
    ticket_id: int | None
    ticket_url: str | None
    key: str | None
    at: datetime


@dataclass(frozen=True)
class Heartbeat:
    """A background component's last sign of life; stale after two intervals without a cycle."""

    name: str
    holder: str
    since: datetime
    last_cycle_at: datetime | None
    last_cycle_seconds: float | None
    detail: dict[str, Any]
    stale: bool


@dataclass(frozen=True)
class Snapshot:
    generated_at: datetime
    poll_interval: float
    prereqs_missing: list[str]
    flags: list[FlagState]
    tickets_filed: dict[str, int]
    last_ticket: LastTicket | None
    backlog: list[KindBacklog]
    #: Items delivered in the past minute, by kind: a backlog draining after an outage shows here.
    delivered_last_minute: dict[str, int]
    #: The oldest due, unleased pending item: how long nobody has picked work up.
    oldest_due_at: datetime | None
    last_errors: dict[str, LastError]
    failures: dict[tuple[str, str, str], int]
    #: Every failed FreeScout/Slack call of the past day by reason, recovered ones included.
    failure_history: list[call_failures.FailureGroup]
    surfaces: dict[str, str]
    heartbeats: dict[str, Heartbeat]
    #: The alert_aggregator's emit hooks, in order: ``{"name", "description"}``.
    hooks: list[dict[str, str]]
    #: This process's start-up check (``health.startup``); None before it has run.
    startup: StartupCheck | None
    #: Kinds with pending items that no outbox handler delivers (they wait, retried).
    unhandled_kinds: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: GITHUB_TOKEN / GITHUB_REPOSITORY when unset while FLAG_CONSOLE_DEPLOY_UI is on.
    deploy_prereqs_missing: list[str] = field(default_factory=list)
    #: Registry secrets past their maximum age (/secrets).
    secrets_overdue: list[str] = field(default_factory=list)

    @property
    def ticketing_on(self) -> list[str]:
        return [flag.name for flag in self.flags if flag.value]

    @property
    def flags_off(self) -> list[Problem]:
        """A problem per ticketing flag that is off, saying what that means."""
        return [problem for problem in self.problems if problem.code.startswith(FLAG_OFF)]

    @property
    def stops_tickets(self) -> bool:
        return any(problem.severity == "stop" for problem in self.problems)

    def pending_total(self) -> int:
        return sum(kind.pending for kind in self.backlog)

    def to_json(self) -> dict[str, Any]:
        """The JSON twin of the page; every time is UTC ISO 8601, every age in seconds."""
        now = self.generated_at

        def age(when: datetime | None) -> float | None:
            return round((now - when).total_seconds(), 3) if when else None

        return {
            "generated_at": iso(now),
            "tickets_blocked": self.stops_tickets,
            "problems": [
                {"code": p.code, "severity": p.severity, "message": p.message, "since": iso(p.since)}
                for p in self.problems
            ],
            "prerequisites_missing": self.prereqs_missing,
            "deploy_prerequisites_missing": self.deploy_prereqs_missing,
            "flags": [asdict(flag) for flag in self.flags],
            "tickets_filed": self.tickets_filed,
            "last_ticket": None
            if self.last_ticket is None
            else {**_times(asdict(self.last_ticket)), "age_seconds": age(self.last_ticket.at)},
            "outbox": {
                "pending": self.pending_total(),
                "oldest_due_at": iso(self.oldest_due_at),
                "delivered_last_minute": self.delivered_last_minute,
                "by_kind": [
                    {**_times(asdict(kind)), "oldest_age_seconds": age(kind.oldest_created_at)}
                    for kind in self.backlog
                ],
            },
            "last_errors": {name: _times(asdict(error)) for name, error in self.last_errors.items()},
            "failures": [
                {"component": c, "kind": k, "reason": r, "count": n} for (c, k, r), n in self.failures.items()
            ],
            "failure_history": [_times(asdict(group)) for group in self.failure_history],
            "surfaces": self.surfaces,
            "heartbeats": {
                name: {**_times(asdict(beat)), "age_seconds": age(beat.last_cycle_at)}
                for name, beat in self.heartbeats.items()
            },
            "hooks": self.hooks,
            "secrets_overdue": self.secrets_overdue,
            "startup_check": None
            if self.startup is None
            else {**_times(asdict(self.startup)), "failing": self.startup.failing},
        }


def _times(data: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) if isinstance(value, datetime) else value for key, value in data.items()}


# --------------------------------------------------------------------------- queries


def _filed_rows() -> Any:
    """Audit rows that record a conversation: every alert filing, and entry A's non-idempotent
    answers that carry a ticket (an idempotent answer returned an existing one)."""
    return and_(
        AuditLog.action.in_(FILED_ACTIONS.values()),
        AuditLog.payload["ticket_id"].as_string().is_not(None),
        AuditLog.payload["idempotent"].as_boolean().is_not(True),
    )


def tickets_filed(session: Session) -> dict[str, int]:
    """Tickets created so far, by entry point, counted from the audit log (never decreases)."""
    counts = dict(
        session.execute(
            select(AuditLog.action, func.count()).where(_filed_rows()).group_by(AuditLog.action)
        ).all()
    )
    return {entry: counts.get(action, 0) for entry, action in FILED_ACTIONS.items()}


def last_ticket(session: Session) -> LastTicket | None:
    row = session.scalar(
        select(AuditLog)
        .where(_filed_rows())
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    entry = next(entry for entry, action in FILED_ACTIONS.items() if action == row.action)
    payload = row.payload or {}
    key = payload.get("alert_key") or payload.get("surface_id")
    return LastTicket(
        entry=entry,
        ticket_id=payload.get("ticket_id"),
        ticket_url=payload.get("ticket_url"),
        key=key,
        at=row.created_at,
    )


def surface_statuses(session: Session, console: Console, now: datetime) -> dict[str, str]:
    """Every registered surface's effective status (a test degradation counts, as on the tile)."""
    rows = {row.surface_id: row for row in session.scalars(select(SurfaceStatus))}
    return {surface.id: effective_status(rows.get(surface.id), now)[0] for surface in console.surfaces}


def heartbeats(session: Session, now: datetime, interval: float) -> dict[str, Heartbeat]:
    stale_after = timedelta(seconds=2 * interval)
    return {
        row.name: Heartbeat(
            name=row.name,
            holder=row.holder,
            since=row.since,
            last_cycle_at=row.last_cycle_at,
            last_cycle_seconds=row.last_cycle_seconds,
            detail=dict(row.detail or {}),
            stale=row.last_cycle_at is None or now - row.last_cycle_at > stale_after,
        )
        for row in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name))
    }


# --------------------------------------------------------------------------- the snapshot


def collect(console: Console, session: Session) -> Snapshot:
    """Read everything the panel shows; the banner is derived from it."""
    now = console.clock.now()
    flags = [console.flags.resolve(spec.name) for spec in FLAGS if spec.needs_ticketing]
    backlog = outbox_backlog(session)
    handlers = handlers_of(console)
    unhandled = [
        kind.kind
        for kind in backlog
        if kind.last_reason == NO_HANDLER or (handlers and kind.kind not in handlers)
    ]
    snapshot = Snapshot(
        generated_at=now,
        poll_interval=console.settings.POLL_INTERVAL_SECONDS,
        prereqs_missing=ticketing_prereqs_missing(console.settings),
        flags=[FlagState(f.name, f.value, f.source, f.env_invalid) for f in flags],
        tickets_filed=tickets_filed(session),
        last_ticket=last_ticket(session),
        backlog=backlog,
        delivered_last_minute=delivered_since(session, now - DRAIN_WINDOW),
        oldest_due_at=oldest_due_at(session, now),
        last_errors={c: e for c in COMPONENTS if (e := last_error(session, c)) is not None},
        failures=failure_counts(session),
        failure_history=call_failures.history(session, now, last_successes(session, COMPONENTS)),
        surfaces=surface_statuses(session, console, now),
        heartbeats=heartbeats(session, now, console.settings.POLL_INTERVAL_SECONDS),
        hooks=registered_hooks(),
        startup=console.components.get(STARTUP_KEY),
        unhandled_kinds=unhandled,
        # Like ticketing's: a problem once the deploy UI is on (break-glass is checked by doctor).
        deploy_prereqs_missing=deploy_prereqs_missing(console.settings)
        if console.flags.is_enabled("FLAG_CONSOLE_DEPLOY_UI")
        else [],
        secrets_overdue=overdue_secrets(session, now),
    )
    snapshot.problems.extend(problems(snapshot))
    return snapshot


def problems(snapshot: Snapshot) -> Iterable[Problem]:
    """What stops tickets (``stop``) or may soon (``warn``), in the order an operator fixes it."""
    now = snapshot.generated_at
    if snapshot.prereqs_missing:
        names = ", ".join(snapshot.prereqs_missing)
        verb = "is" if len(snapshot.prereqs_missing) == 1 else "are"
        if snapshot.ticketing_on:
            yield Problem("prerequisites_missing", f"Tickets are not being filed: {names} {verb} missing.")
        else:
            yield Problem(
                "prerequisites_missing",
                f"{names} {verb} missing: set {'it' if verb == 'is' else 'them'} before ticketing goes on.",
                severity="warn",
            )
    if snapshot.deploy_prereqs_missing:
        names = ", ".join(snapshot.deploy_prereqs_missing)
        yield Problem(
            "deploy_prerequisites_missing",
            f"Deploys cannot reach GitHub Actions: {names} not set.",
            severity="warn",
        )
    if not snapshot.ticketing_on:
        yield Problem(
            "ticketing_off",
            "No ticketing flag is on: no tickets are being filed ("
            + ", ".join(f"{f.name} off" for f in snapshot.flags)
            + ").",
            severity="warn",
        )
    for flag in snapshot.flags:
        if not flag.value:
            yield Problem(
                f"{FLAG_OFF}{flag.name}", f"{flag.name} is off: {BY_NAME[flag.name].off_means}.", "warn"
            )
    for flag in snapshot.flags:
        if flag.env_invalid:
            yield Problem(
                "flag_env_invalid",
                f"{flag.name} has a malformed env value that is ignored; the {flag.source} value applies.",
                severity="warn",
            )
    hook_names = {hook["name"] for hook in snapshot.hooks}
    if TICKET_HOOK not in hook_names:
        yield Problem(
            "ticket_hook_missing",
            f"The alert_aggregator's FreeScout ticketing hook ({TICKET_HOOK}) is not registered: "
            "alerts cannot file tickets.",
        )
    for error in snapshot.last_errors.values():
        if error.current and error.at is not None and error.reason in _BANNER_REASONS:
            yield Problem(
                error.reason,
                REASONS[error.reason].sentence(f"{ago(now, error.at)} ({error.reason})"),
                severity="stop" if error.component == "freescout" else "warn",
                since=error.at,
            )
    for name in snapshot.unhandled_kinds:
        yield Problem(
            NO_HANDLER,
            f"Outbox items of kind {name} wait with no handler to deliver them: this release does "
            "not know the kind (a newer one wrote it?). They stay queued and are retried.",
        )
    for kind in snapshot.backlog:
        waiting = kind.retrying > 0 or (now - kind.oldest_created_at).total_seconds() > snapshot.poll_interval
        if kind.kind == CREATE_KIND and waiting:
            reason = f" ({kind.last_reason})" if kind.last_reason else ""
            yield Problem(
                "tickets_waiting",
                f"{kind.pending} ticket{'s' if kind.pending != 1 else ''} waiting for FreeScout since "
                f"{kind.oldest_created_at:%H:%M} UTC{reason}.",
                since=kind.oldest_created_at,
            )
    poller = snapshot.heartbeats.get(POLLER)
    if poller is None:
        yield Problem(
            "poller_never_ran",
            "No poll cycle has run yet: is the worker (raxx-console worker) running?",
            severity="warn",
        )
    elif poller.stale:
        last = poller.last_cycle_at or poller.since
        yield Problem(
            "poller_stale",
            f"No poll cycle for {ago(now, last).removesuffix(' ago')} (last at {last:%H:%M:%S} UTC, "
            f"by {poller.holder}): the grid and alerts are frozen.",
            since=last,
        )
    for name in snapshot.secrets_overdue:
        yield Problem(
            "secret_overdue", f"{name} is past its maximum age: rotate it (/secrets).", severity="warn"
        )
    overdue = _overdue_after(snapshot.poll_interval)
    if snapshot.oldest_due_at is not None and now - snapshot.oldest_due_at > overdue:
        yield Problem(
            "worker_not_delivering",
            f"Nothing has picked up the outbox since {snapshot.oldest_due_at:%H:%M} UTC: "
            "is the worker (raxx-console worker) running?",
            since=snapshot.oldest_due_at,
        )


def _overdue_after(poll_interval: float) -> timedelta:
    """Due work waits at most a poll cycle or so; two of them (at least a minute) is a stall."""
    return timedelta(seconds=max(60.0, 2 * poll_interval))
