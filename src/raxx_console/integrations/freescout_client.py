"""FreeScout API client: a thin, typed adapter that never raises for HTTP or transport trouble.

Built against the FreeScout "API & Webhooks" module as documented (see the contract in the
project's reference notes): ``X-FreeScout-API-Key`` auth, ``Resource-ID`` on 201, HAL lists,
the ``_embedded.errors`` error body, tags as a second ``PUT …/tags`` call.

Prerequisites (incident runbook Step 0; RCA 2026-06-19 action item 4). All must be non-empty:

- ``FREESCOUT_API_URL`` — base URL for every API call (``https://tickets.raxx.app``; ``/api``
  is appended unless already there).
- ``FREESCOUT_API_KEY`` — sent as ``X-FreeScout-API-Key`` on every call.
- ``CF_ACCESS_SVC_TICKETS_CLIENT_ID`` and ``CF_ACCESS_SVC_TICKETS_CLIENT_SECRET`` — the
  Cloudflare Access service token, sent as ``CF-Access-Client-Id`` / ``CF-Access-Client-Secret``
  on every call (``_cf_access.cf_access_tickets_headers()``). ``/api/*`` is gated by Access
  (decision ``non_identity``); without them every call is refused with 403 (or a 302 to
  ``*.cloudflareaccess.com``) before FreeScout sees it. Only ``FREESCOUT_CF_ACCESS_REQUIRED=0``
  (a FreeScout not behind Access, such as the sandbox) waives them.
- ``FREESCOUT_INSTANCE_URL`` — used for ``ticket_url()`` link construction.
- ``FREESCOUT_BOT_USER_ID`` — the FreeScout user that writes notes and changes status
  (``user`` / ``byUser``).
- ``FREESCOUT_OPERATIONS_MAILBOX_ID`` — checked by *callers*, not here: mailbox ids are
  per-call arguments (Investigate and alerts use the operations mailbox, the customer view the
  support mailbox), so this client cannot know which one a caller needs.

Which missing value stops which call: API URL, API key and (when required) the Access pair stop
every call with ``freescout_not_configured`` before any network traffic; a missing bot user id
stops only ``update_conversation`` (when it sets status/assignee/mailbox) and ``add_note``; a
missing instance URL stops nothing (``ticket_url`` falls back to the API host) but is reported
by ``FreeScoutConfig.missing()`` for the start-up check.

Failures come back as an ``Outcome`` with a ``Reason``; each is logged once at WARNING on the
``raxx_console.freescout_client`` logger as ``freescout degraded op=… reason=… status=…``
(a Cloudflare Access refusal as ``freescout_auth_error reason=cf_access_denied …``). Secrets,
stack traces and ERROR level never appear.
"""

from __future__ import annotations

import functools
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from raxx_console.integrations._cf_access import cf_access_tickets_headers
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.integrations.freescout_outcomes import (
    ALL_STATUSES,
    Conversation,
    ConversationPage,
    CreatedConversation,
    FieldError,
    Mailbox,
    Outcome,
    Reason,
)
from raxx_console.integrations.freescout_wire import (
    as_int,
    clean_text,
    csv_param,
    embedded_list,
    format_datetime,
    json_body,
    parse_conversation,
    parse_datetime,
    parse_errors,
    parse_page,
)

logger = logging.getLogger("raxx_console.freescout_client")

_MAX_MAILBOX_PAGES = 20


