"""Deploys through ``SURFACE_WORKFLOW_MAP``: request, dispatch, find the run, follow it to the end.

A deploy is *requested* first: the ``deploys`` row and its ``console.deploy.intent`` audit row in
one transaction (an idempotency key per modal makes a double submit find that row, not dispatch
twice). Then one dispatcher claims it — the web request when ``FLAG_CONSOLE_DEPLOY_ASYNC`` is off,
bounded below Heroku's 30 s H12; the worker when it is on, or when the bound ran out — and calls
GitHub with no transaction open. The map alone chooses the workflow, the env and the extra inputs;
callers choose only the surface and the ref.

From the dispatch on, a deploy is tracked by its run id: GitHub returns it (200,
``return_run_details``), or, from an older server's bare 204, it is found in the workflow's
``workflow_dispatch`` runs created since, as the unclaimed run whose ``run-name`` names every one of
this dispatch's input values (each deploy workflow's ``run-name`` carries them: docs/decisions.md).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.auth.models import Role
from raxx_console.clock import Clock, iso
from raxx_console.deploys import DEFAULT_REF, incidents
from raxx_console.deploys.models import (
    COMPLETED,
    DISPATCH_FAILED,
    DISPATCHING,
    FOLLOWED,
    IN_FLIGHT,
    IN_PROGRESS,
    KIND_BREAKGLASS,
    KIND_PROMOTION,
    KIND_UI,
    QUEUED,
    REQUESTED,
    RESOLVING,
    Deploy,
)
from raxx_console.integrations import github, registry
from raxx_console.integrations.github import GitHubClient, WorkflowRun
from raxx_console.outbox import service as outbox
from raxx_console.outbox.kinds import NOTE_KIND
from raxx_console.status.surfaces import SurfaceRegistry, WorkflowBinding
from raxx_console.tickets.models import TICKET_FILED, TICKET_PENDING, Ticket
from raxx_console.tickets.service import not_known_closed

if TYPE_CHECKING:
    from raxx_console.context import Console

log = logging.getLogger("raxx_console.deploys")


PRODUCTION = "production"
#: The console's own workflow: its production target moves only through the console-versions promotion.
CONSOLE_WORKFLOW = "deploy-console.yml"
SYSTEM_ACTOR = "system:deploys"

INTENT = "console.deploy.intent"
INTENT_BREAKGLASS = "console.deploy.intent.breakglass"
DISPATCHED = "console.deploy.dispatched"
COMPLETED_ACTION = "console.deploy.completed"

#: Between runs-list reads while a 204's run id is being resolved.
RESOLVE_POLL_SECONDS = 1.0
#: A dispatch's run is looked for in runs created from this long before the dispatch (clock skew).
RESOLVE_SKEW_SECONDS = 60.0
#: After this a 204 whose run never appeared is given up, and a claim whose process died is retried.
RESOLVE_GIVE_UP_SECONDS = 600.0
STALE_CLAIM_SECONDS = 120.0
#: The ``reason`` prefix of a dispatch refused because the ref does not exist (the caller's to fix).
UNKNOWN_REF = "unknown_ref"
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")

#: Wakes this process's follow-up job when a request leaves work for it (async, or the bound ran out).
local_wakeup = threading.Event()


class DeployError(ValueError):
    """A deploy request the caller can fix: ``status`` (HTTP), ``code`` and a plain message."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


def promotion_only(binding: WorkflowBinding) -> bool:
    """The console's production target: no Deploy button; only a console-versions promotion."""
    return binding.workflow == CONSOLE_WORKFLOW and binding.target_env == PRODUCTION


def _binding(surfaces: SurfaceRegistry, surface_id: str) -> WorkflowBinding:
    binding = surfaces.workflow_map().get(surface_id)
    if binding is None:
        raise DeployError(404, "unknown_surface", f"there is no surface called '{surface_id}'", "surface_id")
    return binding


def _check_ref(ref: object) -> str:
    if not isinstance(ref, str) or not _REF.match(ref.strip()) or ".." in ref:
        raise DeployError(
            400, "invalid_ref", "ref must be a branch, tag or commit SHA (letters, digits, . _ / -)", "ref"
        )
    return ref.strip()


