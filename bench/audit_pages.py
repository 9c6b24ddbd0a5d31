"""Benchmark: audit log pages over 1,000,000 rows on PostgreSQL, first page against 50,000 rows deep.

    .venv/bin/python bench/audit_pages.py [--rows 1000000] [--depth 50000] [--repeats 15]

Creates a database of its own on the server at ``TEST_DATABASE_URL`` (default the local
server's ``test`` database), migrates it, fills ``audit_log`` with one ``INSERT … SELECT
generate_series`` (16 actions, 200 people and 2 system actors, pairs of rows sharing a
timestamp so the ``id`` tie-break is exercised), ``ANALYZE``s it and drops it at the end.

For each view — unfiltered, an action prefix (``console.deploy.``), an actor, and a rare
action prefix shown for information — it times ``audit.page`` (the function the page, the
JSON API and ``audit tail`` call) for the first page and for the page that starts 50,000 rows
deep (keyset cursor), median over ``--repeats``, with this process's CPU per page. The peer,
in the same run: the same deep page by ``OFFSET``, the pagination the keyset replaces. Views
marked (info) have fewer than 50,000 rows: they go half-way down, and are shown, not judged.
It prints each plan (``EXPLAIN ANALYZE``) and checks it reads an index in order, with no Sort.

Targets: every page < 50 ms (median), deep within 2x of first, plans index-ordered.
Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Select, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from raxx_console import migrate
from raxx_console.audit import service as audit
from raxx_console.db import Database, normalize_url

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
PAGE_MS_TARGET = 50.0
DEEP_RATIO_TARGET = 2.0
NEWEST = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

#: Shares of the rows, out of 100: logins and the poller dominate, deploys are common, tokens rare.
ACTIONS = [
    ("console.auth.login", 20),
    ("console.auth.logout", 8),
    ("console.status.set", 18),
    ("console.status.ticket_filed", 4),
    ("console.alerts.ticket_filed", 6),
    ("console.flags.toggled", 6),
    ("console.deploy.started", 8),
    ("console.deploy.finished", 7),
    ("console.deploy.failed", 1),
    ("console.promotions.marked", 3),
    ("console.promotions.promoted", 3),
    ("console.secrets.rotated", 3),
    ("console.customers.imported", 4),
    ("console.status.simulated", 4),
    ("console.auth.login_failed", 4),
    ("console.token.created", 1),
]

VIEWS: list[tuple[str, dict[str, str], bool]] = [  # (name, filter params, judged against targets)
    ("unfiltered", {}, True),
    ("action console.deploy.", {"action": "console.deploy."}, True),
    ("actor system:status_poller", {"actor": "system:status_poller"}, True),
    ("rare action console.token. (info)", {"action": "console.token."}, False),
    ("one person user42@raxx.app (info)", {"actor": "user42@raxx.app"}, False),
]


def fill(db: Database, rows: int) -> None:
    """One INSERT … SELECT: row g is (g // 2) seconds older than the newest, so pairs tie on time."""
    buckets, start = [], 0
    for action, share in ACTIONS:
        buckets.append(f"WHEN g % 100 < {start + share} THEN '{action}'")
        start += share
    assert start == 100
    sql = f"""
        INSERT INTO audit_log (created_at, action, actor, selected_env, payload)
        SELECT timestamptz '{NEWEST.isoformat()}' - (g / 2) * interval '1 second',
               CASE {" ".join(buckets)} END,
               CASE WHEN g % 7 = 0 THEN 'system:status_poller'
                    WHEN g % 11 = 0 THEN 'system:outbox'
                    ELSE 'user' || (g % 200) || '@raxx.app' END,
               'production',
               jsonb_build_object('n', g, 'flag', 'FLAG_' || (g % 30))
        FROM generate_series(1, :rows) AS g
    """
    with db.engine.begin() as conn:
        conn.execute(text(sql), {"rows": rows})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE audit_log"))


def timed(fns: list[Callable[[], object]], repeats: int) -> list[tuple[float, float]]:
    """Median wall and CPU milliseconds of each of ``fns``, called in turn (one warm-up round
    first), so the noise of a shared machine falls on all of them alike."""
    for fn in fns:
        fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for n, fn in enumerate(fns):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[n].append((time.perf_counter() - w) * 1000)
            cpu[n].append((time.process_time() - c) * 1000)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


def explain(session: Session, query: Select[Any]) -> str:
    compiled = query.compile(dialect=session.get_bind().dialect)
    conn = session.connection()
    raw = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(compiled), compiled.params)
    return "\n".join(line for (line,) in raw)


