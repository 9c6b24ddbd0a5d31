#!/usr/bin/env bash
# Create the virtualenv and install the project with its dev tools. Usage: bootstrap.sh PYTHON VENV
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c "import ensurepip" >/dev/null 2>&1; then
  echo "bootstrap: $python has no venv/ensurepip; installing python3-venv" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[dev]'
echo "bootstrap: $venv ready"