# -- requesting ---------------------------------------------------------------------------------
def request_deploy(
    session: Session,
    clock: Clock,
    surfaces: SurfaceRegistry,
    *,
    surface_id: str,
    ref: object,
    actor: str,
    env: str,
    kind: str = KIND_UI,
    role: Role | None = None,
    confirm: object = None,
    idempotency_key: str | None = None,
) -> tuple[Deploy, bool]:
    """Write the deploy row and its intent audit row; (row, created). Raises DeployError.

    ``kind`` ``ui`` applies the modal's rules: an operator, the surface id typed for a production
    target, an admin for a non-``main`` ref to production, never the console's production target.
    ``breakglass`` (the CLI) and ``promotion`` (console versions, whose flow checks its own
    admin + TOTP) skip them. The caller commits, then calls ``dispatch``.
    """
    binding = _binding(surfaces, surface_id)
    clean_ref = _check_ref(DEFAULT_REF if ref in (None, "") else ref)
    if kind not in (KIND_UI, KIND_BREAKGLASS, KIND_PROMOTION):
        raise DeployError(400, "invalid_kind", "kind must be ui, breakglass or promotion", "kind")
    if kind == KIND_UI:
        if role is None or role < Role.operator:
            raise DeployError(403, "forbidden", "deploying needs the operator role")
        if promotion_only(binding):
            raise DeployError(
                403,
                "promotion_only",
                f"{surface_id} reaches production only through the console-versions promotion",
            )
        if binding.target_env == PRODUCTION:
            if confirm != surface_id:
                raise DeployError(
                    400,
                    "confirmation_required",
                    f"{surface_id} is a production target: type '{surface_id}' to confirm",
                    "confirm",
                )
            if clean_ref != DEFAULT_REF and role < Role.admin:
                raise DeployError(
                    403,
                    "admin_required",
                    "a ref other than main to production needs an admin",
                    "ref",
                )
    if idempotency_key is not None and (not isinstance(idempotency_key, str) or len(idempotency_key) > 100):
        raise DeployError(400, "invalid_idempotency_key", "idempotency_key must be at most 100 characters")
    if idempotency_key:
        existing = session.scalar(select(Deploy).where(Deploy.idempotency_key == idempotency_key))
        if existing is not None:
            return existing, False
    now = clock.now()
    deploy = Deploy(
        surface_id=surface_id,
        workflow=binding.workflow,
        target_env=binding.target_env,
        ref=clean_ref,
        actor=actor,
        kind=kind,
        selected_env=env,
        idempotency_key=idempotency_key or None,
        status=REQUESTED,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(deploy)
            session.flush()
    except IntegrityError:  # the other half of a concurrent double submit got there first
        existing = session.scalar(select(Deploy).where(Deploy.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return existing, False
    payload: dict[str, Any] = {
        "deploy_id": deploy.id,
        "surface_id": surface_id,
        "workflow": binding.workflow,
        "target_env": binding.target_env,
        "ref": clean_ref,
        "kind": kind,
    }
    if kind == KIND_BREAKGLASS:
        payload["actor_email"] = actor
    audit.record(
        session,
        clock,
        action=INTENT_BREAKGLASS if kind == KIND_BREAKGLASS else INTENT,
        actor=actor,
        selected_env=env,
        payload=payload,
    )
    return deploy, True


# -- dispatching --------------------------------------------------------------------------------
def _claim(session: Session, clock: Clock, deploy_id: int) -> bool:
    result = session.execute(
        update(Deploy)
        .where(Deploy.id == deploy_id, Deploy.status == REQUESTED)
        .values(status=DISPATCHING, updated_at=clock.now())
    )
    return bool(getattr(result, "rowcount", 0))


def dispatch(
    console: Console,
    deploy_id: int,
    *,
    bound_seconds: float | None,
    sleep: Callable[[float], None] = time.sleep,
) -> Deploy:
    """Claim a requested deploy, dispatch it, and look for its run until ``bound_seconds`` run out.

    ``None`` looks once (the worker looks again next cycle). Returns the row as it stands; a deploy
    another dispatcher claimed is returned untouched.
    """
    clock = console.clock
    with console.db.session() as session:
        claimed = _claim(session, clock, deploy_id)
    if not claimed:
        return load(console, deploy_id)
    deadline = clock.now() + timedelta(seconds=bound_seconds or 0)
    deploy = load(console, deploy_id)
    binding = _binding_of(console, deploy)
    client = registry.github(console)
    sha = client.resolve_sha(deploy.ref)
    if not sha.ok:
        unknown = sha.reason in (github.REJECTED, github.NOT_FOUND)
        why = f"{UNKNOWN_REF}: '{deploy.ref}' names no branch, tag or commit" if unknown else sha.describe()
        return _fail(console, deploy_id, why)
    started = clock.now()
    sent = client.dispatch(deploy.workflow, binding.dispatch_inputs(deploy.ref))
    if not sent.ok or sent.value is None:
        return _fail(console, deploy_id, sent.describe(), sha=sha.value)
    with console.db.session() as session:
        row = session.get(Deploy, deploy_id)
        assert row is not None
        row.sha, row.dispatched_at, row.updated_at = sha.value, started, clock.now()
        row.status = RESOLVING
        if sent.value.run_id is not None:
            _found_run(session, clock, row, sent.value.run_id, sent.value.run_url)
        _note_open_tickets(session, clock, row)
    deploy = load(console, deploy_id)
    while deploy.status == RESOLVING:
        deploy = resolve_run(console, deploy_id, client, binding)
        if deploy.status != RESOLVING or clock.now() + timedelta(seconds=RESOLVE_POLL_SECONDS) > deadline:
            break
        sleep(RESOLVE_POLL_SECONDS)
    if deploy.status in FOLLOWED:
        local_wakeup.set()
    return deploy


def _binding_of(console: Console, deploy: Deploy) -> WorkflowBinding:
    """The map's entry the deploy was requested under (bare workflow + env if the map changed since)."""
    current = console.surfaces.workflow_map().get(deploy.surface_id)
    if current is not None and (current.workflow, current.target_env) == (deploy.workflow, deploy.target_env):
        return current
    return WorkflowBinding(deploy.workflow, deploy.target_env, "")


def _fail(console: Console, deploy_id: int, reason: str, *, sha: str | None = None) -> Deploy:
    """``dispatch_failed`` with the reason; the intent row stays and no ``dispatched`` row is written."""
    log.warning("deploy dispatch failed deploy_id=%s reason=%s", deploy_id, reason)
    with console.db.session() as session:
        row = session.get(Deploy, deploy_id)
        assert row is not None
        row.status, row.reason, row.sha, row.updated_at = DISPATCH_FAILED, reason, sha, console.clock.now()
    return load(console, deploy_id)


def _found_run(session: Session, clock: Clock, row: Deploy, run_id: int, run_url: str | None) -> None:
    """From here on the deploy is tracked by its run id; audit ``console.deploy.dispatched``."""
    row.run_id, row.run_url, row.status, row.updated_at = run_id, run_url, QUEUED, clock.now()
    session.flush()
    audit.record(
        session,
        clock,
        action=DISPATCHED,
        actor=row.actor,
        selected_env=row.selected_env,
        payload={
            "deploy_id": row.id,
            "surface_id": row.surface_id,
            "workflow": row.workflow,
            "target_env": row.target_env,
            "ref": row.ref,
            "sha": row.sha,
            "run_id": run_id,
            "run_url": run_url,
        },
    )


def matches(run: WorkflowRun, inputs: dict[str, str]) -> bool:
    """The run's ``run-name`` names every input value of this dispatch."""
    words = set(run.display_title.split())
    return run.event == "workflow_dispatch" and all(value in words for value in inputs.values())


def resolve_run(console: Console, deploy_id: int, client: GitHubClient, binding: WorkflowBinding) -> Deploy:
    """One look at the runs list for a 204 dispatch's run: the first unclaimed run since that matches."""
    deploy = load(console, deploy_id)
    since = (deploy.dispatched_at or deploy.created_at) - timedelta(seconds=RESOLVE_SKEW_SECONDS)
    listed = client.list_runs(deploy.workflow, event="workflow_dispatch", created_since=since, per_page=100)
    if not listed.ok or listed.value is None:
        return deploy  # GitHub trouble while resolving: look again later
    inputs = binding.dispatch_inputs(deploy.ref)
    with console.db.session() as session:
        claimed = set(
            session.scalars(select(Deploy.run_id).where(Deploy.run_id.is_not(None), Deploy.id != deploy_id))
        )
        dispatched = (deploy.dispatched_at or deploy.created_at).replace(microsecond=0)
        matching = [r for r in listed.value if r.id not in claimed and matches(r, inputs)]
        # The oldest run created since the dispatch; failing that (clocks apart), the newest before it.
        after = sorted(
            (r for r in matching if r.created_at >= dispatched), key=lambda r: (r.created_at, r.id)
        )
        before = sorted(
            (r for r in matching if r.created_at < dispatched), key=lambda r: (r.created_at, r.id)
        )
        candidates = after or before[::-1]
        row = session.get(Deploy, deploy_id)
        assert row is not None
        if row.status != RESOLVING:
            return row
        if candidates:
            try:
                with session.begin_nested():
                    _found_run(session, console.clock, row, candidates[0].id, candidates[0].html_url)
            except IntegrityError:  # another resolver claimed that run a moment ago
                return load(console, deploy_id)
        elif console.clock.now() - (row.dispatched_at or row.created_at) > timedelta(
            seconds=RESOLVE_GIVE_UP_SECONDS
        ):
            row.status, row.reason = DISPATCH_FAILED, "GitHub accepted the dispatch but no run appeared"
            row.updated_at = console.clock.now()
    return load(console, deploy_id)


def _note_open_tickets(session: Session, clock: Clock, deploy: Deploy) -> None:
    """A deploy that starts while its surface has an open ticket adds a note to that ticket."""
    tickets = session.scalars(
        select(Ticket).where(
            Ticket.surface_id == deploy.surface_id,
            Ticket.state.in_((TICKET_FILED, TICKET_PENDING)),
            not_known_closed(),
        )
    )
    for ticket in tickets:
        text = f"<p><strong>Deploy started</strong>: {incidents.deploy_facts_html(deploy, clock.now())}</p>"
        outbox.enqueue(
            session,
            clock,
            kind=NOTE_KIND,
            dedup_key=f"deploy-note:{deploy.id}:{ticket.id}",
            ticket_pk=ticket.id,
            payload={"text": text},
        )


# -- following ----------------------------------------------------------------------------------
def follow(console: Console) -> int:
    """The worker's cycle: dispatch what waits, resolve 204s, follow runs to completion. Rows touched."""
    with console.db.session() as session:
        rows = list(session.scalars(select(Deploy).where(Deploy.status.in_((*FOLLOWED, DISPATCHING)))))
    touched = 0
    client = registry.github(console)
    for row in rows:
        if row.status == REQUESTED:
            dispatch(console, row.id, bound_seconds=None)
        elif row.status == DISPATCHING:
            _recover_stale_claim(console, row)
        elif row.status == RESOLVING:
            resolve_run(console, row.id, client, _binding_of(console, row))
        elif row.run_id is not None:
            _follow_run(console, row, client)
        touched += 1
    return touched


def _recover_stale_claim(console: Console, row: Deploy) -> None:
    """A dispatcher that died mid-call: whether GitHub got the dispatch is unknown, so look for its run."""
    if console.clock.now() - row.updated_at < timedelta(seconds=STALE_CLAIM_SECONDS):
        return
    with console.db.session() as session:
        session.execute(
            update(Deploy)
            .where(Deploy.id == row.id, Deploy.status == DISPATCHING)
            .values(status=RESOLVING, dispatched_at=row.updated_at, updated_at=console.clock.now())
        )


def _follow_run(console: Console, row: Deploy, client: GitHubClient) -> None:
    got = client.get_run(row.run_id or 0)
    if not got.ok or got.value is None:
        return
    run, clock = got.value, console.clock
    with console.db.session() as session:
        status = (
            COMPLETED if run.status == COMPLETED else (IN_PROGRESS if run.status == IN_PROGRESS else QUEUED)
        )
        values: dict[str, Any] = {
            "status": status,
            "updated_at": clock.now(),
            "run_url": run.html_url or row.run_url,
        }
        if status == COMPLETED:
            values |= {"conclusion": run.conclusion, "completed_at": clock.now()}
        result = session.execute(
            update(Deploy).where(Deploy.id == row.id, Deploy.status.in_(FOLLOWED)).values(**values)
        )
        if status == COMPLETED and getattr(result, "rowcount", 0) > 0:
            audit.record(
                session,
                clock,
                action=COMPLETED_ACTION,
                actor=SYSTEM_ACTOR,
                selected_env=row.selected_env,
                payload={
                    "deploy_id": row.id,
                    "surface_id": row.surface_id,
                    "run_id": row.run_id,
                    "conclusion": run.conclusion,
                    "sha": row.sha,
                    "requested_by": row.actor,
                },
            )
            log.info(
                "deploy completed deploy_id=%s surface=%s conclusion=%s",
                row.id,
                row.surface_id,
                run.conclusion,
            )


def wait_for_work(console: Console, timeout: float, wakeup: threading.Event) -> None:
    """Until the next cycle is due, a request leaves work (``local_wakeup``) or the worker stops."""
    deadline = time.monotonic() + timeout
    while not (wakeup.is_set() or local_wakeup.is_set()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wakeup.wait(min(0.2, remaining))
    local_wakeup.clear()


# -- one call for a deploy, and the read model ----------------------------------------------------
def deploy_now(
    console: Console,
    *,
    surface_id: str,
    ref: object,
    actor: str,
    env: str,
    kind: str,
    role: Role | None = None,
    confirm: object = None,
    idempotency_key: str | None = None,
    wait: bool = True,
) -> tuple[Deploy, bool]:
    """Request and (unless it was already requested, or ``wait`` is False) dispatch; (row, created).

    The one door for the tile's modal, the break-glass CLI and a console-version promotion. With
    ``wait`` the caller dispatches within ``DEPLOY_SYNC_BOUND_SECONDS``; without it the worker does.
    """
    with console.db.session() as session:
        deploy, created = request_deploy(
            session,
            console.clock,
            console.surfaces,
            surface_id=surface_id,
            ref=ref,
            actor=actor,
            env=env,
            kind=kind,
            role=role,
            confirm=confirm,
            idempotency_key=idempotency_key,
        )
        deploy_id = deploy.id
    if not created:
        return load(console, deploy_id), False
    if not wait:
        local_wakeup.set()
        return load(console, deploy_id), True
    return dispatch(console, deploy_id, bound_seconds=console.settings.DEPLOY_SYNC_BOUND_SECONDS), True


def load(console: Console, deploy_id: int) -> Deploy:
    with console.db.session() as session:
        row = session.get(Deploy, deploy_id)
        if row is None:
            raise DeployError(404, "unknown_deploy", f"there is no deploy {deploy_id}")
        return row


def _newest(limit: int) -> Select[Deploy]:
    return select(Deploy).order_by(Deploy.created_at.desc(), Deploy.id.desc()).limit(limit)


def recent(session: Session, limit: int = 10) -> list[Deploy]:
    """Newest first: the status page's "Recent deploys" (this app's database only)."""
    return list(session.scalars(_newest(limit)))


def in_flight(session: Session) -> list[Deploy]:
    return list(
        session.scalars(select(Deploy).where(Deploy.status.in_(IN_FLIGHT)).order_by(Deploy.created_at.desc()))
    )


def latest_by_surface(session: Session) -> dict[str, Deploy]:
    """Each surface's newest deploy (one query over the newest rows)."""
    latest: dict[str, Deploy] = {}
    for row in session.scalars(_newest(200)):
        latest.setdefault(row.surface_id, row)
    return latest


@dataclass(frozen=True)
class DeployView:
    """A deploy as pages and JSON show it."""

    deploy: Deploy
    now: datetime
    window_seconds: float

    @property
    def recent_enough(self) -> bool:
        """Within the incident window: the tile says "deployed 14 min ago by …"."""
        return self.now - self.deploy.created_at <= timedelta(seconds=self.window_seconds)

    def to_json(self) -> dict[str, Any]:
        d = self.deploy
        return {
            "id": d.id,
            "surface_id": d.surface_id,
            "workflow": d.workflow,
            "target_env": d.target_env,
            "ref": d.ref,
            "sha": d.sha,
            "actor": d.actor,
            "kind": d.kind,
            "run_id": d.run_id,
            "run_url": d.run_url,
            "status": d.status,
            "conclusion": d.conclusion,
            "reason": d.reason,
            "in_flight": d.in_flight,
            "created_at": iso(d.created_at),
            "completed_at": iso(d.completed_at),
            "progress": incidents.progress(d),
            "deployed_line": incidents.deployed_line(d, self.now) if self.recent_enough else None,
        }
