"""Customers: the CSV import, look-ups, and a customer's open and recent FreeScout tickets (entry C).

Entry C is read-only: it lists conversations that already exist in FreeScout and links to
them. It never raises for FreeScout trouble; a failed look-up comes back as a ``Degraded``
that says, in plain words, what is wrong and which runbook step to check.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock, iso
from raxx_console.config import Settings
from raxx_console.customers.models import Customer
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_outcomes import (
    ALL_STATUSES,
    OPEN_STATUSES,
    Conversation,
    Outcome,
    Reason,
)

RECENT_DAYS = 30
PAGE_SIZE = 50
#: At most this many pages per list (200 conversations): a customer page must answer quickly.
MAX_PAGES = 4
OPEN = tuple(sorted(OPEN_STATUSES))
#: Recent = updated in the window, any status; the open ones are already listed, so ask for the rest.
NOT_OPEN = tuple(status for status in ALL_STATUSES.split(",") if status not in OPEN_STATUSES)
AUDIT_IMPORTED = "console.customers.imported"

_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
_HEADER_REQUIRED = ("email", "name")
_HEADER_ALLOWED = frozenset({"id", "email", "name"})


# --------------------------------------------------------------------------- customers


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


def search(session: Session, query: str = "", *, limit: int = 100) -> tuple[list[Customer], int]:
    """Customers whose email or name contains ``query``, ordered by email, and how many match in all."""
    condition = None
    if query.strip():
        literal = re.sub(r"([\\%_])", r"\\\1", query.strip().lower())
        needle = f"%{literal}%"
        condition = or_(
            Customer.email.like(needle, escape="\\"), func.lower(Customer.name).like(needle, escape="\\")
        )
    rows = select(Customer).order_by(Customer.email).limit(limit)
    count = select(func.count()).select_from(Customer)
    if condition is not None:
        rows, count = rows.where(condition), count.where(condition)
    return list(session.scalars(rows)), session.scalar(count) or 0


@dataclass(frozen=True)
class CustomerRow:
    """One validated CSV row; ``line`` is its line number in the file."""

    line: int
    email: str
    name: str
    id: int | None = None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int

    @property
    def count(self) -> int:
        return self.created + self.updated + self.unchanged


class CustomerImportError(ValueError):
    """The file is unusable; ``problems`` lists every bad line (``line N: why``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_csv(content: str) -> list[CustomerRow]:
    """Check every row (header ``email,name``, optional ``id``); CustomerImportError names each bad line."""
    reader = csv.reader(io.StringIO(content.removeprefix("\ufeff")))
    header = [cell.strip().lower() for cell in next(reader, [])]
    problems: list[str] = []
    missing = [name for name in _HEADER_REQUIRED if name not in header]
    unknown = sorted(set(header) - _HEADER_ALLOWED)
    if missing or unknown or len(set(header)) != len(header):
        problems.append(
            "line 1: the header must be email,name (and optionally id)"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
        raise CustomerImportError(problems)
    rows: list[CustomerRow] = []
    seen_emails: dict[str, int] = {}
    seen_ids: dict[int, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(f"line {line}: expected {len(header)} fields, found {len(cells)}")
            continue
        values = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        email = normalize_email(values["email"])
        row_problems = []
        if not _EMAIL.match(email) or len(email) > 320:
            row_problems.append("email is not a valid address")
        elif email in seen_emails:
            row_problems.append(f"email repeats line {seen_emails[email]}")
        if len(values["name"]) > 255:
            row_problems.append("name is longer than 255 characters")
        customer_id = None
        raw_id = values.get("id", "")
        if raw_id:
            if not raw_id.isdigit() or not 0 < int(raw_id) < 2**31:
                row_problems.append("id must be a positive whole number")
            elif int(raw_id) in seen_ids:
                row_problems.append(f"id repeats line {seen_ids[int(raw_id)]}")
            else:
                customer_id = int(raw_id)
                seen_ids[customer_id] = line
        if row_problems:
            problems.append(f"line {line}: " + "; ".join(row_problems))
            continue
        seen_emails[email] = line
        rows.append(CustomerRow(line=line, email=email, name=values["name"], id=customer_id))
    if problems:
        raise CustomerImportError(problems)
    if not rows:
        raise CustomerImportError(["the file has a header but no customers"])
    return rows


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    """IN lists in slices: SQLite caps the number of bound parameters per statement."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _by_email(session: Session, rows: list[CustomerRow]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for emails in _chunks([row.email for row in rows]):
        query = select(Customer).where(Customer.email.in_(emails))
        found.update((c.email, c) for c in session.scalars(query))
    return found


def _conflicts(session: Session, rows: list[CustomerRow], by_email: dict[str, Customer]) -> list[str]:
    """Rows whose ``id`` disagrees with the database (ids are in URLs, so an upsert never moves one)."""
    by_id: dict[int, Customer] = {}
    for ids in _chunks([r.id for r in rows if r.id is not None]):
        by_id.update((c.id, c) for c in session.scalars(select(Customer).where(Customer.id.in_(ids))))
    problems = []
    for row in rows:
        if row.id is None:
            continue
        existing = by_email.get(row.email)
        if existing is not None and existing.id != row.id:
            problems.append(f"line {row.line}: {row.email} is already customer {existing.id}, not {row.id}")
        elif existing is None and row.id in by_id:
            problems.append(f"line {row.line}: id {row.id} already belongs to {by_id[row.id].email}")
    return problems


def upsert(
    session: Session,
    clock: Clock,
    rows: Iterable[CustomerRow],
    *,
    actor: str,
    env: str,
    source: str,
) -> ImportResult:
    """Insert or update customers by email, all or nothing, with one audit row for the batch.

    Raises CustomerImportError when a row's ``id`` conflicts with the database; nothing is written then.
    """
    rows = list(rows)
    existing = _by_email(session, rows)
    problems = _conflicts(session, rows, existing)
    if problems:
        raise CustomerImportError(problems)
    created = updated = unchanged = 0
    now = clock.now()
    for row in rows:
        customer = existing.get(row.email)
        if customer is None:
            session.add(Customer(id=row.id, email=row.email, name=row.name, created_at=now))
            created += 1
        elif customer.name != row.name:
            customer.name = row.name
            updated += 1
        else:
            unchanged += 1
    session.flush()
    if session.get_bind().dialect.name == "postgresql" and any(r.id is not None for r in rows):
        # Explicit ids do not move the serial's sequence; the next plain insert would collide.
        session.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('customers', 'id'), "
                "(SELECT GREATEST(COALESCE(MAX(id), 0), 1) FROM customers))"
            )
        )
    result = ImportResult(created=created, updated=updated, unchanged=unchanged)
    audit.record(
        session,
        clock,
        action=AUDIT_IMPORTED,
        actor=actor,
        selected_env=env,
        payload={
            "count": result.count,
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "source": source,
        },
    )
    return result


# --------------------------------------------------------------------------- entry C


@dataclass(frozen=True)
class TicketRow:
    id: int
    number: int | None
    subject: str
    status: str
    updated_at: datetime | None
    url: str

    def to_json(self) -> dict[str, Any]:
        updated = iso(self.updated_at)
        return {
            "id": self.id,
            "number": self.number,
            "subject": self.subject,
            "status": self.status,
            "updated_at": updated,
            "url": self.url,
        }


@dataclass(frozen=True)
class Degraded:
    """Why the tickets could not be listed, in words an operator can act on."""

    reason: str
    message: str
    check: str
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "degraded": True,
            "reason": self.reason,
            "message": self.message,
            "check": self.check,
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class CustomerTickets:
    open: tuple[TicketRow, ...] = ()
    recent: tuple[TicketRow, ...] = ()
    #: More than MAX_PAGES pages matched; the newest are shown.
    truncated: bool = False
    degraded: Degraded | None = None
    #: False while entry C is switched off by configuration; ``degraded`` then explains it.
    available: bool = True
    #: The support mailbox searched, or None for every mailbox.
    mailbox_id: int | None = None
    since: datetime | None = None


def entry_c_unavailable(settings: Settings) -> Degraded | None:
    """The rollout runbook makes entry C available once ``FREESCOUT_OPERATIONS_MAILBOX_ID`` is set."""
    if settings.FREESCOUT_OPERATIONS_MAILBOX_ID is not None:
        return None
    return Degraded(
        reason=Reason.NOT_CONFIGURED.value,
        message=(
            "Customer tickets are not available yet: FREESCOUT_OPERATIONS_MAILBOX_ID is not set. "
            "The rollout runbook makes this view available once the FreeScout operations mailbox "
            "is provisioned and its id is set on the console app."
        ),
        check=(
            "Provision the operations mailbox (mailbox provisioning runbook), then set "
            "FREESCOUT_OPERATIONS_MAILBOX_ID on the app (rollout runbook, prerequisite 1). "
            "Optionally set FREESCOUT_SUPPORT_MAILBOX_ID to search only the support mailbox."
        ),
        missing=("FREESCOUT_OPERATIONS_MAILBOX_ID",),
    )


def explain(outcome: Outcome[Any]) -> Degraded:
    """A failed FreeScout outcome as a banner: what happened and which runbook step to check."""
    reason = outcome.reason or Reason.UNEXPECTED
    if reason is Reason.CF_ACCESS_DENIED:
        message = "Cloudflare Access refused the console's request before it reached FreeScout."
        check = (
            "Check CF_ACCESS_SVC_TICKETS_CLIENT_ID and CF_ACCESS_SVC_TICKETS_CLIENT_SECRET "
            "(incident runbook, Step 1.5)."
        )
    elif reason is Reason.AUTH_ERROR:
        message = "FreeScout refused the console's API key."
        check = "Check that FREESCOUT_API_KEY is set and valid (incident runbook, Step 1)."
    elif reason is Reason.NOT_CONFIGURED:
        names = ", ".join(outcome.missing) or "the FreeScout settings"
        message = f"FreeScout is not configured: {names} not set."
        check = f"Set {names} on the console app (incident runbook, Step 0)."
    elif reason is Reason.UNAVAILABLE:
        message = "FreeScout is not answering (server error, timeout or no connection)."
        check = (
            "This looks like a FreeScout outage: see failure mode 4 of the incident runbook "
            "and the FreeScout runbook. The page works again when FreeScout does."
        )
    elif reason is Reason.MAILBOX_NOT_FOUND:
        message = "FreeScout does not know the support mailbox."
        check = "Check FREESCOUT_SUPPORT_MAILBOX_ID (or unset it to search every mailbox)."
    else:
        message = f"FreeScout gave an answer the console did not expect ({reason})."
        check = "Check FREESCOUT_API_URL and the FreeScout logs (incident runbook, Step 5)."
    return Degraded(reason=str(reason), message=message, check=check, missing=tuple(outcome.missing))


def _collect(
    client: FreeScoutClient, *, status: tuple[str, ...], **filters: Any
) -> tuple[list[Conversation], bool] | Outcome[Any]:
    """Every page up to MAX_PAGES; returns (conversations, truncated) or the failed outcome.

    An update between two page reads can shift a conversation onto the next page too; it is listed once.
    """
    found: dict[int, Conversation] = {}
    for page in range(1, MAX_PAGES + 1):
        listed = client.list_conversations(
            status=status,
            page=page,
            page_size=PAGE_SIZE,
            sort_field="updatedAt",
            sort_order="desc",
            **filters,
        )
        if not listed.ok or listed.value is None:
            return listed
        found.update((c.id, c) for c in listed.value.items if c.id not in found)
        if not listed.value.has_next or not listed.value.items:
            return list(found.values()), False
    return list(found.values()), True


def customer_tickets(
    client: FreeScoutClient, settings: Settings, clock: Clock, email: str
) -> CustomerTickets:
    """The customer's open conversations and the others updated in the last RECENT_DAYS days."""
    unavailable = entry_c_unavailable(settings)
    if unavailable is not None:
        return CustomerTickets(degraded=unavailable, available=False)
    mailbox_id = settings.FREESCOUT_SUPPORT_MAILBOX_ID
    since = clock.now() - timedelta(days=RECENT_DAYS)
    common = {"customer_email": email, "mailbox_id": mailbox_id}
    open_ = _collect(client, status=OPEN, **common)
    if isinstance(open_, Outcome):
        return CustomerTickets(degraded=explain(open_), mailbox_id=mailbox_id, since=since)
    recent = _collect(client, status=NOT_OPEN, updated_since=since, **common)
    if isinstance(recent, Outcome):
        return CustomerTickets(degraded=explain(recent), mailbox_id=mailbox_id, since=since)

    def rows(conversations: list[Conversation]) -> tuple[TicketRow, ...]:
        return tuple(
            TicketRow(c.id, c.number, c.subject, c.status, c.updated_at, client.ticket_url(c.id))
            for c in conversations
        )

    return CustomerTickets(
        open=rows(open_[0]),
        recent=rows(recent[0]),
        truncated=open_[1] or recent[1],
        mailbox_id=mailbox_id,
        since=since,
    )
