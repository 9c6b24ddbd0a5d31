"""Rows the health panel and /metrics read, written the way the pipeline writes them."""

from __future__ import annotations

from datetime import timedelta

from raxx_console.audit import service as audit
from raxx_console.outbox import service as outbox
from raxx_console.worker import WorkerHeartbeat

ALL_PREREQS = {
    "FREESCOUT_API_URL": "http://127.0.0.1:9",
    "FREESCOUT_INSTANCE_URL": "http://127.0.0.1:9",
    "FREESCOUT_API_KEY": "sentinel-fs-key-0c4e7b",
    "FREESCOUT_OPERATIONS_MAILBOX_ID": 2,
    "FREESCOUT_BOT_USER_ID": 1,
    "CF_ACCESS_SVC_TICKETS_CLIENT_ID": "sentinel-cf-id.access",
    "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": "sentinel-cf-secret-9a1f",
}


def turn_on(console, flag="FLAG_CONSOLE_ALERTS_AUTO_TICKET"):
    console.flags.change(flag, True, settings=console.settings, actor="test", env="development", confirm=True)


def filed(console, action, **payload):
    """An audit row as entry A or B writes it after a filing."""
    with console.db.session() as session:
        audit.record(
            session,
            console.clock,
            action=action,
            actor="system:test",
            selected_env="development",
            payload=payload,
        )


def enqueue(console, key, kind="freescout.create"):
    with console.db.session() as session:
        return outbox.enqueue(session, console.clock, kind=kind, dedup_key=key, payload={}).id


def finish(console, item_id, result):
    """What a deliverer records after one attempt."""
    outbox.record(console, item_id, result)


def heartbeat(console, *, cycle_ago, seconds=0.42, surfaces=6, name="status_poller"):
    now = console.clock.now()
    with console.db.session() as session:
        session.merge(
            WorkerHeartbeat(
                name=name,
                holder="worker.1:4242",
                since=now - timedelta(hours=1),
                last_cycle_at=now - timedelta(seconds=cycle_ago),
                last_cycle_seconds=seconds,
                detail={"surfaces": surfaces},
            )
        )
