"""What the ticketing paths need before a ticketing flag is turned on (incident runbook, Step 0).

The RCA of 2026-06-19: a flag went on while the CF Access pair was missing, and tickets failed
silently. So the flags page, the JSON API and ``flags set`` all ask this list first. Only the
variable *names* ever leave this module, never their values.
"""

from __future__ import annotations

from raxx_console.config import Settings

#: Runbook Step 0's table, in its order; the CF Access pair only when Access gates the API.
_STEP_0 = (
    "FREESCOUT_API_URL",
    "FREESCOUT_INSTANCE_URL",
    "FREESCOUT_API_KEY",
    "FREESCOUT_OPERATIONS_MAILBOX_ID",
)
_CF_ACCESS_PAIR = ("CF_ACCESS_SVC_TICKETS_CLIENT_ID", "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET")
#: Not in the runbook's table, but notes and status changes need it
#: (``docs/decisions.md``, "The bot user is a prerequisite").
_BOT_USER = "FREESCOUT_BOT_USER_ID"


def ticketing_prereqs_missing(settings: Settings) -> list[str]:
    """The env var names the ticketing paths need and do not have, in the runbook's order."""
    names = list(_STEP_0)
    if settings.FREESCOUT_CF_ACCESS_REQUIRED:
        names.extend(_CF_ACCESS_PAIR)
    names.append(_BOT_USER)
    return [name for name in names if _blank(settings.secret(name))]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


#: What a deploy (the tiles, the break-glass CLI, a promotion) needs to reach GitHub Actions.
_DEPLOY = ("GITHUB_TOKEN", "GITHUB_REPOSITORY")


def deploy_prereqs_missing(settings: Settings) -> list[str]:
    """The env var names deploys need and do not have (names only, never values)."""
    return [name for name in _DEPLOY if _blank(settings.secret(name))]