def execution_ms(plan: str) -> float:
    """The server's own time for the query, from the plan's last line."""
    return float(plan.rsplit("Execution Time: ", 1)[1].split()[0])


def plan_ok(plan: str) -> bool:
    """An index read in order (newest first), and no Sort node: the table is never sorted."""
    return "Index" in plan and "Sort" not in plan.replace("Sort Key", "").replace("Sort Method", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    admin = create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"raxx_bench_audit_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    failures: list[str] = []
    try:
        migrate.upgrade(db)
        started = time.perf_counter()
        fill(db, args.rows)
        print(f"{args.rows:,} audit rows inserted and analyzed in {time.perf_counter() - started:.1f} s\n")
        columns = [("first ms", 10), ("deep ms", 10), ("deep/first", 12), ("CPU/page ms", 13)]
        columns += [("OFFSET ms", 11), ("server first / deep ms", 24)]
        header = f"{'view':<36}" + "".join(f"{name:>{width}}" for name, width in columns)
        print(header)
        print("-" * len(header))
        plans = []
        with db.session() as session:
            for label, params, judged in VIEWS:
                filters = audit.AuditFilter.from_params(params, NEWEST)
                depth = args.depth
                if not judged:  # a rare view has no 50,000th row: go half-way down instead
                    matching = session.scalar(select(func.count()).select_from(filters.query().subquery()))
                    depth = min(depth, (matching or 0) // 2)
                # The deep page's cursor: the row just above it, found once (untimed).
                above = session.scalars(filters.query().offset(depth - 1).limit(1)).first()
                if above is None:
                    print(f"{label:<36} fewer than {depth:,} rows match; skipped")
                    continue
                cursor = audit.Cursor.of(above)
                first = audit.page(session, filters)
                deep = audit.page(session, filters, after=cursor)
                assert len(first.rows) == len(deep.rows) == audit.PAGE_SIZE
                first_page = partial(audit.page, session, filters)
                deep_page = partial(audit.page, session, filters, after=cursor)
                (first_ms, first_cpu), (deep_ms, deep_cpu) = timed([first_page, deep_page], args.repeats)
                offset_query = filters.query().offset(depth).limit(audit.PAGE_SIZE + 1)
                [(offset_ms, _)] = timed([partial(session.scalars, offset_query)], max(3, args.repeats // 3))
                ratio = deep_ms / first_ms
                deep_plan = explain(session, filters.query(cursor).limit(audit.PAGE_SIZE + 1))
                first_plan = explain(session, filters.query().limit(audit.PAGE_SIZE + 1))
                print(
                    f"{label:<36}{first_ms:>10.2f}{deep_ms:>10.2f}{ratio:>11.2f}x"
                    f"{(first_cpu + deep_cpu) / 2:>13.2f}{offset_ms:>11.1f}"
                    f"{execution_ms(first_plan):>9.2f} /{execution_ms(deep_plan):>6.2f}"
                )
                plans.append((f"{label}, {depth:,} deep", first_plan, deep_plan))
                if not judged:
                    continue
                if max(first_ms, deep_ms) >= PAGE_MS_TARGET:
                    failures.append(f"{label}: a page took {max(first_ms, deep_ms):.1f} ms (target < 50)")
                if ratio > DEEP_RATIO_TARGET:
                    failures.append(f"{label}: deep/first {ratio:.2f}x (target <= 2x)")
                for which, plan in (("first", first_plan), ("deep", deep_plan)):
                    if not plan_ok(plan):
                        failures.append(f"{label}: the {which} page's plan sorts or reads no index")
        print(
            "\n(ms: median wall time of audit.page, round trip and ORM included; CPU/page is this process's;"
            "\n OFFSET: the same deep page by OFFSET, the peer; server: EXPLAIN ANALYZE's execution time.)"
        )
        for label, first_plan, deep_plan in plans:
            print(f"\n== plan, {label.split(',')[0]}, first page:\n{first_plan}\n== plan, {label}:")
            print(deep_plan)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print()
    for failure in failures:
        print(f"FAIL {failure}")
    print("PASS every target" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
