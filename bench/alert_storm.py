"""Benchmark: an alert storm through the console's ingest API, with Alertmanager measured in the same run.

    .venv/bin/python bench/alert_storm.py [--shapes 10000x5/100/4*3,200x5/50/8*120] [--rounds 3]
                                          [--alerts 200] [--repeats 5] [--batch 50] [--latency-ms 100]
                                          [--ingest-only]

**Ingest rounds** (first): for each shape ``NxC/B/S[*K]`` — N distinct P2 alerts, C emissions of
each, batches of B, S concurrent senders, K times over with new alerts — and each of
``--rounds`` rounds, the same alerts (new ones every round, so each round has N first fires) go
to Alertmanager and to the console, and each side's rate is printed with its server CPU per
emission: the console's web processes plus the PostgreSQL backends of its database (listed
every 50 ms during the round, so a connection opened and closed mid-round counts too; printed
split as ``web/db``), Alertmanager's process. A side that ran under 5 s is flagged: the default
shapes repeat (``*K``) until both do. Then per shape the ratio console/Alertmanager (median and range over the
rounds) against the target (median >= 1.0, CPU <= 0.3 ms per emission). The console runs
``raxx-console web`` alone on a database of its own here: its worker (delivery) runs on another
dyno in production, and the ticket phases below measure it.

Runs the production split on PostgreSQL (``TEST_DATABASE_URL``, default the local server's
``test`` database; the benchmark creates a database of its own and drops it): ``raxx-console
web`` (gunicorn, ``--web-workers``) and one ``raxx-console worker``, with
``FLAG_CONSOLE_ALERTS_AUTO_TICKET`` on and the FreeScout + Slack sandboxes answering after
``--latency-ms`` L. The sandboxes run in a child process (their own interpreter, so the senders'
GIL does not slow them), behind a wrapper that notes when each conversation was created to the
microsecond (the sandbox's ``createdAt`` is whole seconds).

Then the ticket phases, on a fresh database with the worker running: **low load** (``--low``
alerts, one request each, spaced out) and the **storm** (N distinct P2 alerts x C repeats,
posted in batches of B from ``--senders`` threads). For each: emissions/s (ingest only: until
every POST answered), tickets filed (conversations in the sandbox, which must equal the number
of distinct alerts — repeats must not file again), time-to-ticket p50/p99 (alert first posted
→ conversation created **and tagged** in the sandbox), the storm's drain rate (tickets / first
post → last tag) and the worker's CPU per ticket. One warm-up alert goes first: the worker's
first delivery (first connections and statements) is printed apart, not in the low-load
percentiles. ``--trace`` stamps each alert's stages in the worker (``_trace.py``) and prints
each stage's p50/p99: where the time-to-ticket goes above its floor of 2L.

The peer: Prometheus Alertmanager (``/usr/bin/prometheus-alertmanager``, Debian's package,
installed with apt-get when missing and root), one for the whole run on a free port (its
alerts pile up across rounds as the console's rows do), clustering off, grouping by alert with
a 1 s ``group_wait``, one webhook receiver pointing at a sink in a process of its own
(``_am_sink.py``), fed the same alerts through ``POST /api/v2/alerts`` in the same batches
from the same number of senders.

Targets: the ingest rounds' (exit 1 when missed), and low-load time-to-ticket p99 <= 2L + 50 ms
and one ticket per alert (printed). Everything started is stopped on exit, error,
Ctrl-C, SIGTERM or the ``--max-seconds`` alarm.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import _trace
from _summary import record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
SLACK_USER = "U0BENCHOPS"
OPS_MAILBOX = 2
SOURCE = "bench"
#: The check id each bench alert carries; it is in the alert's title and so in the ticket subject.
CHECK = re.compile(r"\b((?:low|storm|warmup|backlog|outage)-\d{4,})\b")
TAGS_PATH = re.compile(r"/api/conversations/(\d+)/tags")


# --------------------------------------------------------------------------- the sandboxes (child)


class CreationLog:
    """WSGI wrapper around the FreeScout sandbox: when each conversation came to exist, its subject,
    and when its tags were set (``tagged``: the ticket is done only then).

    ``GET /_bench/created`` lists them; everything else goes to the sandbox untouched.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.created: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/_bench/created":
            with self.lock:
                body = json.dumps(self.created).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        tags = TAGS_PATH.fullmatch(environ["PATH_INFO"])
        if environ["REQUEST_METHOD"] == "PUT" and tags:
            return self.app(environ, self._noting_tags(int(tags.group(1)), start_response))
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/api/conversations":
            return self.app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            subject = str(json.loads(raw).get("subject", ""))
        except (ValueError, AttributeError):
            subject = ""

        def noting(status, headers, exc_info=None):
            if status.startswith("201"):
                resource = dict((k.lower(), v) for k, v in headers).get("resource-id")
                with self.lock:
                    row = {"id": resource, "subject": subject, "t": time.time(), "tagged": None}
                    self.created.append(row)
            return start_response(status, headers, exc_info)

        return self.app(environ, noting)

    def _noting_tags(self, conversation_id: int, start_response):
        def noting(status, headers, exc_info=None):
            if status.startswith("204"):
                at = time.time()
                with self.lock:
                    for row in self.created:
                        if row["id"] == str(conversation_id) and row["tagged"] is None:
                            row["tagged"] = at
            return start_response(status, headers, exc_info)

        return noting


