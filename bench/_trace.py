"""Stage stamps of each alert's way to its tagged ticket (``alert_storm.py --trace``).

A ``sitecustomize`` the benchmark puts on the worker's path (the console has no tracing code)
wraps a few outbox and FreeScout functions in the worker and appends one JSON line per event to
``BENCH_TRACE`` (wall clock, like the benchmark's and the sandbox's stamps):

* ``wake``: the outbox waiter returned (a NOTIFY, a local wake-up or its timeout);
* ``claim``: a pool's claim statement, start and end, and the items it leased;
* ``deliver``: one item's delivery in its deliverer thread, start and end (settled);
* ``fs``: one FreeScout call (``create_conversation``, ``apply_tags`` …) of the item being
  delivered on that thread, sent and answered;
* ``job``: one cycle of another periodic job (status poller, deploys), start and end, and its
  CPU seconds, to see which of them overlap an alert's way.

``stages`` joins them with the outbox rows (``created_at``: the ingest's enqueue, in the web's
transaction) and the benchmark's own stamps (posted; the sandbox's created and tagged), per
alert, and ``report`` prints each stage's p50/p99.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

TRACE_ENV = "BENCH_TRACE"

HOOK = f"""
import functools, json, os, threading, time
argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")[:-1]
if argv[-1:] == [b"worker"] and any(a.endswith(b"raxx-console") for a in argv):
    from raxx_console import worker as worker_module
    from raxx_console.integrations import freescout_client
    from raxx_console.outbox import service
    out = open(os.environ["{TRACE_ENV}"], "a", buffering=1)
    lock, local = threading.Lock(), threading.local()
    def emit(**event):
        line = json.dumps(event)
        with lock:
            out.write(line + "\\n")
    def wait_for_work(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            finally:
                emit(e="wake", t=time.time())
        return run
    def claim(fn):
        @functools.wraps(fn)
        def run(console, statement, limit):
            t0 = time.time()
            items = fn(console, statement, limit)
            emit(e="claim", t0=t0, t1=time.time(), ids=[item.id for item in items])
            return items
        return run
    def deliver(fn):
        @functools.wraps(fn)
        def run(console, item_id, **kwargs):
            t0, local.item = time.time(), item_id
            try:
                return fn(console, item_id, **kwargs)
            finally:
                local.item = None
                emit(e="deliver", id=item_id, t0=t0, t1=time.time())
        return run
    def request(fn):
        @functools.wraps(fn)
        def run(self, op, *args, **kwargs):
            t0 = time.time()
            try:
                return fn(self, op, *args, **kwargs)
            finally:
                emit(e="fs", id=getattr(local, "item", None), op=op, t0=t0, t1=time.time())
        return run
    def run_job_once(fn):
        @functools.wraps(fn)
        def run(self, job):
            if job.name == "outbox":
                return fn(self, job)
            t0, c0 = time.time(), time.thread_time()
            try:
                return fn(self, job)
            finally:
                emit(e="job", name=job.name, t0=t0, t1=time.time(), cpu=time.thread_time() - c0)
        return run
    service.wait_for_work = wait_for_work(service.wait_for_work)
    service._claim = claim(service._claim)
    service.deliver = deliver(service.deliver)
    freescout_client.FreeScoutClient._request = request(freescout_client.FreeScoutClient._request)
    worker_module.Worker.run_job_once = run_job_once(worker_module.Worker.run_job_once)
"""

#: (name, from, to): each stage's span, between two of an alert's stamps.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("post → enqueued (web ingest)", "posted", "enqueued"),
    ("enqueued → claim started", "enqueued", "claim0"),
    ("  of which: enqueued → worker woke", "enqueued", "woke"),
    ("  of which: woke → claim started", "woke", "claim0"),
    ("claim (SQL)", "claim0", "claim1"),
    ("claimed → handler started", "claim1", "deliver0"),
    ("handler → create sent", "deliver0", "create0"),
    ("create sent → sandbox created", "create0", "created"),
    ("sandbox created → create answered", "created", "create1"),
    ("create answered → tag sent", "create1", "tag0"),
    ("tag sent → sandbox tagged", "tag0", "tagged"),
    ("total: posted → sandbox tagged", "posted", "tagged"),
    ("(after: tagged → item settled)", "tagged", "deliver1"),
)


def install(workdir: Path, trace_file: Path, environ: dict[str, str]) -> None:
    """Put the hook on the path of every Python started with ``environ`` from now on."""
    hook = workdir / "trace_hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    environ["PYTHONPATH"] = ":".join(filter(None, [str(hook), environ.get("PYTHONPATH")]))
    environ[TRACE_ENV] = str(trace_file)
    trace_file.unlink(missing_ok=True)


def events(trace_file: Path) -> list[dict]:
    if not trace_file.exists():
        return []
    return [json.loads(line) for line in trace_file.read_text().splitlines() if line.strip()]


def creates_by_check(db_url: str, check_of: Callable[[str], str | None]) -> dict[str, tuple[int, float]]:
    """check → (its ``freescout.create`` item id, the item's ``created_at`` as a wall-clock second)."""
    from sqlalchemy import create_engine, text

    from raxx_console.db import normalize_url

    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT o.id, o.created_at, t.subject FROM outbox o JOIN tickets t ON t.id = o.ticket_pk"
                    " WHERE o.kind = 'freescout.create'"
                )
            ).all()
    finally:
        engine.dispose()
    found = {}
    for item_id, created_at, subject in rows:
        check = check_of(subject)
        if check is not None:
            found[check] = (item_id, created_at.replace(tzinfo=UTC).timestamp())
    return found


