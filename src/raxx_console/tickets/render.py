"""Subjects and HTML bodies of the tickets we file, and the notes we add to them.

FreeScout shows thread bodies as HTML, and much of what goes in (surface details, probe
errors, alert labels) comes from outside: every value is escaped here, and only http(s)
URLs become links. Subjects are plain text on one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

SUBJECT_MAX = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def subject(ref: str, title: str) -> str:
    """``[RX-1A2B3C4D] api-prod is degraded``: the ref first, so a cut subject still carries it."""
    line = _CONTROL.sub(" ", f"[{ref}] {title}")
    return " ".join(line.split())[:SUBJECT_MAX]


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def link(url: str | None, text: str) -> Markup:
    """An ``<a>`` for http(s) URLs; anything else is shown as text, never as a link."""
    if not url or not re.match(r"^https?://", url, re.IGNORECASE):
        return escape(text)
    return Markup('<a href="{}">{}</a>').format(url, text)


@dataclass(frozen=True)
class RelatedTicket:
    """A ticket from the other entry on the same surface.

    ``docs/decisions.md``, "Cross-links, not merged keys".
    """

    label: str
    ticket_id: int | None
    ticket_url: str | None
    ref: str


def _related_line(related: RelatedTicket) -> Markup:
    return Markup("{} ticket {} ({})").format(
        related.label, link(related.ticket_url, f"#{related.ticket_id}"), related.ref
    )


def body(
    heading: str,
    facts: Sequence[tuple[str, object]],
    *,
    ref: str,
    history: Sequence[str] = (),
    related: Sequence[RelatedTicket] = (),
    footer: str = "",
) -> str:
    """A ticket body: a heading, a facts table, recent history, related tickets, the ref."""
    # escape() and f-strings, one join: a Markup.format per piece was most of a first fire's cost.
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape('—' if value in (None, '') else value)}</td></tr>"
        for label, value in facts
    )
    parts = [f"<p><strong>{escape(heading)}</strong></p>", f"<table>{rows}</table>"]
    if history:
        items = "".join(f"<li>{escape(line)}</li>" for line in history)
        parts.append(f"<p>Recent checks (newest first):</p><ul>{items}</ul>")
    if related:
        items = "".join(f"<li>{_related_line(r)}</li>" for r in related)
        parts.append(f"<p>Also open for this surface:</p><ul>{items}</ul>")
    if footer:
        parts.append(f"<p>{escape(footer)}</p>")
    parts.append(f"<p>Reference: {escape(ref)}</p>")
    return "\n".join(parts)


def crosslink_note(label: str, ticket_id: int | None, ticket_url: str | None, ref: str) -> str:
    """The note the older ticket gets when the other entry files on the same surface."""
    return str(
        Markup("<p>A newer {} ticket was filed for the same surface: {} ({}).</p>").format(
            label, link(ticket_url, f"#{ticket_id}"), ref
        )
    )
