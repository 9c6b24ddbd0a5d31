"""What code this console runs: its commit SHA and when it was deployed (``/version``).

On Heroku the dyno metadata says both: ``SOURCE_VERSION`` (the build's SHA) or
``HEROKU_SLUG_COMMIT``, and ``HEROKU_RELEASE_CREATED_AT``. Elsewhere ``GIT_COMMIT`` or the
checkout's ``git rev-parse HEAD``. Nothing known is ``unknown``, and console versions refuses
to promote while either console says so.

Sandbox only: ``VERSION_SANDBOX_DEPLOYED_URL`` names a GitHub sandbox's
``/_sandbox/deployed?workflow=deploy-console.yml&environment=…`` query. A console wired so
reports the SHA the sandbox's newest successful run deployed to it, and when that run finished —
what a real console reports once its Heroku release is live. Before its first run it reports
``SOURCE_VERSION``, never the checkout's HEAD (which the sandbox does not know). Settings refuse
it with ``CONSOLE_ENV=production`` (docs/decisions.md).
"""

from __future__ import annotations

import logging
import os
import subprocess
from functools import lru_cache
from pathlib import Path

import httpx

from raxx_console.config import Settings
from raxx_console.peers import PeerVersion

log = logging.getLogger("raxx_console.version")

UNKNOWN = "unknown"
_SANDBOX_TIMEOUT_SECONDS = 2.0


@lru_cache(maxsize=1)
def _git_sha() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _sandbox_deployed(url: str) -> tuple[str | None, str | None]:
    """(sha, deployed_at) from the GitHub sandbox's ``/_sandbox/deployed``; (None, None) if it has none."""
    try:
        body = httpx.get(url, timeout=_SANDBOX_TIMEOUT_SECONDS).json()
    except (httpx.HTTPError, ValueError):
        log.warning("version: the GitHub sandbox did not answer /_sandbox/deployed")
        return None, None
    if not isinstance(body, dict) or not isinstance(body.get("sha"), str):
        return None, None
    deployed = body.get("deployed_at")
    return body["sha"], deployed if isinstance(deployed, str) else None


def running_version(settings: Settings, env: str) -> PeerVersion:
    """This console's ``/version`` document: the shape the other console reads through the peer link."""
    if settings.VERSION_SANDBOX_DEPLOYED_URL:
        sha, deployed_at = _sandbox_deployed(settings.VERSION_SANDBOX_DEPLOYED_URL)
        if sha:
            return PeerVersion(sha=sha, env=env, deployed_at=deployed_at)
        return PeerVersion(sha=settings.SOURCE_VERSION or UNKNOWN, env=env)
    sha = settings.SOURCE_VERSION or settings.HEROKU_SLUG_COMMIT or os.environ.get("GIT_COMMIT") or _git_sha()
    return PeerVersion(sha=sha or UNKNOWN, env=env, deployed_at=settings.HEROKU_RELEASE_CREATED_AT)
