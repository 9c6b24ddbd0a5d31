"""Why a ticket (or its Slack DM) did not go out, in an operator's words: the one reason → text table.

The tile, the Investigate answer and the alerts page read reasons through ``explain``; the health
panel's banner writes the same entries with when it happened. Each text names what to check and
the runbook step that covers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from raxx_console.integrations.freescout_outcomes import Reason
from raxx_console.tickets.models import ENTRY_STATUS
from raxx_console.tickets.service import ENTRIES


@dataclass(frozen=True)
class ReasonText:
    """A reason in an operator's words: what happened, and what to check (empty: nothing to check)."""

    happened: str
    check: str = ""

    def sentence(self, when: str = "") -> str:
        """``happened[ when]: check.``; the health panel adds when and the reason code to ``when``."""
        return f"{self.happened}{' ' + when if when else ''}{': ' + self.check if self.check else ''}."


#: Every reason a ticket or its Slack DM did not go out, for the tile, the click's answer, the
#: alerts page and the health panel's banner.
REASONS = {
    Reason.UNAVAILABLE.value: ReasonText(
        "FreeScout did not answer (outage, 5xx or timeout)",
        "check FreeScout's health (runbook failure mode 4)",
    ),
    Reason.CF_ACCESS_DENIED.value: ReasonText(
        "Cloudflare Access refused the CF Access service token",
        "check CF_ACCESS_SVC_TICKETS_CLIENT_ID/SECRET (runbook Step 1.5)",
    ),
    Reason.AUTH_ERROR.value: ReasonText(
        "FreeScout refused the console's API key", "check FREESCOUT_API_KEY (runbook Step 1)"
    ),
    Reason.NOT_CONFIGURED.value: ReasonText(
        "The process filing tickets found FreeScout not configured", "set the variables of runbook Step 0"
    ),
    Reason.MAILBOX_NOT_FOUND.value: ReasonText(
        "FreeScout has no such operations mailbox", "check FREESCOUT_OPERATIONS_MAILBOX_ID (runbook Step 2)"
    ),
    Reason.REJECTED.value: ReasonText(
        "FreeScout rejected the ticket",
        "check FREESCOUT_OPERATIONS_MAILBOX_ID and CONSOLE_TICKET_CUSTOMER_EMAIL (runbook Step 2)",
    ),
    Reason.UNEXPECTED.value: ReasonText(
        "FreeScout answered something unexpected",
        "check that FREESCOUT_API_URL points at FreeScout with the API & Webhooks module (runbook Step 0)",
    ),
    Reason.NOT_FOUND.value: ReasonText("The FreeScout conversation no longer exists"),
    "expired_before_delivery": ReasonText(
        "FreeScout did not answer in time, so the request was dropped unfiled",
        "click Investigate again if the surface still needs a ticket",
    ),
    "filing_in_progress": ReasonText("Another request is filing this ticket right now; it will appear here"),
    "slack_auth_error": ReasonText("Slack refused SLACK_BOT_TOKEN"),
    "slack_not_configured": ReasonText("The DM sender found Slack not configured"),
    "slack_rejected": ReasonText("Slack rejected a DM"),
}


def explain(reason: str | None, *, entry: str = ENTRY_STATUS, detail: str | None = None) -> str:
    """What went wrong and what to check, for the tile and the click's answer."""
    if reason == "flag_off":
        return f"{ENTRIES[entry].flag} was turned off before FreeScout answered; nothing was filed."
    known = REASONS.get(reason or "")
    text = known.sentence() if known else f"Filing failed ({reason})."
    if reason == Reason.NOT_CONFIGURED.value and detail and detail.startswith("missing="):
        text += " Missing: " + detail.removeprefix("missing=").replace(",", ", ") + "."
    return text