def serve_sandboxes(latency_ms: int, surfaces_file: str) -> None:
    """Child process: FreeScout (gated) + Slack + healthy demo surfaces; one JSON line, then wait."""
    from raxx_console.sandbox.freescout import create_freescout_sandbox
    from raxx_console.sandbox.server import BackgroundServer
    from raxx_console.sandbox.slack import create_slack_sandbox
    from raxx_console.sandbox.stack import surfaces_toml
    from raxx_console.sandbox.surfaces import create_demo_surfaces
    from raxx_console.status.surfaces import load_surfaces

    creds = {
        "api_key": f"bench-fs-{secrets.token_hex(12)}",
        "cf_id": f"{secrets.token_hex(8)}.access",
        "cf_secret": secrets.token_hex(16),
        "slack_token": f"xoxb-bench-{secrets.token_hex(8)}",
    }
    freescout = create_freescout_sandbox(
        api_key=creds["api_key"], cf_client_id=creds["cf_id"], cf_client_secret=creds["cf_secret"]
    )
    freescout.extensions["freescout_sandbox"].set_faults({"mode": "ok", "latency_ms": latency_ms})
    slack = create_slack_sandbox(creds["slack_token"], users={SLACK_USER})
    slack.set_faults("ok", latency_ms=latency_ms)
    registry = load_surfaces()
    demo = create_demo_surfaces(surface.id for surface in registry)
    servers = [
        BackgroundServer(CreationLog(freescout), name="bench-freescout").start(),
        BackgroundServer(slack, name="bench-slack").start(),
        BackgroundServer(demo, name="bench-surfaces").start(),
    ]
    Path(surfaces_file).write_text(surfaces_toml(registry.with_health_urls(demo.health_urls(servers[2].url))))
    print(json.dumps({"freescout": servers[0].url, "slack": servers[1].url, **creds}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin, whatever happened to it
    for server in servers:
        server.stop()


# --------------------------------------------------------------------------- process management


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Resources:
    """The benchmark's resources, stopped in reverse order however the run ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.stack = contextlib.ExitStack()

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, **kwargs
    ) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "w")  # closed by the exit stack
        self.stack.callback(log.close)
        proc = subprocess.Popen(
            argv, env=env, stdout=kwargs.pop("stdout", log), stderr=log, start_new_session=True, **kwargs
        )
        self.stack.callback(stop_process, proc)
        return proc

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_until(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def answers(url: str, expect: int = 200) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == expect
    except httpx.HTTPError:
        return False


# --------------------------------------------------------------------------- the database


def create_database(watch: Resources) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from raxx_console import migrate
    from raxx_console.db import Database, normalize_url

    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"raxx_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    watch.stack.callback(drop)
    url = make_url(normalize_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    try:
        migrate.upgrade(database)
    finally:
        database.dispose()
    return url


def operator_token(url: str) -> str:
    from sqlalchemy import select

    from raxx_console.auth import service as auth_service
    from raxx_console.auth.models import User
    from raxx_console.clock import SystemClock
    from raxx_console.db import Database

    database = Database(url)
    try:
        with database.session() as session:
            auth_service.create_user(
                session,
                SystemClock(),
                email="bench@raxx.app",
                role="operator",
                password=None,
                actor="system:bench",
                env="development",
            )
        with database.session() as session:
            user = session.scalar(select(User).where(User.email == "bench@raxx.app"))
            return auth_service.create_token(
                session, SystemClock(), user=user, name="bench", actor="system:bench", env="development"
            )
    finally:
        database.dispose()


# --------------------------------------------------------------------------- sending


@dataclass
class Phase:
    name: str
    emissions: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    #: check → when its first request was sent (wall clock)
    first_sent: dict[str, float] = field(default_factory=dict)
    tickets: int | None = None
    expected: int | None = None
    ttt_ms: list[float] = field(default_factory=list)
    #: how long each POST took to answer
    post_ms: list[float] = field(default_factory=list)
    #: first alert posted → last ticket tagged
    drain_seconds: float | None = None
    #: the worker's CPU seconds over the phase (its poll cycles included)
    worker_cpu: float | None = None
    #: time-to-ticket of the alert before the phase, the worker's first delivery
    warmup_ms: float | None = None

    def cpu_per_ticket(self) -> str:
        if self.worker_cpu is None or not self.tickets:
            return ""
        return f"worker {self.worker_cpu * 1000 / self.tickets:.1f} ms CPU/ticket"

    @property
    def rate(self) -> float:
        return self.emissions / self.seconds if self.seconds else 0.0


def send_batches(phase: Phase, batches: list[list[str]], post, senders: int) -> None:
    """POST every batch from ``senders`` threads; the phase's time is first send → last answer."""
    lock = threading.Lock()

    def send(checks: list[str]) -> None:
        sent = time.time()
        with lock:
            for check in checks:
                phase.first_sent.setdefault(check, sent)
        problem = post(checks)
        with lock:
            phase.post_ms.append((time.time() - sent) * 1000)
            if problem:
                phase.errors.append(problem)
            else:
                phase.emissions += len(checks)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=senders) as pool:
        list(pool.map(send, batches))
    phase.seconds = time.perf_counter() - started


def console_poster(client: httpx.Client, base: str, token: str):
    headers = {"Authorization": f"Bearer {token}"}

    def post(checks: list[str]) -> str | None:
        body = [
            {
                "source": SOURCE,
                "check": c,
                "severity": "P2",
                "title": f"bench alert {c}",
                "summary": "alert storm benchmark",
                "labels": {"bench": "alert_storm"},
            }
            for c in checks
        ]
        try:
            response = client.post(f"{base}/api/alerts", json=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        if response.status_code != 200 or response.json().get("accepted") != len(checks):
            return f"HTTP {response.status_code}: {response.text[:160]}"
        return None

    return post


def alertmanager_poster(client: httpx.Client, base: str):
    def post(checks: list[str]) -> str | None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        body = [
            {
                "labels": {"alertname": "bench", "source": SOURCE, "check": c, "severity": "warning"},
                "annotations": {"summary": f"bench alert {c}"},
                "startsAt": now,
            }
            for c in checks
        ]
        try:
            response = client.post(f"{base}/api/v2/alerts", json=body)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        return None if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:160]}"

    return post


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- tickets


