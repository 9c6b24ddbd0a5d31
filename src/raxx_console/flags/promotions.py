"""Flag promotion, staging → prod: mark on staging, promote on prod (rollout runbook, Step 4).

Flags flip within an env, never across. On staging an operator *marks* a flag's staging value
for promotion (``console.flags.promotion_marked``). Prod reads staging's open marks through the
peer link and an admin *promotes* one: prod's **database** value is written exactly as a toggle
on prod would write it (``console.flags.toggled``), then ``console.flags.promoted``, and the mark
is closed on staging through the peer link. Not a config var: an env pin outranks every later
toggle and would make the next rollback by one flip impossible (docs/decisions.md).

Refused, with nothing changed: a flag pinned by env on prod, a stale mark (the flag changed on
staging after it was marked), a mark already closed, a second promotion of the same mark (the
unique ``flag_promotions.mark_id`` settles two admins promoting at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raxx_console.audit import service as audit
from raxx_console.clock import Clock, iso
from raxx_console.config import Settings
from raxx_console.flags.models import FlagPromotion, FlagPromotionMark
from raxx_console.flags.registry import get_spec
from raxx_console.flags.service import FlagStore, UnknownFlag
from raxx_console.health.prereqs import ticketing_prereqs_missing

MAX_NOTE_LENGTH = 500
#: Staging's peer API (flags/promotion_views.py), read and written by prod through the peer link.
PEER_MARKS_PATH = "/api/peer/flags/marks"


class PromotionRefused(Exception):
    """A mark or promotion that cannot happen; ``reason`` is machine-readable, the message is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def parse_iso(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# --------------------------------------------------------------------------- staging: marks


def stale_reason(store: FlagStore, session: Session, mark: FlagPromotionMark) -> str | None:
    """Why the mark no longer says what staging runs (the flag changed after it), or None."""
    res = store.resolve_fresh(session, mark.flag)
    if res.updated_at is not None and res.updated_at > mark.marked_at:
        return f"changed on staging by {res.updated_by} after it was marked"
    if res.value != mark.value:
        return f"staging's value is now {'on' if res.value else 'off'} ({res.source})"
    return None


def mark_json(store: FlagStore, session: Session, mark: FlagPromotionMark) -> dict[str, Any]:
    """A mark as staging's peer API answers it."""
    stale = stale_reason(store, session, mark) if mark.closed_at is None else None
    return {
        "id": mark.id,
        "flag": mark.flag,
        "value": mark.value,
        "note": mark.note,
        "marked_by": mark.marked_by,
        "marked_at": iso(mark.marked_at),
        "open": mark.closed_at is None,
        "stale": stale is not None,
        "stale_reason": stale,
        "closed_at": iso(mark.closed_at),
        "closed_by": mark.closed_by,
        "closed_reason": mark.closed_reason,
    }


def mark(
    session: Session, clock: Clock, store: FlagStore, *, flag: str, note: str, actor: str, env: str
) -> FlagPromotionMark:
    """Mark the flag's current staging value for promotion; a newer mark replaces an open one."""
    if get_spec(flag) is None:
        raise UnknownFlag(flag)
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise PromotionRefused("note_too_long", f"the note must be at most {MAX_NOTE_LENGTH} characters")
    res = store.resolve_fresh(session, flag)
    now = clock.now()
    session.execute(
        update(FlagPromotionMark)
        .where(FlagPromotionMark.flag == flag, FlagPromotionMark.closed_at.is_(None))
        .values(closed_at=now, closed_by=actor, closed_reason="superseded")
    )
    row = FlagPromotionMark(flag=flag, value=res.value, note=note, marked_by=actor, marked_at=now)
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        action="console.flags.promotion_marked",
        actor=actor,
        selected_env=env,
        payload={"mark_id": row.id, "flag": flag, "value": res.value, "source": res.source, "note": note},
    )
    return row


def marks(session: Session, *, open_only: bool, limit: int = 50) -> list[FlagPromotionMark]:
    query = select(FlagPromotionMark).order_by(FlagPromotionMark.id.desc()).limit(limit)
    if open_only:
        query = query.where(FlagPromotionMark.closed_at.is_(None))
    return list(session.scalars(query))


def close_mark(
    session: Session, clock: Clock, *, mark_id: int, promoted_by: str, actor: str, env: str
) -> FlagPromotionMark:
    """Close an open mark because prod promoted it; refused if it is unknown or already closed."""
    closed = session.execute(  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        update(FlagPromotionMark)
        .where(FlagPromotionMark.id == mark_id, FlagPromotionMark.closed_at.is_(None))
        .values(closed_at=clock.now(), closed_by=promoted_by, closed_reason="promoted")
    ).rowcount
    row = session.get(FlagPromotionMark, mark_id)
    if row is None:
        raise PromotionRefused("unknown_mark", f"staging has no mark {mark_id}")
    if not closed:
        raise PromotionRefused("mark_closed", f"mark {mark_id} was already closed ({row.closed_reason})")
    session.refresh(row)
    audit.record(
        session,
        clock,
        action="console.flags.promotion_closed",
        actor=actor,
        selected_env=env,
        payload={"mark_id": mark_id, "flag": row.flag, "promoted_by": promoted_by},
    )
    return row