# --------------------------------------------------------------------------- the client


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context per process: building one costs ~40 ms (the CA bundle)."""
    return httpx.create_ssl_context()


_CERTAIN_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRY_TRANSPORT = (*_CERTAIN_TRANSPORT, httpx.RemoteProtocolError, httpx.ReadError)
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_REJECT_STATUS = frozenset({400, 405, 409, 412, 413, 415, 422})


class FreeScoutClient:
    """Sync FreeScout API client. Every call returns an ``Outcome``; none raises for HTTP.

    GETs are retried (``get_attempts`` tries, exponential backoff from ``backoff_seconds``
    through the injectable ``sleep``) on connection failures and 429/502/503/504 — not on a
    read timeout, which would multiply a slow FreeScout's latency, nor on 500, which is
    usually deterministic. POST and PUT are never retried here: a caller that sees
    ``uncertain`` reconciles first.
    """

    def __init__(
        self,
        config: FreeScoutConfig,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        get_attempts: int = 3,
        backoff_seconds: float = 0.2,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._get_attempts = max(1, get_attempts)
        self._backoff = backoff_seconds
        self._timeout = httpx.Timeout(
            config.timeout,
            connect=config.connect_timeout or min(config.timeout, 5.0),
        )
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=self._timeout, follow_redirects=False, verify=_ssl_context()
        )
        base = (config.api_url or "").strip().rstrip("/")
        self._api_base = base if base.endswith("/api") else f"{base}/api"

    # -- plumbing ------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> FreeScoutClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _base_headers(self) -> dict[str, str]:
        """The headers every call carries: API key, Access service token, UA, Accept."""
        headers = {"X-FreeScout-API-Key": (self.config.api_key or "").strip()}
        headers.update(cf_access_tickets_headers(self.config))
        headers["User-Agent"] = self.config.user_agent
        headers["Accept"] = "application/json"
        return headers

    def ticket_url(self, conversation_id: int) -> str:
        """``FREESCOUT_INSTANCE_URL/conversation/<id>`` (the API host when unset)."""
        base = (self.config.instance_url or "").strip().rstrip("/")
        if not base:
            base = self._api_base.removesuffix("/api")
        return f"{base}/conversation/{conversation_id}"

    def _fail(
        self,
        op: str,
        reason: Reason,
        *,
        status: int | None = None,
        errors: tuple[FieldError, ...] = (),
        uncertain: bool = False,
        missing: Sequence[str] = (),
        detail: str = "",
    ) -> Outcome[Any]:
        """Build the failed outcome and log it — the one log line per failure."""
        status_text = str(status) if status is not None else "none"
        if reason is Reason.NOT_FOUND:
            # A missing conversation is an answer (callers read it as "not open"), not
            # a degradation; keep it out of FM4's `freescout.*degraded` grep.
            message = f"freescout op={op} reason={reason} status={status_text}"
        elif reason is Reason.CF_ACCESS_DENIED:
            message = (
                f"freescout_auth_error reason={reason} status={status_text} op={op} "
                "freescout degraded: Cloudflare Access refused the request "
                "(check CF_ACCESS_SVC_TICKETS_CLIENT_ID / CF_ACCESS_SVC_TICKETS_CLIENT_SECRET)"
            )
        else:
            message = f"freescout degraded op={op} reason={reason} status={status_text}"
        if missing:
            message += " missing=" + ",".join(missing)
        if errors:
            message += " errors=" + "; ".join(f"{e.path}: {e.message}" for e in errors[:5])
        if uncertain:
            message += " uncertain=true"
        if detail:
            message += f" detail={detail}"
        logger.log(logging.INFO if reason is Reason.NOT_FOUND else logging.WARNING, "%s", message)
        return Outcome(
            reason=reason,
            status_code=status,
            errors=errors,
            uncertain=uncertain,
            missing=tuple(missing),
            detail=detail,
        )

    def _request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> httpx.Response | Outcome[Any]:
        """Send one call (GETs with retries). A transport failure comes back as an Outcome."""
        missing = self.config.missing_for_api()
        if missing:
            return self._fail(op, Reason.NOT_CONFIGURED, missing=missing)
        url = f"{self._api_base}/{path}"
        attempts = self._get_attempts if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=self._base_headers(),
                    timeout=self._timeout,
                    follow_redirects=False,
                )
            except httpx.TransportError as exc:
                if not last and isinstance(exc, _RETRY_TRANSPORT):
                    logger.debug("freescout retry op=%s attempt=%d error=%s", op, attempt, type(exc).__name__)
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                    continue
                return self._fail(
                    op,
                    Reason.UNAVAILABLE,
                    uncertain=method == "POST" and not isinstance(exc, _CERTAIN_TRANSPORT),
                    detail=type(exc).__name__,
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return self._fail(op, Reason.UNEXPECTED, detail=type(exc).__name__)
            if not last and response.status_code in _RETRY_STATUS:
                logger.debug("freescout retry op=%s attempt=%d status=%d", op, attempt, response.status_code)
                self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _classify(self, op: str, response: httpx.Response, *, post: bool = False) -> Outcome[Any]:
        """Map a non-success response to its Reason (and log it once)."""
        code = response.status_code
        if 300 <= code < 400:
            host = (urlsplit(response.headers.get("location", "")).hostname or "").lower()
            if host.endswith("cloudflareaccess.com"):
                return self._fail(op, Reason.CF_ACCESS_DENIED, status=code, detail=f"redirect to {host}")
            return self._fail(
                op, Reason.UNEXPECTED, status=code, detail=f"redirect to {host or 'nowhere'} not followed"
            )
        body = json_body(response)
        if code in (401, 403):
            if body is None and (code == 403 or _looks_like_cloudflare(response)):
                return self._fail(op, Reason.CF_ACCESS_DENIED, status=code)
            return self._fail(op, Reason.AUTH_ERROR, status=code)
        if code == 404:
            if isinstance(body, Mapping):
                return self._fail(op, Reason.NOT_FOUND, status=code)
            return self._fail(
                op,
                Reason.UNEXPECTED,
                status=code,
                detail="404 page without JSON: API & Webhooks module missing or wrong FREESCOUT_API_URL",
            )
        if code in _REJECT_STATUS:
            errors = parse_errors(body)
            if any(e.path == "mailboxId" or "mailbox not found" in e.message.lower() for e in errors):
                return self._fail(op, Reason.MAILBOX_NOT_FOUND, status=code, errors=errors)
            message = body.get("message") if isinstance(body, Mapping) else body
            return self._fail(
                op, Reason.REJECTED, status=code, errors=errors, detail=clean_text(message or "", 80)
            )
        if code == 429 or code >= 500:
            return self._fail(op, Reason.UNAVAILABLE, status=code, uncertain=post and code not in (429, 503))
        return self._fail(op, Reason.UNEXPECTED, status=code)

    def _get_json(self, op: str, path: str, params: Mapping[str, Any] | None = None) -> Any | Outcome[Any]:
        response = self._request(op, "GET", path, params=params)
        if isinstance(response, Outcome):
            return response
        if response.status_code != 200:
            return self._classify(op, response)
        body = json_body(response)
        if not isinstance(body, Mapping):
            return self._fail(op, Reason.UNEXPECTED, status=200, detail="body is not a JSON object")
        return body

    # -- conversations ---------------------------------------------------------------
    def create_conversation(
        self,
        *,
        mailbox_id: int,
        subject: str,
        customer_email: str,
        body_html: str,
        tags: Sequence[str] = (),
        customer_first_name: str | None = None,
        status: str = "active",
        imported: bool = True,
    ) -> Outcome[CreatedConversation]:
        """Create an email conversation, then tag it (tags are a second call in FreeScout).

        The one thread is a **customer** thread from ``customer_email`` (the console's bot
        customer, ``CONSOLE_TICKET_CUSTOMER_EMAIL``): the ticket reads as an inbound request
        that waits for an operator, FreeScout builds its preview and "waiting since" from it,
        and creating does not depend on ``FREESCOUT_BOT_USER_ID`` (a note thread would need
        ``user``). Notes are for what the console adds later (``add_note``).

        ``imported=True`` by default: it suppresses FreeScout's outgoing email, notifications
        and auto-reply. The customer is our own bot address, so an auto-reply would go to
        ourselves (and could loop back into a mailbox); operators are alerted by Slack and see
        the mailbox. Pass ``imported=False`` to let FreeScout notify agents by email.

        A failed tag call never undoes or repeats the create: the outcome is ok and carries the
        conversation with ``tags_applied=False``; retry with ``apply_tags``. A failed create
        with ``uncertain=True`` may still have created the conversation — reconcile with
        ``find_by_reference`` (put the reference in ``subject``) before creating again.
        """
        op = "create_conversation"
        customer: dict[str, Any] = {"email": customer_email}
        if customer_first_name:
            customer["firstName"] = customer_first_name
        payload = {
            "type": "email",
            "mailboxId": mailbox_id,
            "subject": subject,
            "customer": customer,
            "threads": [{"type": "customer", "text": body_html, "customer": {"email": customer_email}}],
            "imported": imported,
            "status": status,
        }
        response = self._request(op, "POST", "conversations", body=payload)
        if isinstance(response, Outcome):
            return response
        created = self._created_id(op, response)
        if isinstance(created, Outcome):
            return created
        conversation_id, body = created
        conversation = parse_conversation(body)
        if conversation is not None and conversation.id != conversation_id:
            conversation = None
        wanted = _dedupe(tags)
        if not wanted:
            return Outcome(CreatedConversation(conversation_id, conversation, (), True))
        # A conversation created this instant has no tags (create takes none), so there is
        # nothing to read and merge: one PUT instead of a GET + PUT on the click's path.
        tagged = self._put_tags("apply_tags", conversation_id, list(wanted))
        return Outcome(
            CreatedConversation(
                id=conversation_id,
                conversation=conversation,
                tags=tagged.value if tagged.ok and tagged.value is not None else wanted,
                tags_applied=tagged.ok,
                tags_reason=tagged.reason,
            )
        )

    def apply_tags(self, conversation_id: int, tags: Sequence[str]) -> Outcome[tuple[str, ...]]:
        """Add ``tags`` to a conversation, keeping the ones it has; returns the full set.

        ``PUT …/tags`` replaces the set, so the current tags are read first (``embed=tags``)
        and merged. Safe to repeat: nothing is written when every tag is already there.
        """
        op = "apply_tags"
        current = self._get_conversation(op, conversation_id, embed="tags")
        if not current.ok or current.value is None:
            return Outcome(
                reason=current.reason,
                status_code=current.status_code,
                errors=current.errors,
                detail=current.detail,
            )
        existing = list(current.value.tags)
        merged = existing + [t for t in _dedupe(tags) if t.lower() not in {e.lower() for e in existing}]
        if len(merged) == len(existing):
            return Outcome(tuple(existing))
        return self._put_tags(op, conversation_id, merged)

    def _put_tags(self, op: str, conversation_id: int, tags: list[str]) -> Outcome[tuple[str, ...]]:
        """``PUT …/tags``: replaces the conversation's whole tag set with ``tags``."""
        response = self._request(op, "PUT", f"conversations/{conversation_id}/tags", body={"tags": tags})
        if isinstance(response, Outcome):
            return response
        if response.status_code not in (200, 204):
            return self._classify(op, response)
        return Outcome(tuple(tags))

    def get_conversation(
        self, conversation_id: int, embed: str | Sequence[str] | None = None
    ) -> Outcome[Conversation]:
        """One conversation. ``embed=None`` is FreeScout's default (threads); tags need
        ``embed="tags"`` (or ``("threads", "tags")``). A 404 is ``not_found``: not open."""
        return self._get_conversation("get_conversation", conversation_id, embed=embed)

    def _get_conversation(
        self, op: str, conversation_id: int, *, embed: str | Sequence[str] | None
    ) -> Outcome[Conversation]:
        params = {"embed": csv_param(embed)} if embed is not None else None
        body = self._get_json(op, f"conversations/{conversation_id}", params)
        if isinstance(body, Outcome):
            return body
        conversation = parse_conversation(body)
        if conversation is None:
            return self._fail(op, Reason.UNEXPECTED, status=200, detail="conversation has no id")
        return Outcome(conversation)

    def list_conversations(
        self,
        *,
        status: str | Sequence[str] = ALL_STATUSES,
        mailbox_id: int | Sequence[int] | None = None,
        tag: str | None = None,
        customer_email: str | None = None,
        subject: str | None = None,
        created_since: datetime | None = None,
        updated_since: datetime | None = None,
        number: int | None = None,
        page: int = 1,
        page_size: int = 50,
        sort_field: str | None = None,
        sort_order: str | None = None,
        embed: str | Sequence[str] | None = None,
    ) -> Outcome[ConversationPage]:
        """A page of conversations. ``status`` is always sent: FreeScout versions disagree on
        what an absent status means (docs: active only; code: all). ``tag`` takes one tag."""
        params: dict[str, Any] = {"status": csv_param(status or ALL_STATUSES)}
        optional = {
            "mailboxId": mailbox_id,
            "tag": tag,
            "customerEmail": customer_email,
            "subject": subject,
            "number": number,
            "sortField": sort_field,
            "sortOrder": sort_order,
            "embed": embed,
        }
        for key, value in optional.items():
            if value is not None and value != "":
                params[key] = csv_param(value)
        if created_since is not None:
            params["createdSince"] = format_datetime(created_since)
        if updated_since is not None:
            params["updatedSince"] = format_datetime(updated_since)
        params["page"] = max(1, int(page))
        params["pageSize"] = max(1, int(page_size))
        return self._list("list_conversations", params)

    def _list(self, op: str, params: dict[str, Any]) -> Outcome[ConversationPage]:
        body = self._get_json(op, "conversations", params)
        if isinstance(body, Outcome):
            return body
        raw = embedded_list(body, "conversations")
        if raw is None:
            return self._fail(op, Reason.UNEXPECTED, status=200, detail="no _embedded.conversations")
        items = tuple(c for c in (parse_conversation(item) for item in raw) if c is not None)
        page = parse_page(body, default_size=params["pageSize"], default_number=params["page"])
        return Outcome(ConversationPage(items=items, page=page))

    def find_by_reference(
        self, mailbox_id: int, ref: str, created_since: datetime
    ) -> Outcome[Conversation | None]:
        """The earliest conversation in ``mailbox_id`` whose subject contains ``ref``, created
        at or after ``created_since`` (any status) — or None.

        Reconcile-before-recreate: the create request carries ``ref`` in its subject, so a
        conversation that a timed-out create did make is found here. Pass a ``created_since``
        a little before the reservation time to absorb clock skew.
        """
        op = "find_by_reference"
        if not ref.strip():
            return self._fail(op, Reason.REJECTED, detail="empty reference")
        params = {
            "status": ALL_STATUSES,
            "mailboxId": str(mailbox_id),
            "subject": ref,
            "createdSince": format_datetime(created_since),
            "sortField": "createdAt",
            "sortOrder": "asc",
            "page": 1,
            "pageSize": 50,
        }
        listed = self._list(op, params)
        if not listed.ok or listed.value is None:
            return Outcome(
                reason=listed.reason,
                status_code=listed.status_code,
                errors=listed.errors,
                detail=listed.detail,
            )
        needle = ref.lower()
        for conversation in sorted(
            listed.value.items, key=lambda c: (c.created_at or datetime.min.replace(tzinfo=UTC), c.id)
        ):
            if needle in conversation.subject.lower() and (conversation.mailbox_id in (None, mailbox_id)):
                return Outcome(conversation)
        return Outcome(None)

    def update_conversation(
        self,
        conversation_id: int,
        *,
        status: str | None = None,
        subject: str | None = None,
        assign_to: int | None = None,
        mailbox_id: int | None = None,
    ) -> Outcome[None]:
        """``PUT /api/conversations/{id}`` (204) as the bot user (``byUser``)."""
        op = "update_conversation"
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if assign_to is not None:
            changes["assignTo"] = assign_to
        if mailbox_id is not None:
            changes["mailboxId"] = mailbox_id
        if subject is not None:
            changes["subject"] = subject
        if not changes:
            return Outcome()
        needs_user = bool({"status", "assignTo", "mailboxId"} & changes.keys())
        if needs_user and self.config.bot_user_id is None:
            return self._fail(op, Reason.NOT_CONFIGURED, missing=["FREESCOUT_BOT_USER_ID"])
        payload: dict[str, Any] = {}
        if self.config.bot_user_id is not None:
            payload["byUser"] = self.config.bot_user_id
        payload.update(changes)
        response = self._request(op, "PUT", f"conversations/{conversation_id}", body=payload)
        if isinstance(response, Outcome):
            return response
        if response.status_code not in (200, 204):
            return self._classify(op, response)
        return Outcome()

    def add_note(self, conversation_id: int, text_html: str, *, status: str | None = None) -> Outcome[int]:
        """Add an internal note by the bot user; returns the thread id. A note leaves the
        conversation's status alone unless ``status`` is given, and emails no customer."""
        op = "add_note"
        if self.config.bot_user_id is None:
            return self._fail(op, Reason.NOT_CONFIGURED, missing=["FREESCOUT_BOT_USER_ID"])
        payload: dict[str, Any] = {"type": "note", "text": text_html, "user": self.config.bot_user_id}
        if status is not None:
            payload["status"] = status
        response = self._request(op, "POST", f"conversations/{conversation_id}/threads", body=payload)
        if isinstance(response, Outcome):
            return response
        created = self._created_id(op, response)
        if isinstance(created, Outcome):
            return created
        return Outcome(created[0])

    def _created_id(self, op: str, response: httpx.Response) -> tuple[int, Any] | Outcome[Any]:
        """(new id, body) of a 200/201 create: ``Resource-ID``, else the body's ``id``.

        No id at all is *uncertain*: FreeScout may well have created the entity.
        """
        if response.status_code not in (200, 201):
            return self._classify(op, response, post=True)
        body = json_body(response)
        new_id = as_int(response.headers.get("Resource-ID"))
        if new_id is None and isinstance(body, Mapping):
            new_id = as_int(body.get("id"))
        if new_id is None:
            return self._fail(
                op,
                Reason.UNEXPECTED,
                status=response.status_code,
                uncertain=True,
                detail="no Resource-ID header and no id in the body",
            )
        return new_id, body

    # -- mailboxes -------------------------------------------------------------------
    def list_mailboxes(self) -> Outcome[tuple[Mailbox, ...]]:
        """Every mailbox the key can see (all pages). FreeScout has no GET mailboxes/{id}."""
        return self._list_mailboxes("list_mailboxes")

    def _list_mailboxes(self, op: str) -> Outcome[tuple[Mailbox, ...]]:
        mailboxes: list[Mailbox] = []
        for page in range(1, _MAX_MAILBOX_PAGES + 1):
            body = self._get_json(op, "mailboxes", {"page": page, "pageSize": 50})
            if isinstance(body, Outcome):
                return body
            raw = embedded_list(body, "mailboxes")
            if raw is None:
                return self._fail(op, Reason.UNEXPECTED, status=200, detail="no _embedded.mailboxes")
            for item in raw:
                mailbox_id = as_int(item.get("id"))
                if mailbox_id is None:
                    continue
                mailboxes.append(
                    Mailbox(
                        id=mailbox_id,
                        name=str(item.get("name") or ""),
                        email=item.get("email") if isinstance(item.get("email"), str) else None,
                        created_at=parse_datetime(item.get("createdAt")),
                        updated_at=parse_datetime(item.get("updatedAt")),
                    )
                )
            info = parse_page(body, default_size=50, default_number=page)
            if not raw or info.number >= info.total_pages:
                break
        return Outcome(tuple(mailboxes))

    def find_mailbox(self, mailbox_id: int) -> Outcome[Mailbox]:
        """One mailbox, looked up in the list; ``mailbox_not_found`` when it is not there."""
        op = "find_mailbox"
        listed = self._list_mailboxes(op)
        if not listed.ok or listed.value is None:
            return Outcome(reason=listed.reason, status_code=listed.status_code, detail=listed.detail)
        for mailbox in listed.value:
            if mailbox.id == mailbox_id:
                return Outcome(mailbox)
        return self._fail(
            op,
            Reason.MAILBOX_NOT_FOUND,
            status=200,
            detail=f"mailbox {mailbox_id} is not in the mailbox list",
        )


def _dedupe(tags: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        name = tag.strip() if isinstance(tag, str) else ""
        if name and name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


def _looks_like_cloudflare(response: httpx.Response) -> bool:
    if "cloudflare" in response.headers.get("server", "").lower() or "cf-ray" in response.headers:
        return True
    return "cloudflare" in response.text[:4000].lower()
