"""``/metrics``: the pipeline's health in Prometheus' text format, derived at scrape time.

Every series is read from the database when Prometheus scrapes (a custom Collector over
``panel.collect``), never counted in process memory: web and worker are separate processes
(the worker, which delivers tickets, serves no HTTP), and gunicorn runs several web workers,
so in-process counters would each see a slice and reset on every restart. The audit log,
outbox and poller heartbeat are shared by all of them, append-only where it matters, so the
counters here are the same whichever web worker answers, and survive deploys.

Counters come from rows that are never rewritten (audit rows; outbox items that ended), so they
only grow. Failed *attempts* that are still being retried are a gauge (``outbox_retrying``):
the outbox keeps an item's last reason, not a row per attempt. Likewise the poll cycle is the
leader's last one (``poller_last_cycle_seconds``), as its heartbeat row keeps it; its
distribution is ``quantile_over_time(0.99, raxx_console_poller_last_cycle_seconds[1h])`` in
PromQL rather than a per-process Summary that each gunicorn worker would only partly see.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from raxx_console.context import Console
from raxx_console.health import panel
from raxx_console.status.surfaces import STATUSES

log = logging.getLogger("raxx_console.health")

PREFIX = "raxx_console"


class PipelineCollector(Collector):
    """Reads one health snapshot per scrape and renders it as metric families."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def collect(self) -> Iterator[Metric]:
        try:
            with self.console.db.session() as session:
                snapshot = panel.collect(self.console, session)
        except SQLAlchemyError:
            log.warning("metrics scrape could not read the database; serving the up gauge only")
            yield _gauge("health_collect_success", "1 when the database could be read for this scrape.", 0)
            return
        yield _gauge("health_collect_success", "1 when the database could be read for this scrape.", 1)
        yield from snapshot_metrics(snapshot)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def snapshot_metrics(snapshot: panel.Snapshot) -> Iterator[Metric]:
    """The snapshot as metric families; names are documented in each family's HELP."""
    now = snapshot.generated_at

    filed = CounterMetricFamily(
        f"{PREFIX}_tickets_filed",
        "Tickets created in FreeScout by entry (status: Investigate, alert: alerts), from the audit log.",
        labels=["entry"],
    )
    for entry, count in snapshot.tickets_filed.items():
        filed.add_metric([entry], count)
    yield filed

    if snapshot.last_ticket is not None:
        yield _gauge(
            "last_ticket_filed_timestamp_seconds",
            "When the newest ticket was filed (Unix time).",
            snapshot.last_ticket.at.timestamp(),
        )

    failures = CounterMetricFamily(
        f"{PREFIX}_delivery_failures",
        "Outbox calls to FreeScout or Slack that ended failed or expired, by reason.",
        labels=["component", "kind", "reason"],
    )
    for (component, kind, reason), count in snapshot.failures.items():
        failures.add_metric([component, kind, reason], count)
    yield failures

    pending = GaugeMetricFamily(f"{PREFIX}_outbox_pending", "Pending outbox items, by kind.", labels=["kind"])
    retrying = GaugeMetricFamily(
        f"{PREFIX}_outbox_retrying",
        "Pending outbox items whose last attempt failed (e.g. freescout_unavailable), by kind.",
        labels=["kind"],
    )
    oldest = GaugeMetricFamily(
        f"{PREFIX}_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox item, by kind.",
        labels=["kind"],
    )
    for backlog in snapshot.backlog:
        pending.add_metric([backlog.kind], backlog.pending)
        retrying.add_metric([backlog.kind], backlog.retrying)
        oldest.add_metric([backlog.kind], (now - backlog.oldest_created_at).total_seconds())
    yield from (pending, retrying, oldest)
    yield _gauge(
        "outbox_oldest_due_age_seconds",
        "How long the oldest due, unleased outbox item has waited for a deliverer (0: none waiting).",
        (now - snapshot.oldest_due_at).total_seconds() if snapshot.oldest_due_at else 0,
    )

    poller = snapshot.heartbeats.get(panel.POLLER)
    if poller is not None and poller.last_cycle_at is not None:
        yield _gauge(
            "poller_last_cycle_timestamp_seconds",
            "When the status_poller leader last finished a cycle (Unix time).",
            poller.last_cycle_at.timestamp(),
        )
        if poller.last_cycle_seconds is not None:
            yield _gauge(
                "poller_last_cycle_seconds", "How long the last poll cycle took.", poller.last_cycle_seconds
            )
        if isinstance(poller.detail.get("surfaces"), int):
            yield _gauge(
                "poller_last_cycle_surfaces", "Surfaces probed in the last cycle.", poller.detail["surfaces"]
            )
    yield _gauge(
        "poller_stale",
        "1 when no poll cycle has finished for two intervals (or none ever has).",
        1 if poller is None or poller.stale else 0,
    )

    surfaces = GaugeMetricFamily(
        f"{PREFIX}_surface_status",
        "1 for each surface's current status (as the tile shows it), 0 for the others.",
        labels=["surface_id", "status"],
    )
    for surface_id, current in snapshot.surfaces.items():
        for status in STATUSES:
            surfaces.add_metric([surface_id, status], 1 if status == current else 0)
    yield surfaces

    yield _gauge(
        "ticketing_prerequisites_missing",
        "How many runbook Step 0 env vars are unset (names in ticketing_prerequisite_missing).",
        len(snapshot.prereqs_missing),
    )
    overdue = GaugeMetricFamily(
        f"{PREFIX}_secret_overdue",
        "1 for each registry secret past its maximum age (/secrets; the name only, never a value).",
        labels=["name"],
    )
    for name in snapshot.secrets_overdue:
        overdue.add_metric([name], 1)
    yield overdue

    missing = GaugeMetricFamily(
        f"{PREFIX}_ticketing_prerequisite_missing",
        "1 for each ticketing prerequisite env var that is unset (the name only, never a value).",
        labels=["name"],
    )
    for name in snapshot.prereqs_missing:
        missing.add_metric([name], 1)
    yield missing

    flags = GaugeMetricFamily(
        f"{PREFIX}_ticketing_flag_enabled",
        "1 when a flag that files tickets is on; source is env, db or default.",
        labels=["flag", "source"],
    )
    for flag in snapshot.flags:
        flags.add_metric([flag.name, flag.source], 1 if flag.value else 0)
    yield flags

    yield _gauge(
        "tickets_blocked",
        "1 while the health panel's banner names something that stops tickets.",
        1 if snapshot.stops_tickets else 0,
    )
    problems = GaugeMetricFamily(
        f"{PREFIX}_health_problem",
        "1 for each problem on the health panel's banner, by code and severity (stop or warn).",
        labels=["code", "severity"],
    )
    for problem in snapshot.problems:
        problems.add_metric([problem.code, problem.severity], 1)
    yield problems


def registry_for(console: Console) -> CollectorRegistry:
    """A registry holding only this Console's collector (test apps each get their own)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(console))
    return registry
