"""Steps the alerts tests share: flags, emissions, poll cycles, and the rows and sandboxes to look at."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from raxx_console.alerts import alert_aggregator
from raxx_console.alerts.emission import AlertSignal
from raxx_console.alerts.models import Alert, AlertDecision
from raxx_console.context import Console
from raxx_console.flags.registry import AUTO_RESOLVE_FLAG, AUTO_TICKET_FLAG
from raxx_console.outbox import service as outbox
from raxx_console.outbox.models import OutboxItem
from raxx_console.status import poller
from raxx_console.tickets.models import Ticket

__all__ = ["AUTO_RESOLVE_FLAG", "AUTO_TICKET_FLAG"]

FILED = "console.alerts.ticket_filed"


def set_flag(console: Console, name: str, value: bool = True) -> None:
    console.flags.change(
        name, value, settings=console.settings, actor="test", env="development", confirm=True
    )


def signal(
    check: str = "disk-full", severity: str = "P2", status: str = "firing", **extra: Any
) -> AlertSignal:
    """An alert from an external source ("ci"), as ingest hands it to ``emit``."""
    values: dict[str, Any] = {
        "source": "ci",
        "check": check,
        "severity": severity,
        "title": f"{check} on db-1",
        "details": "98% used",
        "labels": {"host": "db-1"},
        "status": status,
    }
    values.update(extra)
    return AlertSignal(**values)


def fire(
    console: Console, severity: str = "P2", *, check: str = "disk-full", status: str = "firing", **extra: Any
):
    """One emission from an external source ("ci"), committed on its own."""
    return alert_aggregator.emit(console, signal(check, severity, status, **extra))


def deliver(console: Console) -> int:
    """Everything due in the outbox, delivered now (real HTTP to the sandboxes)."""
    return outbox.deliver_due(console)


def poll(console: Console, cycles: int = 1, *, every: float = 30.0) -> None:
    """``cycles`` poll cycles, each followed by the outbox, moving the clock one interval each."""
    for _ in range(cycles):
        console.clock.advance(every)  # type: ignore[attr-defined]
        poller.poll_once(console)
        deliver(console)


def rows(console: Console, model: Any, *where: Any) -> list[Any]:
    """Rows of ``model`` in primary-key order, detached."""
    order = model.__mapper__.primary_key
    with console.db.session() as session:
        found = list(session.scalars(select(model).where(*where).order_by(*order)))
        session.expunge_all()
    return found


def tickets(console: Console) -> list[Ticket]:
    return rows(console, Ticket)


def items(console: Console, kind: str) -> list[OutboxItem]:
    return rows(console, OutboxItem, OutboxItem.kind == kind)


def alert(console: Console, alert_key: str) -> Alert:
    [found] = rows(console, Alert, Alert.alert_key == alert_key)
    return found


def decisions(console: Console, alert_key: str, hook: str | None = None) -> list[AlertDecision]:
    where = [AlertDecision.alert_key == alert_key]
    if hook is not None:
        where.append(AlertDecision.hook == hook)
    return rows(console, AlertDecision, *where)


def decided(console: Console, alert_key: str, hook: str) -> list[str]:
    return [d.decision for d in decisions(console, alert_key, hook)]


def lines(caplog: Any, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def wait_for(condition: Callable[[], object], attempts: int = 600) -> bool:
    """Poll ``condition`` every 0.1 s (a liveness bound only: 60 s at most, usually milliseconds)."""
    pause = threading.Event()
    for _ in range(attempts):
        if condition():
            return True
        pause.wait(0.1)
    return False
