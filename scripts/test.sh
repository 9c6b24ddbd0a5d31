#!/usr/bin/env bash
# The whole suite: lint, format check, type check, then pytest on SQLite and PostgreSQL with the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export PYTHON=$bin/python

bash scripts/system-deps.sh
workdir=$(mktemp -d)
cleanup() {
  bash scripts/stop-postgres.sh "$workdir"
  rm -rf "$workdir"
}
trap cleanup EXIT
TEST_DATABASE_URL=$(bash scripts/ensure-postgres.sh "$workdir")
export TEST_DATABASE_URL

echo "== ruff"
$bin/ruff check src tests bench
$bin/ruff format --check src tests bench

echo "== mypy"
$bin/mypy

echo "== pytest (PostgreSQL: ${TEST_DATABASE_URL%%\?*})"
$bin/pytest -n "${PYTEST_WORKERS:-2}" -p no:cacheprovider "$@"