def created(freescout: str) -> list[dict]:
    return httpx.get(f"{freescout}/_bench/created", timeout=10).json()


def await_tickets(phase: Phase, freescout: str, timeout: float, settle: float = 2.0) -> None:
    """Wait until every alert of the phase has a tagged conversation, then a little longer for
    duplicates. Time-to-ticket is clocked at the tag: created *and* tagged."""
    wanted = set(phase.first_sent)
    phase.expected = len(wanted)

    def ours() -> list[dict]:
        rows = []
        for row in created(freescout):
            match = CHECK.search(row["subject"])
            if match and match.group(1) in wanted:
                rows.append({**row, "check": match.group(1)})
        return rows

    def all_tagged() -> bool:
        return len({r["check"] for r in ours() if r["tagged"] is not None}) >= len(wanted)

    with contextlib.suppress(TimeoutError):
        wait_until(all_tagged, timeout, "tagged tickets", step=0.2)
    time.sleep(settle)
    rows = ours()
    phase.tickets = len(rows)
    first: dict[str, float] = {}
    for row in rows:
        if row["tagged"] is not None:
            first[row["check"]] = min(first.get(row["check"], row["tagged"]), row["tagged"])
    phase.ttt_ms = sorted((t - phase.first_sent[check]) * 1000 for check, t in first.items())
    if first:
        phase.drain_seconds = max(first.values()) - min(phase.first_sent.values())


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))
    return ordered[rank - 1]


