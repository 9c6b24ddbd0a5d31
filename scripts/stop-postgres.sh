#!/usr/bin/env bash
# Stops the throwaway cluster that ensure-postgres.sh may have started under WORKDIR (no-op otherwise).
set -euo pipefail
workdir=${1:?usage: stop-postgres.sh WORKDIR}
[ -f "$workdir/pgdata/postmaster.pid" ] || exit 0
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D "$workdir/pgdata" stop -m fast >/dev/null || true
else "$bindir/pg_ctl" -D "$workdir/pgdata" stop -m fast >/dev/null || true; fi
