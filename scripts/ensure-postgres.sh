#!/usr/bin/env bash
# Prints a PostgreSQL URL for the tests. Uses TEST_DATABASE_URL (default: the local server at
# 127.0.0.1:5432, database test) when it answers; otherwise starts a throwaway cluster from the
# system's PostgreSQL binaries (installing them if missing) under $1 and prints its URL.
set -euo pipefail
workdir=${1:?usage: ensure-postgres.sh WORKDIR}
url=${TEST_DATABASE_URL:-postgresql://127.0.0.1:5432/test}
python=${PYTHON:-.venv/bin/python}

answers() {
  "$python" - "$1" <<'PY' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}

if answers "$url"; then echo "$url"; exit 0; fi

echo "ensure-postgres: nothing answers at $url; starting a throwaway cluster" >&2
bash "$(dirname "$0")/system-deps.sh" --postgres
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data="$workdir/pgdata"; port=${TEST_PG_PORT:-55432}
rm -rf "$data"; mkdir -p "$workdir"
runas=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root: hand the cluster to the postgres user.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown -R postgres "$workdir"; runas=(runuser -u postgres --)
fi
"${runas[@]}" "$bindir/initdb" -D "$data" -A trust -U postgres >/dev/null
"${runas[@]}" "$bindir/pg_ctl" -D "$data" -o "-p $port -k $workdir -c listen_addresses=127.0.0.1" -l "$workdir/pg.log" -w start >/dev/null
"${runas[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres test
echo "postgresql://postgres@127.0.0.1:$port/test"
