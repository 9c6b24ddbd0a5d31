"""``doctor`` asking a running console: the live checks as *that* process sees them.

``raxx-console doctor`` in a second terminal reads its own environment; beside ``serve
--sandbox`` (whose settings live only inside the server process) it would see nothing
configured and contradict the page. So ``doctor --url`` posts to the console's authenticated
checks endpoint, and ``serve --sandbox`` publishes where it runs — its address, its effective
non-secret settings and an owner-only file holding an API token for doctor — in
``instance/sandbox-console.json``, which a plain ``doctor`` finds (docs/decisions.md, "doctor sees
what the server sees"). Keys never go into that file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raxx_console.health.doctor import CheckResult
from raxx_console.private_files import write_owner_only

DISCOVERY_FILE = "sandbox-console.json"
TOKEN_FILE = "sandbox-doctor-token"
#: Where the JSON twin of the panel's "Run checks" answers.
CHECKS_PATH = "/console/health/checks"
TOKEN_NAME = "doctor (serve --sandbox)"


class RemoteError(Exception):
    """The console could not be asked; the message says why and never holds the token."""


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    #: Where the target was found, for the first line doctor prints.
    via: str


def publish(instance_path: Path, *, url: str, token: str, settings: dict[str, Any]) -> Path:
    """Write the discovery file (and the token, owner-only) for this serve --sandbox process."""
    token_path = write_owner_only(instance_path / TOKEN_FILE, token + "\n")
    path = instance_path / DISCOVERY_FILE
    document = {"url": url, "pid": os.getpid(), "token_file": str(token_path.resolve()), "settings": settings}
    write_owner_only(path, json.dumps(document, indent=2, default=str) + "\n")
    return path


def withdraw(instance_path: Path) -> None:
    """Remove what ``publish`` wrote (the server is stopping)."""
    for name in (DISCOVERY_FILE, TOKEN_FILE):
        (instance_path / name).unlink(missing_ok=True)


def discover(instance_path: Path) -> Target | None:
    """The running serve --sandbox console published under ``instance_path``, if any is alive."""
    path = instance_path / DISCOVERY_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(document["pid"]), 0)
        token = Path(document["token_file"]).read_text(encoding="utf-8").strip()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Target(url=str(document["url"]), token=token, via=f"serve --sandbox ({path})")


def fetch_checks(target: Target, timeout: float = 60.0) -> list[CheckResult]:
    """The console's own live checks, through its JSON endpoint (operator role)."""
    import httpx

    url = target.url.rstrip("/") + CHECKS_PATH
    try:
        response = httpx.post(
            url,
            headers={"Authorization": f"Bearer {target.token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the console at {target.url}: {type(exc).__name__}") from None
    if response.status_code == 401:
        raise RemoteError(f"{target.url} refused the API token (is RAXX_CONSOLE_TOKEN a live token?)")
    if response.status_code == 403:
        raise RemoteError(f"{target.url}: the token's user needs the operator role to run the checks")
    try:
        checks = response.json()["checks"]
        return [CheckResult(**check) for check in checks]
    except (ValueError, KeyError, TypeError):
        raise RemoteError(f"{target.url} answered HTTP {response.status_code}, not the checks") from None
