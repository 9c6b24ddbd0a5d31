"""The one table ``make bench`` ends with: every target, whether it holds, and CPU per operation.

Each benchmark calls ``record`` for its targets; ``scripts/bench.sh`` points ``BENCH_SUMMARY``
at a file for the run and prints the table with ``python bench/_summary.py`` at the end. Run on
its own, a benchmark records nothing (the variable is unset) and prints only its own table.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SUMMARY_ENV = "BENCH_SUMMARY"


def record(bench: str, measure: str, measured: str, target: str, holds: bool | None, cpu: str = "") -> None:
    """One line of the summary (``holds`` None: shown, not judged)."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    line = {"bench": bench, "measure": measure, "measured": measured, "target": target, "holds": holds}
    with Path(path).open("a") as out:
        out.write(json.dumps({**line, "cpu": cpu}) + "\n")


def main() -> int:
    path = os.environ.get(SUMMARY_ENV)
    if not path or not Path(path).exists():
        print("no benchmark recorded a target")
        return 0
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"== summary: every target ({os.cpu_count()} CPUs, load average {load})")
    widths = [
        max(len(str(r[key])) for r in rows) for key in ("bench", "measure", "measured", "target", "cpu")
    ]
    for row in rows:
        verdict = "-" if row["holds"] is None else ("hold" if row["holds"] else "MISS")
        cells = [
            str(row[key]).ljust(w)
            for key, w in zip(("bench", "measure", "measured", "target", "cpu"), widths, strict=True)
        ]
        print("  ".join([*cells, verdict]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
