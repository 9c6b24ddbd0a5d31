"""Benchmark: Investigate (entry A) server time, and concurrent first clicks on gunicorn.

    .venv/bin/python bench/investigate.py [--runs 30] [--repeats 200] [--clicks 100]

PostgreSQL (``TEST_DATABASE_URL`` or the local ``test`` server; the benchmark creates and drops
its own database) and the FreeScout sandbox over real HTTP with L = 100 ms per call.

* **first click**: reserve, create the conversation, tag it, audit. FreeScout is called for the
  create and the tags, so the target is median <= 2L + 30 ms.
* **repeat click**: the open ticket filed within the hour is reused after one FreeScout read:
  target p99 <= L + 15 ms.
* **concurrent first clicks**: N clicks at once (bearer token, httpx threads) on 4 gunicorn
  workers x 4 threads: exactly one ticket, every answer naming it or queued for its ref.

Server time is measured in-process around the view (Flask's test client against the real database
and the real sandbox, which runs in a process of its own so it does not share the console's GIL),
so it leaves out only the network hop to the console. It is a benchmark:
it prints a table and exits; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from raxx_console import create_app, migrate

sys.path.insert(0, str(Path(__file__).parent))
from _summary import record
from raxx_console.auth import service as auth_service
from raxx_console.auth.models import User
from raxx_console.db import Database, normalize_url
from raxx_console.flags.registry import INVESTIGATE_FLAG
from raxx_console.status import service as status_service
from raxx_console.tickets.models import Ticket

LATENCY_MS = 100
SURFACE = "api-prod"
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
API_KEY, CF_ID, CF_SECRET = "bench-api-key", "bench-cf-id.access", "bench-cf-secret"
GUNICORN = Path(sys.executable).with_name("gunicorn")


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


class BenchDatabase:
    """A migrated database of its own, dropped on exit whatever happened."""

    def __init__(self) -> None:
        self.admin = create_engine(normalize_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
        self.name = f"raxx_bench_{uuid.uuid4().hex[:8]}"
        url = make_url(normalize_url(ADMIN_URL)).set(database=self.name)
        self.url = url.render_as_string(hide_password=False)

    def __enter__(self) -> str:
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        database = Database(self.url)
        migrate.upgrade(database)
        database.dispose()
        return self.url

    def __exit__(self, *exc: object) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def sandbox_settings(url: str) -> dict[str, object]:
    return {
        "FREESCOUT_API_URL": url,
        "FREESCOUT_INSTANCE_URL": url,
        "FREESCOUT_API_KEY": API_KEY,
        "CF_ACCESS_SVC_TICKETS_CLIENT_ID": CF_ID,
        "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": CF_SECRET,
        "FREESCOUT_OPERATIONS_MAILBOX_ID": 2,
        "FREESCOUT_BOT_USER_ID": 1,
    }


def in_process(database_url: str, sandbox_url: str, instance: Path, runs: int, repeats: int) -> dict:
    """Server time of first and repeat clicks, timed around the view."""
    overrides = {
        **sandbox_settings(sandbox_url),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "INSTANCE_PATH": str(instance),
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(overrides)
    console = app.extensions["raxx_console"]
    try:
        with console.db.session() as session:
            auth_service.create_user(
                session,
                console.clock,
                email="bench@raxx.app",
                role="operator",
                password=None,
                actor="bench",
                env="development",
            )
        with console.db.session() as session:
            user = session.scalar(select(User).where(User.email == "bench@raxx.app"))
            token = auth_service.create_token(
                session, console.clock, user=user, name="bench", actor="bench", env="development"
            )
            status_service.set_status(
                session,
                console.clock,
                console.surfaces,
                SURFACE,
                "degraded",
                actor="bench",
                env="development",
            )
        console.flags.change(
            INVESTIGATE_FLAG, True, settings=console.settings, actor="bench", env="development", confirm=True
        )
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        path = f"/console/status/investigate/{SURFACE}"

        cpu: dict[str, list[float]] = {"first": [], "repeat": []}

        def timed_click(kind: str) -> tuple[float, dict]:
            started, cpu_started = time.perf_counter(), time.thread_time()
            response = client.post(path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            cpu[kind].append((time.thread_time() - cpu_started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)
            return elapsed, response.get_json()

        timed_click("first")  # warm-up: connection pools, first imports
        cpu["first"].clear()
        first, repeat = [], []
        for _ in range(runs):
            with console.db.session() as session:  # make every earlier ticket known closed
                session.execute(update(Ticket).values(fs_status="closed"))
            elapsed, body = timed_click("first")
            assert body.get("idempotent") is False, body
            first.append(elapsed)
        for _ in range(repeats):
            elapsed, body = timed_click("repeat")
            assert body.get("idempotent") is True, body
            repeat.append(elapsed)
        return {"first": first, "repeat": repeat, "cpu": cpu}
    finally:
        console.db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def conversation_count(sandbox_url: str) -> int:
    """How many conversations the sandbox holds, through its API (it runs in another process)."""
    headers = {
        "X-FreeScout-API-Key": API_KEY,
        "CF-Access-Client-Id": CF_ID,
        "CF-Access-Client-Secret": CF_SECRET,
    }
    response = httpx.get(
        f"{sandbox_url}/api/conversations", params={"pageSize": 1}, headers=headers, timeout=10
    )
    return response.json()["page"]["totalElements"]


def concurrent_first_clicks(database_url: str, sandbox_url: str, instance: Path, clicks: int) -> dict:
    """N simultaneous first clicks on 4 gunicorn workers: how many tickets, and what they answered."""
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x" * 32, "INSTANCE_PATH": str(instance)})
    console = app.extensions["raxx_console"]
    with console.db.session() as session:  # a fresh key: nothing filed yet for api-prod:down
        status_service.set_status(
            session, console.clock, console.surfaces, SURFACE, "down", actor="bench", env="development"
        )
        user = session.scalar(select(User).where(User.email == "bench@raxx.app"))
        token = auth_service.create_token(
            session, console.clock, user=user, name="bench-gunicorn", actor="bench", env="development"
        )
    env = {**os.environ, **{k: str(v) for k, v in sandbox_settings(sandbox_url).items()}}
    env |= {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-gunicorn-secret-key",
        "INSTANCE_PATH": str(instance),
        "FLAG_CONSOLE_INVESTIGATE_FROM_STATUS": "1",
        "WEB_CONCURRENCY": "4",
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (instance / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [str(GUNICORN), "-w", "4", "--threads", "4", "-b", f"127.0.0.1:{port}", "raxx_console:create_app()"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start; see " + str(instance / "gunicorn.log"))
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        before = conversation_count(sandbox_url)
        barrier = threading.Barrier(clicks)

        def click(_: int) -> tuple[float, httpx.Response]:
            with httpx.Client(timeout=60) as http:
                barrier.wait(timeout=60)
                started = time.perf_counter()
                response = http.post(
                    f"{base}/console/status/investigate/{SURFACE}",
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
                return (time.perf_counter() - started) * 1000, response

        with ThreadPoolExecutor(max_workers=clicks) as pool:
            results = list(pool.map(click, range(clicks)))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        console.db.dispose()
    answers = [r.json() for _, r in results if r.status_code == 200]
    with console.db.session() as session:
        filed = list(session.scalars(select(Ticket).where(Ticket.dedup_key == f"{SURFACE}:down")))
        session.expunge_all()
    refs = {t.ref for t in filed}
    ids = {t.ticket_id for t in filed}
    consistent = all(
        (a.get("ticket_id") in ids) if "ticket_id" in a else (a.get("queued") and a.get("ref") in refs)
        for a in answers
    )
    return {
        "tickets": len(filed),
        "conversations": conversation_count(sandbox_url) - before,
        "ok": len(answers) == clicks and consistent,
        "queued": sum(1 for a in answers if a.get("queued")),
        "wall_ms": [ms for ms, _ in results],
    }


SANDBOX_CHILD = """
import sys
from raxx_console.sandbox.freescout import create_freescout_sandbox
from raxx_console.sandbox.server import BackgroundServer
app = create_freescout_sandbox(api_key=sys.argv[1], cf_client_id=sys.argv[2], cf_client_secret=sys.argv[3])
with BackgroundServer(app, name="bench-freescout") as server:
    print(server.url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
    app.extensions["freescout_sandbox"].reset()  # wake anything still sleeping on the latency
"""


@contextlib.contextmanager
def sandbox_process() -> Iterator[str]:
    """The FreeScout sandbox in a child process; yields its URL and stops it on exit."""
    child = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_CHILD, API_KEY, CF_ID, CF_SECRET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield child.stdout.readline().strip()
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="first clicks to time")
    parser.add_argument("--repeats", type=int, default=200, help="repeat clicks to time")
    parser.add_argument("--clicks", type=int, default=100, help="concurrent clicks on gunicorn")
    args = parser.parse_args()

    # The sandbox runs in a process of its own, so it does not share the console's GIL and
    # the timings are the console's server time plus the sandbox's latency.
    with BenchDatabase() as database_url, sandbox_process() as sandbox_url:
        httpx.post(
            f"{sandbox_url}/_sandbox/faults", json={"mode": "ok", "latency_ms": LATENCY_MS}, timeout=10
        )
        with tempfile.TemporaryDirectory(prefix="raxx-bench-") as tmp:
            timings = in_process(database_url, sandbox_url, Path(tmp), args.runs, args.repeats)
            burst = concurrent_first_clicks(database_url, sandbox_url, Path(tmp), args.clicks)

    L = LATENCY_MS
    first_p50, first_p99 = statistics.median(timings["first"]), percentile(timings["first"], 99)
    repeat_p50, repeat_p99 = statistics.median(timings["repeat"]), percentile(timings["repeat"], 99)
    rows = [
        (
            "first click (create + tags), p50",
            f"{first_p50:.1f} ms",
            f"<= {2 * L + 30} ms",
            first_p50 <= 2 * L + 30,
        ),
        ("first click, p99", f"{first_p99:.1f} ms", "(shown)", None),
        (
            "first click, console CPU p50",
            f"{statistics.median(timings['cpu']['first']):.1f} ms",
            "(shown)",
            None,
        ),
        ("repeat click (one read), p50", f"{repeat_p50:.1f} ms", "(shown)", None),
        ("repeat click (one read), p99", f"{repeat_p99:.1f} ms", f"<= {L + 15} ms", repeat_p99 <= L + 15),
        (
            "repeat click, console CPU p50",
            f"{statistics.median(timings['cpu']['repeat']):.1f} ms",
            "(shown)",
            None,
        ),
        (
            f"{args.clicks} concurrent first clicks, 4 gunicorn workers",
            f"{burst['tickets']} ticket, {burst['conversations']} conversation",
            "exactly 1",
            burst["tickets"] == 1 and burst["conversations"] == 1 and burst["ok"],
        ),
        (
            "  answers: link / queued for the same ref",
            f"{args.clicks - burst['queued']} / {burst['queued']}",
            "(shown)",
            None,
        ),
        (
            "  client wall time p50 / max",
            f"{statistics.median(burst['wall_ms']):.0f} / {max(burst['wall_ms']):.0f} ms",
            "(shown)",
            None,
        ),
    ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nInvestigate benchmark — PostgreSQL, FreeScout sandbox L = {L} ms per call, "
        f"{args.runs} first / {args.repeats} repeat clicks; {os.cpu_count()} CPUs, load average {load}\n"
    )
    first_cpu = f"{statistics.median(timings['cpu']['first']):.1f} ms/click"
    repeat_cpu = f"{statistics.median(timings['cpu']['repeat']):.1f} ms/click"
    record(
        "investigate",
        "first click p50",
        f"{first_p50:.0f} ms",
        f"<= {2 * L + 30} ms",
        first_p50 <= 2 * L + 30,
        first_cpu,
    )
    record(
        "investigate",
        "repeat click p99",
        f"{repeat_p99:.0f} ms",
        f"<= {L + 15} ms",
        repeat_p99 <= L + 15,
        repeat_cpu,
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'measured':>26}  {'target':>12}  result")
    for name, measured, target, passed in rows:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        print(f"{name:<{width}}  {measured:>26}  {target:>12}  {verdict}")


if __name__ == "__main__":
    main()
