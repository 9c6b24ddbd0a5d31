"""What the FreeScout client answers: an ``Outcome`` (a value or a ``Reason``) and the typed
values it carries (conversations, threads, pages, mailboxes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

T_co = TypeVar("T_co", covariant=True)  # Outcome is read-only: an Outcome[Conversation] is an Outcome[object]

ALL_STATUSES = "active,pending,closed,spam"
#: The one spelling of "open" (``docs/decisions.md``, "Open" means active or pending).
OPEN_STATUSES = frozenset({"active", "pending"})


class Reason(StrEnum):
    """Why a call did not succeed. Only ``freescout_unavailable`` is worth retrying."""

    NOT_CONFIGURED = "freescout_not_configured"
    CF_ACCESS_DENIED = "cf_access_denied"
    AUTH_ERROR = "freescout_auth_error"
    REJECTED = "freescout_rejected"
    MAILBOX_NOT_FOUND = "mailbox_not_found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "freescout_unavailable"
    UNEXPECTED = "freescout_unexpected_response"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FieldError:
    """One entry of FreeScout's ``_embedded.errors`` (a 400's field path and message)."""

    path: str
    message: str


@dataclass(frozen=True)
class Outcome(Generic[T_co]):
    """A value, or a reason it could not be had. Never an exception for HTTP trouble.

    ``uncertain`` is only ever set on POSTs: the request may have reached FreeScout (read
    timeout, dropped connection, 500/502/504), so the entity may exist. Callers reconcile
    (``find_by_reference``) before creating again. ``uncertain=False`` on a failed POST
    means FreeScout certainly did not act (connect error, 503, any 4xx).
    """

    value: T_co | None = None
    reason: Reason | None = None
    status_code: int | None = None
    errors: tuple[FieldError, ...] = ()
    uncertain: bool = False
    missing: tuple[str, ...] = ()
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def retryable(self) -> bool:
        """Only an unavailable FreeScout is worth queueing for a later retry."""
        return self.reason is Reason.UNAVAILABLE

    def unwrap(self) -> T_co:
        """The value of a successful outcome; a programming error on a failed one."""
        if self.reason is not None:
            raise ValueError(f"outcome failed: {self.reason}")
        return self.value  # type: ignore[return-value]


@dataclass(frozen=True)
class Thread:
    id: int
    type: str
    body: str
    status: str | None = None
    created_at: datetime | None = None
    user_id: int | None = None
    customer_email: str | None = None


@dataclass(frozen=True)
class Conversation:
    """The fields the console reads. ``id`` is the ticket id (not ``number``)."""

    id: int
    number: int | None
    subject: str
    status: str
    mailbox_id: int | None
    customer_email: str | None
    created_at: datetime | None
    updated_at: datetime | None
    tags: tuple[str, ...] = ()
    tags_embedded: bool = False
    threads_count: int | None = None
    threads: tuple[Thread, ...] = ()
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Active or pending is open; closed, spam (and a 404) are not.

        ``docs/decisions.md``, "Open" means active or pending.
        """
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total_elements: int
    total_pages: int


@dataclass(frozen=True)
class ConversationPage:
    items: tuple[Conversation, ...]
    page: Page

    @property
    def has_next(self) -> bool:
        return self.page.number < self.page.total_pages


@dataclass(frozen=True)
class Mailbox:
    id: int
    name: str
    email: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CreatedConversation:
    """A conversation that exists in FreeScout, even if tagging it failed afterwards.

    ``tags_applied=False`` means the ticket stands untagged: record it and call
    ``apply_tags`` later; never create it again.
    """

    id: int
    conversation: Conversation | None
    tags: tuple[str, ...]
    tags_applied: bool
    tags_reason: Reason | None = None
