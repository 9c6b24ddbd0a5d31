"""Benchmark: the outbox draining a backlog, and the backlog an outage leaves behind.

    .venv/bin/python bench/drain.py [--tickets 500] [--outage-alerts 500] [--outage-seconds 240]
                                    [--latency-ms 100] [--slack-concurrency N] [--profile FILE]

The production split on PostgreSQL (``TEST_DATABASE_URL``; a database of its own, dropped after):
``raxx-console web`` and one ``raxx-console worker``, with ``FLAG_CONSOLE_ALERTS_AUTO_TICKET`` on,
the FreeScout and Slack sandboxes over real HTTP in a child process answering after L (the
storm benchmark's, which notes when each conversation was created and when it was tagged).
Each alert is a distinct P2: one ticket (create + tags = 2 FreeScout calls), one Slack DM and
its ticket-link reply in the DM's thread.

* **backlog**: the worker is stopped (SIGSTOP) while ``--tickets`` alerts are posted, then
  continued: drain rate = tickets / (continue → last ticket tagged), and the worker's CPU per
  ticket over the drain (its DMs and links included). Target >= 60 tickets/s.
* **outage**: FreeScout and Slack in fault mode ``down`` (503 at once, over HTTP) while
  ``--outage-alerts`` alerts arrive and the worker keeps trying for ``--outage-seconds``; then
  both answer again. Measured: recovery → last ticket tagged (target <= 30 s) and → last DM,
  and duplicates (conversations per alert, DMs per alert; target 0). The default is the issue's
  case, 4 minutes of outage: each item has backed off on its own (5, 10, 20 … s, capped at
  5 min), so before recovery the benchmark prints retries due up to ~290 s out (the issue saw
  154 s) — far beyond the 30 s window, so the backlog can drain in time only by recovery (a
  probe that finds the service answering makes every waiting item due), not by each item's own
  backoff. A shorter ``--outage-seconds``
  leaves the retries closer (60 s: up to ~40 s out) and is not the issue's case.

``--slack-concurrency N`` sizes the Slack pool (``OUTBOX_SLACK_CONCURRENCY``) for the run, to
compare pool sizes in the same conditions.

``--profile FILE`` runs the worker under cProfile, every thread (a ``sitecustomize`` the
benchmark puts on the worker's path; the console has no profiling code), and prints its top
functions by own time after the run; the figures of a profiled run are slower.
It is a benchmark: it prints a table, records its targets in the summary and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _summary import record
from alert_storm import (
    CHECK,
    BackendPids,
    Resources,
    chunks,
    console_poster,
    cpu_seconds,
    create_database,
    created,
    operator_token,
    run_bounded,
    start_console,
    start_sandboxes,
    wait_until,
    worker_pid,
)

ROOT = Path(__file__).resolve().parents[1]
DRAIN_TARGET = 60.0
PROFILE_ENV = "BENCH_DRAIN_PROFILE"
#: Loaded by every Python the benchmark starts while profiling; acts in the worker only: each
#: outbox delivery and each claiming loop runs under its thread's own cProfile.Profile, timed in
#: thread CPU time (waits cost nothing).
PROFILE_HOOK = f"""
import atexit, cProfile, functools, os, pstats, threading, time
argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")[:-1]
if argv[-1:] == [b"worker"] and any(a.endswith(b"raxx-console") for a in argv):
    from raxx_console.outbox import service
    local, profiles = threading.local(), []
    def profiled(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if getattr(local, "profile", None) is None:
                local.profile = cProfile.Profile(time.thread_time)
                profiles.append(local.profile)
            if getattr(local, "depth", 0):
                return fn(*args, **kwargs)
            local.depth = 1
            local.profile.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                local.profile.disable()
                local.depth = 0
        return run
    service.deliver = profiled(service.deliver)
    service.deliver_due = profiled(service.deliver_due)
    def save():
        stats = None
        for profile in profiles:
            stats = pstats.Stats(profile) if stats is None else stats.add(profile)
        if stats is not None:
            stats.dump_stats(os.environ["{PROFILE_ENV}"])
    atexit.register(save)
"""
RECOVERY_TARGET = 30.0


def faults(urls: dict, mode: str, latency_ms: int) -> None:
    """Both third parties in ``mode``, through their sandboxes' fault endpoints."""
    latency = 0 if mode == "down" else latency_ms
    for base in (urls["freescout"], urls["slack"]):
        response = httpx.post(
            f"{base}/_sandbox/faults", json={"mode": mode, "latency_ms": latency}, timeout=10
        )
        response.raise_for_status()


def tickets_of(urls: dict, prefix: str) -> dict[str, list[dict]]:
    """Conversations per check of the phase (more than one is a duplicate)."""
    found: dict[str, list[dict]] = {}
    for row in created(urls["freescout"]):
        match = CHECK.search(row["subject"])
        if match and match.group(1).startswith(prefix):
            found.setdefault(match.group(1), []).append(row)
    return found


def dms_of(urls: dict, prefix: str) -> tuple[Counter[str], list[float], set[str]]:
    """The DMs (not thread replies) per check of the phase, when each message was posted, and the
    checks whose ticket link reached Slack (in the DM, or as a reply in its thread)."""
    messages = httpx.get(f"{urls['slack']}/_sandbox/messages", timeout=10).json()
    per_check: Counter[str] = Counter()
    times = []
    linked = set()
    for message in messages:
        match = CHECK.search(message["text"])
        if match and match.group(1).startswith(prefix):
            times.append(float(message["ts"]))
            if "thread_ts" not in message:
                per_check[match.group(1)] += 1
            if "Ticket #" in message["text"]:
                linked.add(match.group(1))
    return per_check, times, linked


def exited(pid: int) -> bool:
    """The process has ended (gone, or a zombie its parent has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def post_all(post, checks: list[str]) -> None:
    for batch in chunks(checks, 50):
        problem = post(batch)
        if problem:
            raise SystemExit(f"posting alerts failed: {problem}")


def all_tagged(urls: dict, prefix: str, count: int) -> bool:
    found = tickets_of(urls, prefix)
    return len(found) >= count and all(any(r["tagged"] for r in rows) for rows in found.values())


def backlog_phase(args, urls: dict, post, worker: int, others: dict[str, list[int]]) -> dict:
    checks = [f"backlog-{i:05d}" for i in range(args.tickets)]
    print(f"backlog: {len(checks)} alerts posted with the worker stopped …", flush=True)
    os.kill(worker, signal.SIGSTOP)
    try:
        post_all(post, checks)
    finally:
        cpu = cpu_seconds([worker])[worker]
        beside = {name: sum(cpu_seconds(pids).values()) for name, pids in others.items()}
        started = time.time()
        os.kill(worker, signal.SIGCONT)
    wait_until(
        lambda: all_tagged(urls, "backlog-", len(checks)), 60 + len(checks) * 0.5, "the backlog", step=0.1
    )
    tagged = max(
        min(r["tagged"] for r in rows if r["tagged"]) for rows in tickets_of(urls, "backlog-").values()
    )
    used = cpu_seconds([worker])[worker] - cpu
    seconds = tagged - started
    # Not timed: the phase's ticket links settle before the next phase, which measures its own.
    wait_until(lambda: len(dms_of(urls, "backlog-")[2]) >= len(checks), 120, "the backlog's ticket links")
    return {
        "tickets": len(checks),
        "seconds": seconds,
        "rate": len(checks) / seconds,
        "cpu_ms": used * 1000 / len(checks),
        "beside": {
            name: (sum(cpu_seconds(pids).values()) - beside[name]) * 1000 / len(checks)
            for name, pids in others.items()
        },
    }


def outage_phase(args, urls: dict, post, worker: int, db_url: str) -> dict:
    checks = [f"outage-{i:05d}" for i in range(args.outage_alerts)]
    print(
        f"outage: FreeScout and Slack down; {len(checks)} alerts, then {args.outage_seconds} s of outage …",
        flush=True,
    )
    faults(urls, "down", args.latency_ms)
    down_at = time.monotonic()
    post_all(post, checks)
    time.sleep(max(0.0, args.outage_seconds - (time.monotonic() - down_at)))
    waiting = retries_out(db_url)
    print(
        f"  before recovery: {waiting['pending']} items pending ("
        + ", ".join(f"{kind} {n}" for kind, n in waiting["by_kind"].items())
        + f"), {waiting['unavailable']} waiting out an outage; their retries are due up to "
        f"{waiting['furthest_s']:.0f} s from now",
        flush=True,
    )
    cpu = cpu_seconds([worker])[worker]
    recovered = time.time()
    faults(urls, "ok", args.latency_ms)
    wait_until(lambda: all_tagged(urls, "outage-", len(checks)), 300, "the tickets after recovery", step=0.2)
    wait_until(lambda: sum(dms_of(urls, "outage-")[0].values()) >= len(checks), 300, "the DMs after recovery")
    wait_until(lambda: len(dms_of(urls, "outage-")[2]) >= len(checks), 300, "the ticket links after recovery")
    time.sleep(2.0)  # long enough for a duplicate to show
    found = tickets_of(urls, "outage-")
    per_check, posted, _linked = dms_of(urls, "outage-")
    last_tag = max(min(r["tagged"] for r in rows if r["tagged"]) for rows in found.values())
    return {
        "alerts": len(checks),
        "tickets": sum(len(rows) for rows in found.values()),
        "ticket_dupes": sum(len(rows) - 1 for rows in found.values()),
        "dm_dupes": sum(n - 1 for n in per_check.values() if n > 1),
        "messages": len(posted),
        "to_last_tag": last_tag - recovered,
        "to_last_message": max(posted) - recovered,
        "cpu_ms": (cpu_seconds([worker])[worker] - cpu) * 1000 / len(checks),
        **waiting,
    }


def retries_out(db_url: str) -> dict:
    """How the backlog waits: pending items, those waiting out an outage, the furthest retry."""
    from sqlalchemy import create_engine, text

    from raxx_console.db import normalize_url

    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            pending, unavailable, furthest = conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE last_reason LIKE '%_unavailable'),"
                    " coalesce(extract(epoch FROM max(next_attempt_at) - now() AT TIME ZONE 'UTC'), 0)"
                    " FROM outbox WHERE state = 'pending'"
                )
            ).one()
            by_kind = dict(
                conn.execute(
                    text("SELECT kind, count(*) FROM outbox WHERE state = 'pending' GROUP BY kind ORDER BY 1")
                ).all()
            )
    finally:
        engine.dispose()
    return {"pending": pending, "unavailable": unavailable, "furthest_s": float(furthest), "by_kind": by_kind}


def run(args) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    workdir = Path(tempfile.mkdtemp(prefix="raxx-drain-"))
    watch = Resources(workdir)
    watch.stack.callback(shutil.rmtree, workdir, True)
    if args.profile:
        hook = workdir / "profile_hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(PROFILE_HOOK)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
        os.environ[PROFILE_ENV] = str(Path(args.profile).resolve())
        Path(args.profile).unlink(missing_ok=True)
    if args.slack_concurrency:
        os.environ["OUTBOX_SLACK_CONCURRENCY"] = str(args.slack_concurrency)
    with watch.stack:
        db_url = create_database(watch)
        surfaces_file = workdir / "surfaces.toml"
        urls = start_sandboxes(watch, args.latency_ms, surfaces_file)
        token = operator_token(db_url)
        settings = argparse.Namespace(web_workers=2)
        base, _web = start_console(watch, settings, db_url, urls, surfaces_file)
        client = watch.stack.enter_context(httpx.Client(timeout=120))
        post = console_poster(client, base, token)
        worker = worker_pid()
        post_all(post, ["warmup-0000"])  # the worker's first delivery (imports, connections)
        wait_until(lambda: all_tagged(urls, "warmup-", 1), 60, "the warm-up ticket")
        backends = BackendPids(db_url)
        watch.stack.callback(backends.conn.close)
        others = {"sandboxes": [urls["pid"]], "PostgreSQL": backends()}
        backlog = backlog_phase(args, urls, post, worker, others) if args.tickets else None
        outage = outage_phase(args, urls, post, worker, db_url) if args.outage_alerts else None
        if args.profile:
            os.kill(worker, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: exited(worker), 20, "the worker to write its profile")
        report(args, backlog, outage)
        if "Traceback" in (workdir / "worker.log").read_text(errors="replace"):
            print(f"\nnote: the worker log has a traceback; its tail:\n{watch.tail('worker')}")
    if args.profile and Path(args.profile).exists():
        import pstats

        print(f"\nworker profile ({args.profile}), top 25 by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    return 0


def report(args, backlog: dict | None, outage: dict | None) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    pools = f"Slack pool {args.slack_concurrency}" if args.slack_concurrency else "default pools"
    print(
        f"\noutbox drain: L={args.latency_ms} ms, PostgreSQL, {pools}; {os.cpu_count()} CPUs, load {load}\n"
    )
    if backlog:
        holds = backlog["rate"] >= DRAIN_TARGET
        print(
            f"backlog of {backlog['tickets']}: drained in {backlog['seconds']:.2f} s = {backlog['rate']:.0f} "
            f"tickets/s [target >= {DRAIN_TARGET:.0f}: {'pass' if holds else 'FAIL'}]; worker "
            f"{backlog['cpu_ms']:.1f} ms CPU per ticket (with its DM and link); beside it, per ticket: "
            + ", ".join(f"{name} {ms:.1f} ms CPU" for name, ms in backlog["beside"].items())
        )
        record(
            "drain",
            f"backlog of {backlog['tickets']} drained",
            f"{backlog['rate']:.0f} tickets/s",
            f">= {DRAIN_TARGET:.0f} tickets/s",
            holds,
            f"worker {backlog['cpu_ms']:.1f} ms CPU/ticket",
        )
    if outage:
        holds = outage["to_last_tag"] <= RECOVERY_TARGET and outage["ticket_dupes"] == outage["dm_dupes"] == 0
        print(
            f"outage of {args.outage_seconds} s with {outage['alerts']} alerts: last ticket tagged "
            f"{outage['to_last_tag']:.1f} s after recovery, last Slack message "
            f"{outage['to_last_message']:.1f} s "
            f"[target <= {RECOVERY_TARGET:.0f} s]; {outage['tickets']} tickets, duplicates: "
            f"{outage['ticket_dupes']} tickets, {outage['dm_dupes']} DMs [target 0]: "
            f"{'pass' if holds else 'FAIL'}; worker {outage['cpu_ms']:.1f} ms CPU per alert after recovery"
        )
        record(
            "drain",
            f"{outage['alerts']} alerts after a {args.outage_seconds} s outage: last tagged after recovery",
            f"{outage['to_last_tag']:.1f} s, {outage['ticket_dupes'] + outage['dm_dupes']} duplicates",
            f"<= {RECOVERY_TARGET:.0f} s, 0 duplicates",
            holds,
            f"worker {outage['cpu_ms']:.1f} ms CPU/alert",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tickets", type=int, default=500, help="alerts in the pre-queued backlog (default 500)"
    )
    parser.add_argument(
        "--outage-alerts", type=int, default=500, help="alerts during the outage (default 500)"
    )
    parser.add_argument(
        "--outage-seconds", type=int, default=240, help="how long both stay down (default 240, the issue's)"
    )
    parser.add_argument(
        "--slack-concurrency",
        type=int,
        default=0,
        help="OUTBOX_SLACK_CONCURRENCY for the run (default: the setting's)",
    )
    parser.add_argument("--latency-ms", type=int, default=100, help="sandbox latency L (default 100)")
    parser.add_argument("--profile", metavar="FILE", help="run the worker under cProfile, stats to FILE")
    parser.add_argument("--max-seconds", type=int, default=900, help="stop everything after this long")
    args = parser.parse_args()

    return run_bounded("drain", run, args)


if __name__ == "__main__":
    sys.exit(main())
