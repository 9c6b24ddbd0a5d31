"""The flags the console knows: the runbooks' names, what each gates, and its default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlagSpec:
    name: str
    description: str
    default: bool = False
    #: Turning it on files tickets, so the FreeScout prerequisites must be in place first.
    needs_ticketing: bool = False
    #: What the health banner says while a ticketing flag is off.
    off_means: str = ""


#: The ticketing flags, named here and imported wherever they are checked.
INVESTIGATE_FLAG = "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS"
LINKED_TICKET_FLAG = "FLAG_CONSOLE_INVESTIGATE_LINKED_TICKET"
AUTO_TICKET_FLAG = "FLAG_CONSOLE_ALERTS_AUTO_TICKET"
AUTO_RESOLVE_FLAG = "FLAG_CONSOLE_ALERTS_AUTO_RESOLVE"
DEPLOY_UI_FLAG = "FLAG_CONSOLE_DEPLOY_UI"
DEPLOY_ASYNC_FLAG = "FLAG_CONSOLE_DEPLOY_ASYNC"
DEPLOY_CHIP_FLAG = "FLAG_CONSOLE_DEPLOY_CHIP"
ROTATE_UI_FLAG = "FLAG_CONSOLE_ROTATE_UI"
ROTATION_MODE_A_FLAG = "FLAG_CONSOLE_ROTATION_MODE_A"

FLAGS: tuple[FlagSpec, ...] = (
    FlagSpec(
        INVESTIGATE_FLAG,
        "Entry point A: the Investigate button on degraded status tiles files a FreeScout ticket.",
        needs_ticketing=True,
        off_means="Investigate files no ticket (the button is hidden)",
    ),
    FlagSpec(
        LINKED_TICKET_FLAG,
        "Status tiles show the open FreeScout ticket already filed for the surface.",
    ),
    FlagSpec(
        AUTO_TICKET_FLAG,
        "Entry point B: P2 and P1 alerts file FreeScout tickets (Slack DMs fire regardless).",
        needs_ticketing=True,
        off_means="alerts will be Slack-only: no P1/P2 alert files a ticket",
    ),
    FlagSpec(
        AUTO_RESOLVE_FLAG,
        "Close an alert's FreeScout ticket automatically when the alert resolves.",
    ),
    FlagSpec(
        "FLAG_CONSOLE_DEPLOY_UI",
        "Kill switch for the whole deploy modal flow; off means break-glass deploys only.",
    ),
    FlagSpec(
        "FLAG_CONSOLE_DEPLOY_ASYNC",
        "Deploy dispatch answers 202 at once and resolves the run id lazily (else a 30 s sync poll).",
    ),
    FlagSpec(
        "FLAG_CONSOLE_DEPLOY_CHIP",
        "The cross-page in-flight deploy indicator.",
    ),
    FlagSpec(
        "FLAG_CONSOLE_ROTATE_UI",
        "The rotate-from-console button on /secrets rows.",
    ),
    FlagSpec(
        "FLAG_CONSOLE_ROTATION_MODE_A",
        "Per-secret Mode A handler dispatch (auto-rotate instead of the manual SOP).",
    ),
)

BY_NAME = {spec.name: spec for spec in FLAGS}


def get_spec(name: str) -> FlagSpec | None:
    return BY_NAME.get(name)
