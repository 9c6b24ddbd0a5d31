"""Benchmark: the status grid at 1,000 surfaces — ``status.json`` and ``/console/status``.

    .venv/bin/python bench/grid.py [--surfaces 1000] [--runs 15]

PostgreSQL (``TEST_DATABASE_URL`` or the local ``test`` server; its own database, dropped on
exit). Every surface has a status row and a full history strip (20 checks); a tenth are
degraded, with an Investigate ticket each. Requests go through Flask's test client with an
operator's bearer token (the heaviest page: Investigate, linked tickets and Deploy on) and a
viewer's. The peer in the same run is one SQL statement that returns the grid's rows — what the
database alone costs. Target: median <= 100 ms each, also for a request right after a poll cycle
(a new check for every surface, written untimed: the cached strips take the new checks in); a
worker's first request, which reads every strip, is shown. CPU per request is printed beside
each time: it is steadier than wall time on a busy machine. ``--profile PATH`` prints where one
request's CPU goes instead.
It is a benchmark: it prints a table and exits 0; nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).parent))
from _summary import record
from investigate import BenchDatabase
from raxx_console import create_app
from raxx_console.auth import service as auth_service
from raxx_console.auth.models import User
from raxx_console.flags.registry import DEPLOY_UI_FLAG, INVESTIGATE_FLAG, LINKED_TICKET_FLAG
from raxx_console.status.models import SurfaceCheck, SurfaceStatus
from raxx_console.status.service import HISTORY_CACHE_KEY
from raxx_console.status.ticket_view import status_key
from raxx_console.tickets.models import ENTRY_STATUS, TICKET_FILED, Ticket

TARGET_MS = 100.0
HISTORY = 20


def surfaces_toml(count: int) -> str:
    lines = []
    for n in range(count):
        lines += [
            "[[surface]]",
            f'id = "s{n:04d}"',
            f'name = "Surface {n}"',
            'workflow = "deploy-heroku.yml"',
            'target_env = "production"',
            f'app = "raxx-s{n:04d}"',
            f'health_url = "http://127.0.0.1:9/s{n}"',
            "",
        ]
    return "\n".join(lines)


def seed(console, count: int) -> None:
    now = console.clock.now()
    statuses, checks, tickets = [], [], []
    for n in range(count):
        sid = f"s{n:04d}"
        status = "degraded" if n % 10 == 0 else "operational"
        statuses.append(
            {
                "surface_id": sid,
                "status": status,
                "checked_at": now,
                "latency_ms": 42,
                "detail": "",
                "hysteresis": {},
            }
        )
        for k in range(HISTORY):
            checks.append(
                {
                    "surface_id": sid,
                    "checked_at": now - timedelta(seconds=30 * k),
                    "status": status,
                    "condition": status,
                    "http_status": 200,
                    "latency_ms": 40 + k,
                    "detail": "",
                }
            )
        if status == "degraded":
            tickets.append(
                {
                    "entry": ENTRY_STATUS,
                    "dedup_key": status_key(sid, "degraded"),
                    "ref": f"RX-{n:06d}",
                    "state": TICKET_FILED,
                    "surface_id": sid,
                    "surface_status": "degraded",
                    "ticket_id": 1000 + n,
                    "ticket_url": f"https://freescout.example/conversation/{1000 + n}",
                    "subject": f"{sid} is degraded",
                    "body_html": "",
                    "tags": [],
                    "created_at": now,
                    "filed_at": now,
                    "fs_status": "active",
                    "requested_by": "bench",
                }
            )
    with console.db.session() as session:
        session.execute(insert(SurfaceStatus), statuses)
        session.execute(insert(SurfaceCheck), checks)
        session.execute(insert(Ticket), tickets)


def timed(measures: list[tuple[str, Any, Any, float | None]], runs: int) -> list[tuple[str, list, list, Any]]:
    """Wall and CPU ms of each run of each measure ``(name, fn, before, target)``, the measures
    interleaved run by run so that a busy spell of the machine falls on all of them alike;
    ``before`` (the writes of a poll cycle, say) runs untimed ahead of each run."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, *_rest in measures}
    for _ in range(runs):
        for name, fn, before, _target in measures:
            if before is not None:
                before()
            started, cpu_started = time.perf_counter(), time.thread_time()
            fn()
            times[name][0].append((time.perf_counter() - started) * 1000)
            times[name][1].append((time.thread_time() - cpu_started) * 1000)
    return [(name, *times[name], target) for name, _fn, _before, target in measures]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surfaces", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--profile", metavar="PATH", help="print a cProfile of one request of PATH, then exit"
    )
    parser.add_argument("--after-cycle", action="store_true", help="with --profile: right after a poll cycle")
    parser.add_argument("--sort", default="cumulative", help="with --profile: pstats order (tottime, ...)")
    args = parser.parse_args()
    with BenchDatabase() as url, tempfile.TemporaryDirectory() as tmp:
        surfaces = Path(tmp) / "surfaces.toml"
        surfaces.write_text(surfaces_toml(args.surfaces))
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": secrets.token_hex(16),
                "INSTANCE_PATH": tmp,
                "SURFACES_FILE": str(surfaces),
                "LOG_LEVEL": "WARNING",
            }
        )
        console = app.extensions["raxx_console"]
        gc.freeze()  # as `raxx-console web` does once its app is built (cli.py)
        try:
            seed(console, args.surfaces)
            tokens = {}
            for role in ("operator", "viewer"):
                with console.db.session() as session:
                    auth_service.create_user(
                        session,
                        console.clock,
                        email=f"{role}@raxx.app",
                        role=role,
                        password=None,
                        actor="bench",
                        env="development",
                    )
                with console.db.session() as session:
                    user = session.scalar(select(User).where(User.email == f"{role}@raxx.app"))
                    tokens[role] = auth_service.create_token(
                        session, console.clock, user=user, name="bench", actor="bench", env="development"
                    )
            for flag in (INVESTIGATE_FLAG, LINKED_TICKET_FLAG, DEPLOY_UI_FLAG):  # every tile's part shown
                console.flags.change(
                    flag, True, settings=console.settings, actor="bench", env="development", confirm=True
                )
            client = app.test_client()

            def get(path: str, role: str = "operator"):
                headers = {"Authorization": f"Bearer {tokens[role]}"}

                def run() -> None:
                    response = client.get(path, headers=headers)
                    assert response.status_code == 200, response.status_code
                    assert response.get_data()

                return run

            def new_cycle() -> None:
                """A poll cycle's writes: a new check for every surface."""
                now = console.clock.now()
                with console.db.session() as session:
                    session.execute(
                        insert(SurfaceCheck),
                        [
                            {
                                "surface_id": f"s{n:04d}",
                                "checked_at": now,
                                "status": "operational",
                                "condition": "operational",
                                "http_status": 200,
                                "latency_ms": 1,
                                "detail": "",
                            }
                            for n in range(args.surfaces)
                        ],
                    )

            def one_statement() -> None:
                with console.db.engine.connect() as conn:
                    conn.execute(
                        text(
                            "SELECT s.surface_id, s.status, c.checked_at, c.status FROM surface_status s "
                            "JOIN LATERAL (SELECT checked_at, status FROM surface_checks k "
                            "WHERE k.surface_id = s.surface_id ORDER BY checked_at DESC LIMIT 20) c ON true"
                        )
                    ).all()

            get("/console/status.json")()  # warm-up
            get("/console/status")()
            if args.profile:
                if args.after_cycle:
                    new_cycle()
                # CPU time, not wall: a profile taken on a busy machine still adds up.
                profiler = cProfile.Profile(time.thread_time)
                profiler.runcall(get(args.profile))
                pstats.Stats(profiler).sort_stats(args.sort).print_stats(40)
                return 0

            def cold() -> None:
                """A worker's first request: no strip cached yet."""
                console.components.pop(HISTORY_CACHE_KEY, None)

            json_, page = get("/console/status.json"), get("/console/status")
            rows = timed(
                [
                    ("status.json", json_, None, TARGET_MS),
                    ("/console/status (operator)", page, None, TARGET_MS),
                    ("/console/status (viewer)", get("/console/status", "viewer"), None, TARGET_MS),
                    ("status.json after a poll cycle", json_, new_cycle, TARGET_MS),
                    ("/console/status after a poll cycle", page, new_cycle, TARGET_MS),
                    ("status.json, a worker's first (strips read)", json_, cold, None),
                    ("peer: the grid's rows in one SQL statement", one_statement, None, None),
                ],
                args.runs,
            )
        finally:
            console.db.dispose()
    peer = statistics.median(rows[-1][1])
    print(f"status grid, {args.surfaces} surfaces x {HISTORY} checks, {args.runs} runs (PostgreSQL)")
    print(f"{'measure':<44} {'median ms':>10} {'max ms':>8} {'CPU ms':>8} {'x peer':>7}  target")
    for name, wall, cpu, target in rows:
        median = statistics.median(wall)
        verdict = "" if target is None else ("hold" if median <= target else "MISS") + f" <= {target:.0f} ms"
        print(
            f"{name:<44} {median:>10.1f} {max(wall):>8.1f} {statistics.median(cpu):>8.1f} "
            f"{median / peer:>7.1f}  {verdict}"
        )
        record(
            "grid",
            f"{name}, p50",
            f"{median:.0f} ms",
            "(shown)" if target is None else f"<= {target:.0f} ms",
            None if target is None else median <= target,
            f"{statistics.median(cpu):.1f} ms/request",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
