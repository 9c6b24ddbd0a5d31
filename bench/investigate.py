"""Benchmark: Investigate (entry A) server time, and concurrent first clicks on gunicorn.

    .venv/bin/python bench/investigate.py [--runs 30] [--repeats 200] [--clicks 100]

PostgreSQL (``TEST_DATABASE_URL`` or the local ``test`` server; the benchmark creates and drops
its own database) and the FreeScout sandbox over real HTTP with L = 100 ms per call.

* **first click**: reserve, create the conversation, tag it, audit. FreeScout is called for the
  create and the tags, so the target is median <= 2L + 30 ms.
* **repeat click**: the open ticket filed within the hour is reused after one FreeScout read:
  target p99 <= L + 15 ms.
* **the peer**, measured in the same run, interleaved click by click: the same FreeScout calls
  made bare (a persistent httpx client, no console): create + tags beside each first click, one
  read beside each repeat. A click minus its peer is the console's own share of the wait.
* **transactions and statements** per click, counted on the engine (BEGIN / cursor executes).
* **concurrent first clicks**: N clicks at once (bearer token, httpx threads) on 4 gunicorn
  workers x 4 threads: exactly one ticket, every answer naming it or queued for its ref.

The sandbox runs in a process of its own (so it does not share the console's GIL), under
gunicorn's threaded worker: it keeps connections alive as FreeScout behind its proxy does, and it
counts the TCP connections the console opened (a new one per call would show here).
Server time is measured in-process around the view (Flask's test client against the real database
and the real sandbox), so it leaves out only the network hop to the console. The machine is
shared: CPU per click (the console's thread) is the steadier figure. It is a benchmark: it prints a
table and exits; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
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
from sqlalchemy import create_engine, event, select, text, update
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


def in_process(database_url: str, sandbox_url: str, instance: Path, runs_n: int, repeats: int) -> dict:
    """Server time, CPU, transactions and statements of first and repeat clicks, each beside its peer."""
    overrides = {
        **sandbox_settings(sandbox_url),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(16),
        "INSTANCE_PATH": str(instance),
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(overrides)
    gc.freeze()  # as `raxx-console web` does once its app is built (cli.py)
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
        peer = httpx.Client(base_url=f"{sandbox_url}/api", headers=sandbox_headers(), timeout=10)
        counts = {"BEGIN": 0, "statements": 0}
        #: Work a click does now and then, not per click: the token's last use (once a minute)
        #: and the flag cache's refresh (every FLAG_CACHE_TTL_SECONDS).
        periodic = {"UPDATE api_tokens": 0, "FROM flag_overrides": 0}

        def begin(_conn: object) -> None:
            counts["BEGIN"] += 1

        def statement(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
            counts["statements"] += 1
            for fragment in periodic:
                periodic[fragment] += fragment in sql

        event.listen(console.db.engine, "begin", begin)
        event.listen(console.db.engine, "before_cursor_execute", statement)
        runs: dict[str, dict[str, list[float]]] = {
            kind: {"ms": [], "cpu": [], "peer": [], "tx": [], "statements": []}
            for kind in ("first", "repeat")
        }

        def timed_click(kind: str) -> dict:
            counts.update(BEGIN=0, statements=0)
            started, cpu_started = time.perf_counter(), time.thread_time()
            response = client.post(path, headers=headers)
            runs[kind]["ms"].append((time.perf_counter() - started) * 1000)
            runs[kind]["cpu"].append((time.thread_time() - cpu_started) * 1000)
            runs[kind]["tx"].append(counts["BEGIN"])
            runs[kind]["statements"].append(counts["statements"])
            assert response.status_code == 200, response.get_data(as_text=True)
            return response.get_json()

        def timed_peer(kind: str, conversation_id: int) -> None:
            """The same FreeScout calls, bare: create + tags, or one read."""
            started = time.perf_counter()
            if kind == "first":
                created = peer.post("conversations", json=PEER_CONVERSATION)
                new_id = created.headers["Resource-ID"]
                peer.put(f"conversations/{new_id}/tags", json={"tags": ["bench"]}).raise_for_status()
            else:
                peer.get(f"conversations/{conversation_id}", params={"embed": "tags"}).raise_for_status()
            runs[kind]["peer"].append((time.perf_counter() - started) * 1000)

        body = timed_click("first")  # warm-up: connection pools, first imports, recovery state
        for values in runs["first"].values():
            values.clear()
        timed_peer("first", 0)
        runs["first"]["peer"].clear()
        connections_before = sandbox_connections(sandbox_url)
        for _ in range(runs_n):
            with console.db.session() as session:  # make every earlier ticket known closed
                session.execute(update(Ticket).values(fs_status="closed"))
            body = timed_click("first")
            assert body.get("idempotent") is False, body
            timed_peer("first", 0)
        for _ in range(repeats):
            body = timed_click("repeat")
            assert body.get("idempotent") is True, body
            timed_peer("repeat", body["ticket_id"])
        calls = 2 * runs_n + repeats  # the console's FreeScout calls in the timed clicks
        # The peer's own client holds one connection; whatever else is new is the console's.
        opened = sandbox_connections(sandbox_url) - connections_before
        peer.close()
        return {**runs, "calls": calls, "connections": opened, "periodic": periodic}
    finally:
        console.db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_headers() -> dict[str, str]:
    return {
        "X-FreeScout-API-Key": API_KEY,
        "CF-Access-Client-Id": CF_ID,
        "CF-Access-Client-Secret": CF_SECRET,
        "Accept": "application/json",
    }


#: What the peer creates: a conversation like a click's, from the same bot customer.
PEER_CONVERSATION = {
    "type": "email",
    "mailboxId": 2,
    "subject": "[RX-PEER] bench peer",
    "customer": {"email": "console-bot@raxx.app"},
    "threads": [{"type": "customer", "text": "<p>peer</p>", "customer": {"email": "console-bot@raxx.app"}}],
    "imported": True,
    "status": "active",
}


def conversation_count(sandbox_url: str) -> int:
    """How many conversations the sandbox holds, through its API (it runs in another process)."""
    response = httpx.get(
        f"{sandbox_url}/api/conversations", params={"pageSize": 1}, headers=sandbox_headers(), timeout=10
    )
    return response.json()["page"]["totalElements"]


def sandbox_connections(sandbox_url: str) -> int:
    """TCP connections the sandbox has accepted so far (this question's own included)."""
    return int(httpx.get(f"{sandbox_url}{CONNECTIONS_PATH}", timeout=10).text)


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


CONNECTIONS_PATH = "/_bench/connections"
SANDBOX_CHILD = """
import sys
from gunicorn.app.base import BaseApplication
from raxx_console.sandbox.freescout import create_freescout_sandbox

api_key, cf_id, cf_secret, connections_path = sys.argv[1:5]
sandbox = create_freescout_sandbox(api_key=api_key, cf_client_id=cf_id, cf_client_secret=cf_secret)
peers = set()  # (address, port) of every connection seen: one per TCP connection

def app(environ, start_response):
    if environ["PATH_INFO"] == connections_path:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(peers)).encode()]
    peers.add((environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")))
    return sandbox(environ, start_response)

def ready(server):
    host, port = server.LISTENERS[0].sock.getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)

class Sandbox(BaseApplication):
    def load_config(self):
        settings = {"bind": "127.0.0.1:0", "workers": 1, "worker_class": "gthread", "threads": 64,
                    "keepalive": 75, "graceful_timeout": 2, "loglevel": "warning", "when_ready": ready}
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        return app

Sandbox().run()
"""


@contextlib.contextmanager
def sandbox_process() -> Iterator[str]:
    """The FreeScout sandbox in a child process (gunicorn, keep-alive); yields its URL, stops it on exit."""
    child = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_CHILD, API_KEY, CF_ID, CF_SECRET, CONNECTIONS_PATH],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
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
    first, repeat = timings["first"], timings["repeat"]
    first_p50, repeat_p99 = statistics.median(first["ms"]), percentile(repeat["ms"], 99)
    first_cpu = f"{statistics.median(first['cpu']):.1f} / {percentile(first['cpu'], 99):.1f} ms/click"
    repeat_cpu = f"{statistics.median(repeat['cpu']):.1f} / {percentile(repeat['cpu'], 99):.1f} ms/click"

    def share(kind: dict, q: int) -> float:
        """The console's own share: each click minus the bare calls made beside it."""
        return percentile([ms - peer for ms, peer in zip(kind["ms"], kind["peer"], strict=True)], q)

    def counted(kind: dict, what: str) -> str:
        return f"{statistics.median(kind[what]):.0f} (max {max(kind[what])})"

    rows = [
        (
            "first click (create + tags), p50",
            f"{first_p50:.1f} ms",
            f"<= {2 * L + 30} ms",
            first_p50 <= 2 * L + 30,
        ),
        (
            "  its peer (bare create + tags), p50",
            f"{statistics.median(first['peer']):.1f} ms",
            "(shown)",
            None,
        ),
        ("  click / peer, p50", f"{first_p50 / statistics.median(first['peer']):.2f}x", "(shown)", None),
        (
            "  console's share (click - peer), p50 / p99",
            f"{share(first, 50):.1f} / {share(first, 99):.1f} ms",
            "(shown)",
            None,
        ),
        ("  console CPU p50 / p99", first_cpu, "(shown)", None),
        (
            "  transactions / statements per click, p50 (max)",
            f"{counted(first, 'tx')} / {counted(first, 'statements')}",
            "tx <= 3",
            statistics.median(first["tx"]) <= 3,
        ),
        ("repeat click (one read), p99", f"{repeat_p99:.1f} ms", f"<= {L + 15} ms", repeat_p99 <= L + 15),
        ("  p50", f"{statistics.median(repeat['ms']):.1f} ms", "(shown)", None),
        (
            "  its peer (bare read), p50 / p99",
            f"{statistics.median(repeat['peer']):.1f} / {percentile(repeat['peer'], 99):.1f} ms",
            "(shown)",
            None,
        ),
        ("  click / peer, p99", f"{repeat_p99 / percentile(repeat['peer'], 99):.2f}x", "(shown)", None),
        (
            "  console's share (click - peer), p50 / p99",
            f"{share(repeat, 50):.1f} / {share(repeat, 99):.1f} ms",
            "<= 15 ms",
            share(repeat, 99) <= 15,
        ),
        ("  console CPU p50 / p99", repeat_cpu, "(shown)", None),
        (
            "  transactions / statements per click, p50 (max)",
            f"{counted(repeat, 'tx')} / {counted(repeat, 'statements')}",
            "tx <= 2",
            statistics.median(repeat["tx"]) <= 2,
        ),
        (
            "  now and then (in the max): token touches / flag refreshes",
            " / ".join(str(n) for n in timings["periodic"].values()),
            "(shown)",
            None,
        ),
        (
            "FreeScout TCP connections for the clicks' calls",
            f"{timings['connections']} new for {timings['calls']} calls",
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
    for kind, name, bound in ((first, "first", 3), (repeat, "repeat", 2)):
        typical = statistics.median(kind["tx"])
        record("investigate", f"{name} click transactions", f"{typical:.0f}", f"<= {bound}", typical <= bound)
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'measured':>26}  {'target':>12}  result")
    for name, measured, target, passed in rows:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        print(f"{name:<{width}}  {measured:>26}  {target:>12}  {verdict}")


if __name__ == "__main__":
    main()
