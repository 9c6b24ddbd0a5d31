"""The emit hooks, registered here and nowhere else, in the order they run.

Incident runbook FM2 Step 3 asks whether "the emit hook for FreeScout ticketing" is registered:
this tuple is the answer, and ``registered_hooks()`` lists it for ``doctor`` and the health panel.
Each hook runs inside emit's transaction (in a savepoint of its own, so one hook failing never
stops another — the Slack DM fires whatever happens to the ticket) and only writes rows.

The set-based path of a batch (``alert_aggregator.emit_batch``) asks each hook itself rather
than restating its rules: ``quiet_repeat`` says whether a repeat writes nothing for the hook
(and what it decided), ``first_fire`` what a brand-new alert's first fire needs (a decision,
outbox items, a ticket to reserve) so the batch can write them all together. A hook without
the one the emission needs sends that alert down the per-alert path, which calls ``run``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from raxx_console.alerts import auto_ticket, filing, lifecycle, notify
from raxx_console.alerts.emission import AlertSnapshot, Decision, Emission
from raxx_console.outbox.service import NewItem

if TYPE_CHECKING:
    from raxx_console.context import Console


@dataclass(frozen=True)
class FirePlan:
    """What a hook needs on a brand-new alert's first fire, for the batch to write in bulk:
    its decision and outbox items, or a ticket to reserve (the reservation gives the decision)."""

    decision: Decision | None = None
    items: Sequence[NewItem] = ()
    ticket: filing.TicketPlan | None = None


@dataclass(frozen=True)
class Hook:
    name: str
    description: str
    run: Callable[[Emission], Decision | None]
    #: The events the hook acts on (None: every event). For any other event it would decide
    #: nothing and write nothing, so emit does not call it (nor open its savepoint).
    events: frozenset[str] | None = None
    #: A repeat's decision when it writes nothing for this hook; None: the repeat has work.
    quiet_repeat: Callable[[Console, AlertSnapshot, datetime], Decision | None] | None = None
    #: What a brand-new alert's first fire needs from this hook, written by the batch.
    first_fire: Callable[[Emission], FirePlan] | None = None


HOOKS: tuple[Hook, ...] = (
    Hook(
        "slack_dm",
        "Slack DM to SLACK_ALERT_DM_USER_IDS at every severity: on fire, severity change, resolve, "
        "and every SLACK_REPEAT_INTERVAL while firing",
        notify.slack_hook,
        quiet_repeat=notify.quiet_repeat,
        first_fire=lambda emission: FirePlan(*notify.plan_dms(emission)),
    ),
    Hook(
        "auto_ticket",
        "FreeScout ticket for P2+ alerts while FLAG_CONSOLE_ALERTS_AUTO_TICKET is on; notes, close "
        "and reopen over the alert's lifetimes",
        auto_ticket.auto_ticket_hook,
        quiet_repeat=auto_ticket.quiet_repeat,
        first_fire=lambda emission: _ticket_or_decision(auto_ticket.first_fire(emission)),
    ),
    Hook(
        "surface_recovery",
        "When the status_poller resolves a surface, a note on its open Investigate tickets",
        lifecycle.surface_recovery_hook,
        events=frozenset({"resolve"}),
    ),
)


def _ticket_or_decision(planned: Decision | filing.TicketPlan) -> FirePlan:
    return FirePlan(ticket=planned) if isinstance(planned, filing.TicketPlan) else FirePlan(planned)


def registered_hooks() -> list[dict[str, str]]:
    """The hooks every emission runs, in order (name and what it does)."""
    return [{"name": hook.name, "description": hook.description} for hook in HOOKS]
