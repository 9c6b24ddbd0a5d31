#!/usr/bin/env bash
# Every benchmark in bench/, one after the other, each printing its own table. They need PostgreSQL:
# TEST_DATABASE_URL (default the local server's `test` database), or a throwaway cluster started here.
# Exit code 1 if any benchmark exits non-zero; each prints its own pass/fail against its targets.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export PYTHON=$bin/python

workdir=$(mktemp -d)
trap 'bash scripts/stop-postgres.sh "$workdir"; rm -rf "$workdir"' EXIT
TEST_DATABASE_URL=$(bash scripts/ensure-postgres.sh "$workdir")
export TEST_DATABASE_URL

export BENCH_SUMMARY="$workdir/summary.jsonl"
status=0
for bench in bench/*.py; do
  case "$(basename "$bench")" in _*) continue ;; esac   # helpers, not benchmarks
  echo "== $bench"
  "$bin/python" "$bench" || status=1
  echo
done
"$bin/python" bench/_summary.py
exit $status