# --------------------------------------------------------------------------- prod: promote


@dataclass(frozen=True)
class PeerMark:
    """A mark as prod read it from staging's peer API."""

    id: int
    flag: str
    value: bool
    note: str
    marked_by: str
    marked_at: datetime
    open: bool
    stale: bool
    stale_reason: str | None

    @classmethod
    def from_json(cls, body: Any) -> PeerMark | None:
        """None when staging's answer is not a mark this console understands."""
        if not isinstance(body, dict):
            return None
        marked_at = parse_iso(body.get("marked_at"))
        fields = (body.get("id"), body.get("flag"), body.get("value"), body.get("marked_by"))
        if marked_at is None or not isinstance(fields[0], int) or not isinstance(fields[2], bool):
            return None
        if not isinstance(fields[1], str) or not isinstance(fields[3], str):
            return None
        return cls(
            id=fields[0],
            flag=fields[1],
            value=fields[2],
            note=str(body.get("note") or ""),
            marked_by=fields[3],
            marked_at=marked_at,
            open=body.get("open") is True,
            stale=body.get("stale") is True,
            stale_reason=body.get("stale_reason") if isinstance(body.get("stale_reason"), str) else None,
        )


def pinned_message(flag: str) -> str:
    return f"pinned by {flag}; unset the config var first, then promote"


def refusal(
    session: Session, store: FlagStore, settings: Settings, peer_mark: PeerMark
) -> PromotionRefused | None:
    """Why prod cannot promote this mark now, or None (read-only: the page shows it per row)."""
    if get_spec(peer_mark.flag) is None:
        return PromotionRefused("unknown_flag", f"{peer_mark.flag} is not a flag this console knows")
    if not peer_mark.open:
        return PromotionRefused("mark_closed", f"mark {peer_mark.id} is closed on staging")
    if session.scalar(select(FlagPromotion.id).where(FlagPromotion.mark_id == peer_mark.id)) is not None:
        return PromotionRefused("already_promoted", f"mark {peer_mark.id} has already been promoted")
    if peer_mark.stale:
        why = f": {peer_mark.stale_reason}" if peer_mark.stale_reason else ""
        return PromotionRefused("stale", f"the mark is stale{why}; mark it again on staging")
    if store.resolve_fresh(session, peer_mark.flag).pinned:
        return PromotionRefused("pinned", pinned_message(peer_mark.flag))
    spec = get_spec(peer_mark.flag)
    missing = ticketing_prereqs_missing(settings) if peer_mark.value and spec and spec.needs_ticketing else []
    if missing:
        return PromotionRefused(
            "prerequisites_missing",
            f"{peer_mark.flag} files FreeScout tickets and these are not set on prod: {', '.join(missing)}; "
            "set them first (incident runbook, Step 0), then promote",
        )
    return None


def promote(
    session: Session,
    clock: Clock,
    store: FlagStore,
    settings: Settings,
    *,
    peer_mark: PeerMark,
    actor: str,
    env: str,
) -> FlagPromotion:
    """Write prod's DB value as a toggle would, record the promotion once, audit both; the caller
    commits, clears the flag cache, then closes the mark on staging."""
    refused = refusal(session, store, settings, peer_mark)
    if refused is not None:
        raise refused
    before = store.resolve_fresh(session, peer_mark.flag)
    row = FlagPromotion(
        mark_id=peer_mark.id,
        flag=peer_mark.flag,
        from_value=before.value,
        to_value=peer_mark.value,
        marked_by=peer_mark.marked_by,
        marked_at=peer_mark.marked_at,
        promoted_by=actor,
        promoted_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another admin's promotion of this mark committed first
        raise PromotionRefused("already_promoted", f"mark {peer_mark.id} has already been promoted") from None
    store.set(session, peer_mark.flag, peer_mark.value, actor=actor, env=env)
    audit.record(
        session,
        clock,
        action="console.flags.promoted",
        actor=actor,
        selected_env=env,
        payload={
            "flag": peer_mark.flag,
            "from": before.value,
            "to": peer_mark.value,
            "marked_by": peer_mark.marked_by,
            "marked_at": iso(peer_mark.marked_at),
            "promoted_by": actor,
        },
    )
    return row


def owed_closes(session: Session) -> list[FlagPromotion]:
    """Promotions whose mark staging has not yet confirmed closed (it was unreachable then)."""
    return list(
        session.scalars(
            select(FlagPromotion).where(FlagPromotion.closed_on_peer_at.is_(None)).order_by(FlagPromotion.id)
        )
    )


def recent_promotions(session: Session, limit: int = 20) -> list[FlagPromotion]:
    return list(session.scalars(select(FlagPromotion).order_by(FlagPromotion.id.desc()).limit(limit)))
