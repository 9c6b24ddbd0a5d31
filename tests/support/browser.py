"""Debian's Chromium for the Playwright tests (never a downloaded browser)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # The staging/production banner tests visit their hosts; resolve them all to the test server.
    "--host-resolver-rules=MAP console.raxx.app 127.0.0.1, MAP console-staging.raxx.app 127.0.0.1",
]
