"""Every outbox item kind, named once: ``<component>.<call>`` (the component names the panel column)."""

from __future__ import annotations

#: Entry A or B: file a reserved ticket (``tickets.delivery``).
CREATE_KIND = "freescout.create"
#: Tags a create could not apply (``tickets.delivery``).
TAGS_KIND = "freescout.tags"
#: An internal note on a filed ticket: cross-links, severity changes (``tickets.delivery``).
NOTE_KIND = "freescout.note"
#: A new alert lifetime whose last ticket was filed: note, reopen or file anew (``alerts.lifecycle``).
REFIRE_KIND = "freescout.refire"
#: The recovery note, then close the ticket (``alerts.lifecycle``).
CLOSE_KIND = "freescout.close"
#: The recovery note only (``alerts.lifecycle``).
RECOVERY_NOTE_KIND = "freescout.recovery_note"
#: Rewrite an alert ticket's subject to the alert's current severity (``alerts.lifecycle``).
SUBJECT_KIND = "freescout.subject"
#: One Slack DM about an alert (``alerts.notify``).
SLACK_DM_KIND = "slack.dm"
#: A DM sent before its ticket was filed gets the link as a reply in its thread (``alerts.notify``).
SLACK_TICKET_LINK_KIND = "slack.ticket_link"

ALL_KINDS: tuple[str, ...] = (
    CREATE_KIND,
    TAGS_KIND,
    NOTE_KIND,
    REFIRE_KIND,
    CLOSE_KIND,
    RECOVERY_NOTE_KIND,
    SUBJECT_KIND,
    SLACK_DM_KIND,
    SLACK_TICKET_LINK_KIND,
)


def component_of(kind: str) -> str:
    """``freescout`` of ``freescout.create``: the third party the item calls."""
    return kind.partition(".")[0]