def stages(
    trace: list[dict],
    creates: dict[str, tuple[int, float]],
    posted: dict[str, float],
    sandbox: dict[str, dict],
) -> dict[str, dict[str, float]]:
    """Per alert: every stamp of its way (see ``STAGES``) that the trace holds."""
    claims = {item: event for event in trace if event["e"] == "claim" for item in event["ids"]}
    delivers = {event["id"]: event for event in trace if event["e"] == "deliver"}
    wakes = sorted(event["t"] for event in trace if event["e"] == "wake")
    calls: dict[tuple[int, str], dict] = {}
    for event in trace:
        if event["e"] == "fs" and event["id"] is not None:
            calls.setdefault((event["id"], event["op"]), event)
    per_alert = {}
    for check, (item_id, enqueued) in creates.items():
        if check not in posted or item_id not in claims or check not in sandbox:
            continue
        claim, delivered = claims[item_id], delivers.get(item_id)
        stamps = {
            "posted": posted[check],
            "enqueued": enqueued,
            "claim0": claim["t0"],
            "claim1": claim["t1"],
            "created": sandbox[check]["t"],
            "tagged": sandbox[check]["tagged"],
        }
        woke = [t for t in wakes if enqueued <= t <= claim["t0"]]
        if woke:  # the wake-up that led to the claim (none: a running loop claimed it)
            stamps["woke"] = woke[-1]
        if delivered is not None:
            stamps["deliver0"], stamps["deliver1"] = delivered["t0"], delivered["t1"]
        for op, name in (("create_conversation", "create"), ("apply_tags", "tag")):
            call = calls.get((item_id, op))
            if call is not None:
                stamps[f"{name}0"], stamps[f"{name}1"] = call["t0"], call["t1"]
        per_alert[check] = stamps
    return per_alert


def overlapping_jobs(trace: list[dict], per_alert: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    """Per periodic job: the CPU seconds of its cycles that ran while some alert was on its way."""
    spans = [(s["posted"], s["tagged"]) for s in per_alert.values() if s.get("tagged")]
    found: dict[str, list[float]] = {}
    for event in trace:
        if event["e"] == "job" and any(event["t0"] < end and event["t1"] > start for start, end in spans):
            found.setdefault(event["name"], []).append(event["cpu"])
    return found


def report(name: str, per_alert: dict[str, dict[str, float]], trace: list[dict], percentile) -> None:
    """Each stage's p50/p99 (ms) over the phase's alerts; the slowest alerts' stages beside."""
    print(f"\nstages of {name} ({len(per_alert)} alerts traced), ms:")
    print(f"  {'stage':<38} {'p50':>7} {'p99':>7} {'max':>7}")
    for label, start, end in STAGES:
        spans = [(s[end] - s[start]) * 1000 for s in per_alert.values() if start in s and end in s]
        if spans:
            p50, p99 = percentile(spans, 50), percentile(spans, 99)
            print(f"  {label:<38} {p50:>7.1f} {p99:>7.1f} {max(spans):>7.1f}")
    slowest = sorted(per_alert.items(), key=lambda kv: kv[1]["tagged"] - kv[1]["posted"])[-3:]
    for check, s in reversed(slowest):
        parts = [
            f"{label.split(' (')[0].strip()} {(s[end] - s[start]) * 1000:.0f}"
            for label, start, end in STAGES[:-2]
            if start in s and end in s
        ]
        beside = [
            f"{event['name']} cycle ({event['cpu'] * 1000:.0f} ms CPU)"
            for event in trace
            if event["e"] == "job" and event["t0"] < s["tagged"] and event["t1"] > s["posted"]
        ]
        if beside:
            parts.append(f"beside it: {', '.join(beside)}")
        print(f"  slow: {check}: " + "; ".join(parts))
    for job, cpus in overlapping_jobs(trace, per_alert).items():
        print(
            f"  {job}: {len(cpus)} cycles overlapped an alert's way, "
            f"CPU per cycle p50 {percentile(cpus, 50) * 1000:.1f} ms, max {max(cpus) * 1000:.1f} ms"
        )