# --------------------------------------------------------------------------- Alertmanager


def ensure_alertmanager() -> str | None:
    """The binary, installing Debian's package when missing and root; None (and how) otherwise."""
    if Path(ALERTMANAGER).exists():
        return ALERTMANAGER
    if os.geteuid() != 0:
        print("Alertmanager is missing: sudo apt-get install -y prometheus-alertmanager; skipping the peer.")
        return None
    print("installing prometheus-alertmanager with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus-alertmanager"],
        env=env,
        check=False,
        timeout=600,
    )
    return ALERTMANAGER if Path(ALERTMANAGER).exists() else None


@contextlib.contextmanager
def alertmanager(watch: Resources, binary: str, name: str):
    """Alertmanager for the whole run (its alerts pile up across rounds, as the console's rows do),
    with its webhook sink in a process of its own; yields its base URL and process, stops both."""
    sink_port = free_port()
    sink_script = str(Path(__file__).parent / "_am_sink.py")
    sink = watch.spawn(f"{name}-sink", [sys.executable, sink_script, str(sink_port)])
    config = watch.workdir / f"{name}.yml"
    config.write_text(
        "route:\n  receiver: sink\n  group_by: ['check']\n  group_wait: 1s\n  group_interval: 5s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n  - name: sink\n    webhook_configs:\n"
        f"      - url: http://127.0.0.1:{sink_port}/hook\n        send_resolved: false\n"
    )
    storage = watch.workdir / f"{name}-data"
    storage.mkdir()
    port = free_port()
    proc = watch.spawn(
        name,
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/-/ready"), 30, "Alertmanager to be ready")
        yield base, proc
    finally:
        stop_process(proc)
        stop_process(sink)


def alertmanager_version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False, timeout=10)
    match = re.search(r"version (\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "?"


# --------------------------------------------------------------------------- ingest rounds

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Each side of a round runs at least this long, or the round says so: Alertmanager's first
#: second is before any group's ``group_wait`` ends, when it has not started notifying yet.
SEVERAL_SECONDS = 5


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU each process has used so far."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return used


class BackendPids:
    """The PostgreSQL server processes serving the console's database, listed over one
    connection of ours (not counted) however often the CPU watcher asks."""

    def __init__(self, db_url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(url, autocommit=True)

    def __call__(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return [row[0] for row in rows]


@dataclass(frozen=True)
class Shape:
    """N alerts x C emissions in batches of B from S senders; ``*K``: K such storms one after the
    other (new alerts each), so that a small shape still runs for several seconds."""

    alerts: int
    repeats: int
    batch: int
    senders: int
    storms: int = 1

    @classmethod
    def parse(cls, text: str) -> Shape:
        match = re.fullmatch(r"(\d+)x(\d+)/(\d+)/(\d+)(?:\*(\d+))?", text.strip())
        if not match:
            raise argparse.ArgumentTypeError(f"a shape is NxC/B/S[*K] (e.g. 200x5/50/8*20), not {text!r}")
        return cls(*(int(group) for group in match.groups() if group is not None))

    def __str__(self) -> str:
        storms = f"*{self.storms}" if self.storms > 1 else ""
        return f"{self.alerts}x{self.repeats}/{self.batch}/{self.senders}{storms}"

    def batches(self, prefix: str) -> list[list[str]]:
        found = []
        for storm in range(self.storms):
            checks = [f"{prefix}-{storm:03d}-{i:05d}" for i in range(self.alerts)]
            found += [batch for _ in range(self.repeats) for batch in chunks(checks, self.batch)]
        return found


@dataclass
class Side:
    """One side of one round: its rate and the server CPU it used."""

    phase: Phase
    #: pid → CPU seconds used during the run
    used: dict[int, float]

    @property
    def cpu_ms(self) -> float:
        return self.share_ms(self.used)

    def share_ms(self, pids) -> float:
        """CPU ms per emission of the processes among ``pids`` (all of them: ``cpu_ms``)."""
        cpu = sum(self.used.get(pid, 0.0) for pid in pids)
        return 1000 * cpu / self.phase.emissions if self.phase.emissions else float("nan")


def measured(batches: list[list[str]], post, senders: int, name: str, pids) -> Side:
    """Send the batches; the server CPU is every process ``pids()`` lists during the run.

    The list is re-read every 50 ms and each process's last reading kept, so a process that
    comes and goes mid-run (a database connection opened and closed per request) is counted
    up to its last reading rather than not at all.
    """
    phase = Phase(name)
    before = cpu_seconds(pids())
    seen = dict(before)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            seen.update(cpu_seconds(pids()))

    watcher = threading.Thread(target=watch, name=f"cpu-{name}", daemon=True)
    watcher.start()
    send_batches(phase, batches, post, senders)
    done.set()
    watcher.join()
    seen.update(cpu_seconds(pids()))
    return Side(phase, {pid: used - before.get(pid, 0.0) for pid, used in seen.items()})


def ingest_rounds(args, watch: Resources, client: httpx.Client, sandboxes: dict, surfaces_file: Path) -> bool:
    """Every shape, ``--rounds`` times: Alertmanager then the console on the same alerts."""
    binary = ensure_alertmanager()
    if binary is None:
        print("ingest rounds skipped: no Alertmanager to compare with")
        return True
    db_url = create_database(watch)
    token = operator_token(db_url)
    base, web = start_console(watch, args, db_url, sandboxes, surfaces_file, worker=False, name="web-ingest")
    ours = console_poster(client, base, token)
    version = alertmanager_version(binary)

    web_pids = process_tree(web.pid)  # gunicorn's master and workers: they stay
    backends = BackendPids(db_url)
    watch.stack.callback(backends.conn.close)

    def console_pids() -> list[int]:
        return web_pids + backends()

    am_base, am_proc = watch.stack.enter_context(alertmanager(watch, binary, "alertmanager"))
    theirs = alertmanager_poster(client, am_base)

    print(f"\ningest rounds: console (PostgreSQL, {args.web_workers} web workers) vs Alertmanager {version}")
    header = (
        f"{'shape':<18} {'round':>5} {'AM emit/s':>10} {'console emit/s':>14} {'ratio':>6} "
        f"{'AM CPU ms/emit':>14} {'console CPU ms/emit':>19} {'web/db':>11} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    passed = True
    for number, shape in enumerate(args.shapes):
        ratios, cpus = [], []
        for round_ in range(1, args.rounds + 1):
            batches = shape.batches(f"storm-{number}{round_}")
            am = measured(batches, theirs, shape.senders, "alertmanager", lambda: [am_proc.pid])
            us = measured(batches, ours, shape.senders, "console", console_pids)
            ratio = us.phase.rate / am.phase.rate if am.phase.rate else float("nan")
            ratios.append(ratio)
            cpus.append(us.cpu_ms)
            errors = len(am.phase.errors) + len(us.phase.errors)
            web_ms = us.share_ms(web_pids)
            web_db = f"{web_ms:.3f}/{us.cpu_ms - web_ms:.3f}"
            print(
                f"{shape!s:<18} {round_:>5} {am.phase.rate:>10.0f} {us.phase.rate:>14.0f} {ratio:>6.2f} "
                f"{am.cpu_ms:>14.3f} {us.cpu_ms:>19.3f} {web_db:>11} {errors:>6}",
                flush=True,
            )
            for problem in sorted(set(am.phase.errors + us.phase.errors))[:3]:
                print(f"  {problem}")
            if min(am.phase.seconds, us.phase.seconds) < SEVERAL_SECONDS:
                print(f"  a side ran under {SEVERAL_SECONDS} s: raise the shape's *K for a steady rate")
            passed = passed and errors == 0
        median_ratio, median_cpu = statistics.median(ratios), statistics.median(cpus)
        ok = median_ratio >= 1.0 and median_cpu <= 0.3
        passed = passed and ok
        print(
            f"{shape!s:<18} ratio median {median_ratio:.2f} (range {min(ratios):.2f}-{max(ratios):.2f}), "
            f"console CPU {median_cpu:.3f} ms/emission  [target ratio >= 1.00, CPU <= 0.3 ms: "
            f"{'pass' if ok else 'FAIL'}]"
        )
    stop_process(web)
    return passed


# --------------------------------------------------------------------------- the run


def start_console(
    watch: Resources,
    args,
    db_url: str,
    sandboxes: dict,
    surfaces_file: Path,
    *,
    worker: bool = True,
    name: str = "web",
) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CONSOLE_ENV": "development",
        "SECRET_KEY": secrets.token_hex(32),
        "INSTANCE_PATH": str(watch.workdir / "instance"),
        "WEB_CONCURRENCY": str(args.web_workers),
        "FREESCOUT_API_URL": sandboxes["freescout"],
        "FREESCOUT_INSTANCE_URL": sandboxes["freescout"],
        "FREESCOUT_API_KEY": sandboxes["api_key"],
        "FREESCOUT_OPERATIONS_MAILBOX_ID": str(OPS_MAILBOX),
        "FREESCOUT_BOT_USER_ID": "1",
        "CF_ACCESS_SVC_TICKETS_CLIENT_ID": sandboxes["cf_id"],
        "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": sandboxes["cf_secret"],
        "SLACK_BOT_TOKEN": sandboxes["slack_token"],
        "SLACK_API_URL": f"{sandboxes['slack']}/api/",
        "SLACK_ALERT_DM_USER_IDS": SLACK_USER,
        "SURFACES_FILE": str(surfaces_file),
        "POLL_INTERVAL_SECONDS": "5",
        "FLAG_CONSOLE_ALERTS_AUTO_TICKET": "1",
        "LOG_LEVEL": "INFO",
    }
    console = str(BIN / "raxx-console")
    web = watch.spawn(name, [console, "web", "--host", "127.0.0.1", "--port", str(port)], env=env)
    if worker:
        watch.spawn("worker", [console, "worker"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"), 60, "the console to answer /healthz")
    except TimeoutError:
        print(watch.tail(name))
        raise
    return base, web


def storm_batches(args) -> list[list[str]]:
    """N distinct checks, C times over, in batches of B: the same alerts in the same order for both sides."""
    checks = [f"storm-{i:05d}" for i in range(args.alerts)]
    return [batch for _ in range(args.repeats) for batch in chunks(checks, args.batch)]


def worker_pid() -> int:
    """The ``raxx-console worker`` this benchmark started (its CPU is the delivery's cost)."""
    for pid in process_tree(os.getpid()):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
            if argv[-1:] == [b"worker"] and any(arg.endswith(b"raxx-console") for arg in argv):
                return pid
    raise SystemExit("the worker is not running")


def worker_cpu(worker: int) -> float:
    return cpu_seconds([worker]).get(worker, 0.0)


def low_load_phase(args, post, freescout: str, worker: int) -> Phase:
    """One alert per request, spaced out: time-to-ticket with nothing queued in front of it."""
    print(f"low load: {args.low} alerts, one request each, {args.low_gap:.1f} s apart …", flush=True)
    phase = Phase("console, low load")
    # The worker's first delivery pays one-time costs (first connections, first statements,
    # the first response's parsing): timed and printed apart, not in the percentiles.
    warm = Phase("warm-up")
    send_batches(warm, [["warmup-0000"]], post, 1)
    await_tickets(warm, freescout, timeout=30, settle=0.0)
    phase.warmup_ms = warm.ttt_ms[0] if warm.ttt_ms else None
    cpu = worker_cpu(worker)
    started = time.perf_counter()
    for i in range(args.low):
        send_batches(phase, [[f"low-{i:04d}"]], post, 1)
        time.sleep(args.low_gap)
    phase.seconds = time.perf_counter() - started
    await_tickets(phase, freescout, timeout=30)
    phase.worker_cpu = worker_cpu(worker) - cpu
    return phase


def storm_phase(args, post, freescout: str, worker: int) -> Phase:
    print(
        f"storm: {args.alerts} alerts x {args.repeats} repeats in batches of {args.batch} "
        f"from {args.senders} senders …",
        flush=True,
    )
    phase = Phase("console, storm")
    cpu = worker_cpu(worker)
    send_batches(phase, storm_batches(args), post, args.senders)
    await_tickets(phase, freescout, timeout=max(60, args.alerts * 0.5))
    phase.worker_cpu = worker_cpu(worker) - cpu
    return phase


def start_sandboxes(watch: Resources, latency_ms: int, surfaces_file: Path) -> dict:
    """FreeScout and Slack (and the demo surfaces) in a child interpreter: their URLs and its pid."""
    child = watch.spawn(
        "sandboxes",
        [sys.executable, __file__, "--serve-sandboxes", str(latency_ms), str(surfaces_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    watch.stack.callback(lambda: child.stdin and child.stdin.close())
    line = child.stdout.readline()
    if not line.startswith("{"):
        raise SystemExit(f"the sandboxes did not start:\n{watch.tail('sandboxes')}")
    return {**json.loads(line), "pid": child.pid}


def run(args) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    workdir = Path(tempfile.mkdtemp(prefix="raxx-alert-storm-"))
    watch = Resources(workdir)
    watch.stack.callback(shutil.rmtree, workdir, True)
    with watch.stack:
        db_url = create_database(watch)
        surfaces_file = workdir / "surfaces.toml"
        sandboxes = start_sandboxes(watch, args.latency_ms, surfaces_file)
        senders = max([args.senders, *(shape.senders for shape in args.shapes)])
        limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
        client = watch.stack.enter_context(httpx.Client(timeout=120, limits=limits))
        rounds_passed = ingest_rounds(args, watch, client, sandboxes, surfaces_file) if args.rounds else True
        if args.ingest_only:
            return 0 if rounds_passed else 1
        token = operator_token(db_url)
        trace_file = watch.workdir / "trace.jsonl"
        if args.trace:
            _trace.install(watch.workdir, trace_file, os.environ)
        base, _web = start_console(watch, args, db_url, sandboxes, surfaces_file)
        post = console_poster(client, base, token)
        worker = worker_pid()
        low = low_load_phase(args, post, sandboxes["freescout"], worker)
        ours = storm_phase(args, post, sandboxes["freescout"], worker)
        report(args, low, ours)
        if args.trace:
            trace_report((low, ours), _trace.events(trace_file), db_url, sandboxes["freescout"])
        for name in ("web", "worker"):
            if "Traceback" in (workdir / f"{name}.log").read_text(errors="replace"):
                print(f"\nnote: the {name} log has a traceback; its tail:\n{watch.tail(name)}")
    return 0 if rounds_passed else 1


def report(args, low: Phase, storm: Phase) -> None:
    L = args.latency_ms
    cpus, load = os.cpu_count(), ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nalert storm: N={args.alerts} x C={args.repeats}, batch {args.batch}, {args.senders} senders, "
        f"L={L} ms, gunicorn workers={args.web_workers}, PostgreSQL; {cpus} CPUs, load {load}\n"
    )
    header = (
        f"{'phase':<22} {'emissions':>9} {'seconds':>8} {'emit/s':>8} {'tickets':>8} {'expected':>8} "
        f"{'post p50 ms':>11} {'ttt p50 ms':>10} {'ttt p99 ms':>10} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for phase in (low, storm):
        if phase.emissions == 0 and not phase.errors:
            continue
        p50, p99, post = (
            percentile(phase.ttt_ms, 50),
            percentile(phase.ttt_ms, 99),
            percentile(phase.post_ms, 50),
        )
        rate = "(paced)" if phase is low else f"{phase.rate:.0f}"
        print(
            f"{phase.name:<22} {phase.emissions:>9} {phase.seconds:>8.2f} {rate:>8} "
            f"{fmt(phase.tickets):>8} {fmt(phase.expected):>8} {fmt(post, '.0f'):>11} "
            f"{fmt(p50, '.0f'):>10} {fmt(p99, '.0f'):>10} "
            f"{len(phase.errors):>6}"
        )
    for phase in (low, storm):
        for problem in sorted(set(phase.errors))[:3]:
            print(f"  {phase.name}: {problem}")
    print()
    target = 2 * L + 50
    p99 = percentile(low.ttt_ms, 99)
    verdict = "pass" if p99 is not None and p99 <= target else "FAIL"
    print(
        f"time-to-ticket at low load, clocked at the tag: p99 {fmt(p99, '.0f')} ms  "
        f"[target <= 2L + 50 = {target} ms: {verdict}]; the worker's first delivery (warm-up, "
        f"before the phase): {fmt(low.warmup_ms, '.0f')} ms"
    )
    record(
        "alert_storm",
        "time-to-ticket at low load (tagged), p99",
        f"{fmt(p99, '.0f')} ms",
        f"<= {target} ms",
        p99 is not None and p99 <= target,
        low.cpu_per_ticket(),
    )
    storm_p99 = percentile(storm.ttt_ms, 99)
    record(
        "alert_storm",
        "storm time-to-ticket (tagged), p99",
        f"{fmt(storm_p99, '.0f')} ms",
        "<= 4000 ms",
        storm_p99 is not None and storm_p99 <= 4000,
        storm.cpu_per_ticket(),
    )
    drain = (storm.tickets or 0) / storm.drain_seconds if storm.drain_seconds else None
    print(
        f"storm: first alert posted → last ticket tagged {fmt(storm.drain_seconds, '.2f')} s, "
        f"{fmt(drain, '.0f')} tickets/s [target >= 60]; {storm.cpu_per_ticket()}; "
        f"low load: {low.cpu_per_ticket()}"
    )
    record(
        "alert_storm",
        "storm drain, first post → last tag",
        f"{fmt(drain, '.0f')} tickets/s",
        ">= 60 tickets/s",
        drain is not None and drain >= 60,
        storm.cpu_per_ticket(),
    )
    for phase in (low, storm):
        ok = phase.tickets == phase.expected
        print(
            f"tickets filed ({phase.name}): {phase.tickets} of {phase.expected} distinct alerts"
            f"  [{'pass' if ok else 'FAIL'}: one ticket per alert, repeats file nothing]"
        )


def trace_report(phases: tuple[Phase, ...], trace: list[dict], db_url: str, freescout: str) -> None:
    """``--trace``: each ticket phase's stage p50/p99 from the worker's stamps (``_trace``)."""

    def check_of(subject: str) -> str | None:
        match = CHECK.search(subject)
        return match.group(1) if match else None

    creates = _trace.creates_by_check(db_url, check_of)
    sandbox: dict[str, dict] = {}
    for row in created(freescout):
        check = check_of(row["subject"])
        if check is not None and row["tagged"] is not None:
            sandbox.setdefault(check, row)
    for phase in phases:
        per_alert = _trace.stages(trace, creates, phase.first_sent, sandbox)
        _trace.report(phase.name, per_alert, trace, percentile)


def fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--alerts", type=int, default=200, help="N distinct alerts in the storm (default 200)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="C emissions of each (default 5)")
    parser.add_argument("--batch", type=int, default=50, help="alerts per request, at most 1000 (default 50)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--latency-ms", type=int, default=100, help="sandbox latency L (default 100)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers, 2-4 (default 2)")
    parser.add_argument("--low", type=int, default=10, help="alerts in the low-load phase (default 10)")
    parser.add_argument("--low-gap", type=float, default=1.0, help="seconds between low-load alerts")
    parser.add_argument(
        "--shapes",
        type=lambda text: [Shape.parse(part) for part in text.split(",")],
        default=[Shape(10_000, 5, 100, 4, storms=3), Shape(200, 5, 50, 8, storms=120)],
        help="ingest rounds' shapes NxC/B/S[*K], comma-separated (default 10000x5/100/4*3,200x5/50/8*120)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds per shape (default 3; 0: none)")
    parser.add_argument(
        "--ingest-only", action="store_true", help="the ingest rounds only, not the ticket phases"
    )
    parser.add_argument("--max-seconds", type=int, default=1500, help="stop everything after this long")
    parser.add_argument(
        "--trace", action="store_true", help="stamp each alert's stages in the worker; print their p50/p99"
    )
    parser.add_argument(
        "--serve-sandboxes", nargs=2, metavar=("LATENCY_MS", "SURFACES_FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_sandboxes:
        serve_sandboxes(int(args.serve_sandboxes[0]), args.serve_sandboxes[1])
        return 0

    return run_bounded("alert_storm", run, args)


def run_bounded(name: str, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``run(args)``, stopped (exit code 1) after ``args.max_seconds``; SIGTERM stops it cleanly."""

    def stop(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    def alarm(_signum, _frame):
        raise TimeoutError(f"the benchmark ran past --max-seconds={args.max_seconds}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(args.max_seconds)
    try:
        return run(args)
    except TimeoutError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
