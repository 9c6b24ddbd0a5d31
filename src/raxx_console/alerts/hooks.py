"""The emit hooks, registered here and nowhere else, in the order they run.

Incident runbook FM2 Step 3 asks whether "the emit hook for FreeScout ticketing" is registered:
this tuple is the answer, and ``registered_hooks()`` lists it for ``doctor`` and the health panel.
Each hook runs inside emit's transaction (in a savepoint of its own, so one hook failing never
stops another — the Slack DM fires whatever happens to the ticket) and only writes rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raxx_console.alerts import auto_ticket, lifecycle, notify
from raxx_console.alerts.emission import Decision, Emission


@dataclass(frozen=True)
class Hook:
    name: str
    description: str
    run: Callable[[Emission], Decision | None]
    #: The events the hook acts on (None: every event). For any other event it would decide
    #: nothing and write nothing, so emit does not call it (nor open its savepoint).
    events: frozenset[str] | None = None


HOOKS: tuple[Hook, ...] = (
    Hook(
        "slack_dm",
        "Slack DM to SLACK_ALERT_DM_USER_IDS at every severity: on fire, severity change, resolve, "
        "and every SLACK_REPEAT_INTERVAL while firing",
        notify.slack_hook,
    ),
    Hook(
        "auto_ticket",
        "FreeScout ticket for P2+ alerts while FLAG_CONSOLE_ALERTS_AUTO_TICKET is on; notes, close "
        "and reopen over the alert's lifetimes",
        auto_ticket.auto_ticket_hook,
    ),
    Hook(
        "surface_recovery",
        "When the status_poller resolves a surface, a note on its open Investigate tickets",
        lifecycle.surface_recovery_hook,
        events=frozenset({"resolve"}),
    ),
)


def registered_hooks() -> list[dict[str, str]]:
    """The hooks every emission runs, in order (name and what it does)."""
    return [{"name": hook.name, "description": hook.description} for hook in HOOKS]
