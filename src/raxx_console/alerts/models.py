"""Alerts (one row per alert identity, across all its lifetimes), their decisions, and worker heartbeats.

An ``Alert`` is keyed by ``alert_id = sha256(source \\x00 check)``: it never changes with severity
or time, so every emission of a persistent alert lands on the same row, and the row (not an
in-process cache) is the durable ``alert_key → ticket`` mapping the incident runbook asks for.
``lifetime`` counts fire → resolve cycles; ``ticket_pk`` is the Ticket serving the current (or
last) lifetime and ``ticket_lifetime`` the lifetime it was confirmed for.

An ``AlertDecision`` answers "why no ticket? why two?": what each hook decided on an emission,
and why. A decision is written only when it differs from the hook's latest, so a firing alert
does not write a row per cycle; how often it repeated is the alert row's ``emit_count`` and
``last_emit_at`` (a repeat moves only those counters, and no index covers them). The row's
``quiet_digest`` lets a quiet repeat skip reading the hooks' latest decisions (see
``store.DecisionLog``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from raxx_console.db import Base, BigId, JSONDocument

FIRING = "firing"
RESOLVED = "resolved"


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: sha256 hex of ``source \x00 check``: the same in every lifetime.
    alert_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    #: ``<source>:<alert_id[:16]>``, the runbooks' idempotency key.
    alert_key: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    check: Mapped[str] = mapped_column(String(255), nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False)
    severity: Mapped[str] = mapped_column(String(2), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONDocument, nullable=False, default=dict)
    #: From the ``surface_id`` label: links the alert to a status tile (and entry A's tickets).
    #: Not indexed: no query reads alerts by it (migration 0014).
    surface_id: Mapped[str | None] = mapped_column(String(100))
    lifetime: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(nullable=False)
    #: When the current lifetime fired.
    fired_at: Mapped[datetime] = mapped_column(nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column()
    last_emit_at: Mapped[datetime] = mapped_column(nullable=False)
    #: Emissions in the current lifetime (repeats included).
    emit_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ticket_pk: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    ticket_lifetime: Mapped[int | None] = mapped_column(Integer)
    #: Slack bookkeeping: the last DM event (fire, change, resolve, reminder) and a sequence for dedup keys.
    slack_notified_at: Mapped[datetime | None] = mapped_column()
    slack_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: Digest of the decisions of the last quiet repeat, which were then every hook's latest;
    #: None once any other decision is written (``store.record_decision``, a first fire).
    quiet_digest: Mapped[int | None] = mapped_column(BigInteger)


class AlertDecision(Base):
    __tablename__ = "alert_decisions"
    __table_args__ = (Index("ix_alert_decisions_alert_hook", "alert_pk", "hook", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_pk: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False)
    alert_key: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    lifetime: Mapped[int] = mapped_column(Integer, nullable=False)
    #: ``aggregator`` for the emission itself, else the hook's name (``slack_dm``, ``auto_ticket`` …).
    hook: Mapped[str] = mapped_column(String(40), nullable=False)
    #: What happened to the alert: fire, repeat, severity_change, resolve.
    event: Mapped[str] = mapped_column(String(20), nullable=False)
    decision: Mapped[str] = mapped_column(String(30), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    severity: Mapped[str] = mapped_column(String(2), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    #: The Ticket row the decision is about, if any.
    ticket_pk: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(nullable=False)
