"""Why a ticket was not filed, in an operator's words: the one reason → text table.

The tile, the Investigate answer and the alerts page read reasons through ``explain``; each
text names what to check and the runbook step that covers it.
"""

from __future__ import annotations

from raxx_console.integrations.freescout_outcomes import Reason
from raxx_console.tickets.models import ENTRY_STATUS
from raxx_console.tickets.service import ENTRIES

_REASONS = {
    Reason.UNAVAILABLE.value: "FreeScout did not answer (outage, 5xx or timeout): check FreeScout's health "
    "(runbook failure mode 4).",
    Reason.CF_ACCESS_DENIED.value: "Cloudflare Access refused the console's service token: check "
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID/SECRET (runbook Step 1.5).",
    Reason.AUTH_ERROR.value: "FreeScout refused the console's API key: check FREESCOUT_API_KEY "
    "(runbook Step 1).",
    Reason.NOT_CONFIGURED.value: "The console is not configured for FreeScout: set the variables of "
    "runbook Step 0.",
    Reason.MAILBOX_NOT_FOUND.value: "FreeScout has no such operations mailbox: check "
    "FREESCOUT_OPERATIONS_MAILBOX_ID (runbook Step 2).",
    Reason.REJECTED.value: "FreeScout rejected the ticket: check FREESCOUT_OPERATIONS_MAILBOX_ID and "
    "CONSOLE_TICKET_CUSTOMER_EMAIL (runbook Step 2).",
    Reason.UNEXPECTED.value: "FreeScout answered something unexpected: check that FREESCOUT_API_URL points "
    "at FreeScout with the API & Webhooks module (runbook Step 0).",
    Reason.NOT_FOUND.value: "The FreeScout conversation no longer exists.",
    "expired_before_delivery": "FreeScout did not answer in time, so the request was dropped unfiled: "
    "click Investigate again if the surface still needs a ticket.",
    "filing_in_progress": "Another request is filing this ticket right now; it will appear here.",
}


def explain(reason: str | None, *, entry: str = ENTRY_STATUS, detail: str | None = None) -> str:
    """What went wrong and what to check, for the tile and the click's answer."""
    if reason == "flag_off":
        return f"{ENTRIES[entry].flag} was turned off before FreeScout answered; nothing was filed."
    text = _REASONS.get(reason or "", f"Filing failed ({reason}).")
    if reason == Reason.NOT_CONFIGURED.value and detail and detail.startswith("missing="):
        text += " Missing: " + detail.removeprefix("missing=").replace(",", ", ") + "."
    return text
