"""More than 2 ``freescout_not_configured`` outcomes in 10 minutes → an ERROR alert (RCA 2026-06-19, item 2).

The RCA's rule is written against the log: "``freescout_not_configured`` in freescout_client
logger > 2 events in 10m". So the monitor is a ``logging.Handler`` on that logger, which sees
every not-configured outcome of every client in the process (web requests, worker jobs, CLI)
without any caller wiring it in; the client logs each failed outcome exactly once. The client
offers no outcome observer, and a handler keeps the client free of health concerns.

The window slides (timestamps from the Console's clock, so tests move time), and the alert
fires at most once per window: ``freescout_not_configured_alert count=N window=10m`` at ERROR
on ``raxx_console.health``, and a Sentry event when ``SENTRY_DSN`` is set.

The handler is process-wide, so long-running processes install it (``start_monitoring``), not
the app factory: test apps come and go by the hundred in one process and must not leave a
monitor behind that alerts during someone else's test.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from datetime import datetime, timedelta

from raxx_console.clock import Clock
from raxx_console.config import Settings
from raxx_console.context import Console
from raxx_console.health import sentry
from raxx_console.integrations.freescout_client import logger as freescout_logger
from raxx_console.integrations.freescout_outcomes import Reason

log = logging.getLogger("raxx_console.health")

THRESHOLD = 2
WINDOW_SECONDS = 600.0
COMPONENT_KEY = "freescout_not_configured_monitor"
_HANDLER_NAME = "raxx-console-not-configured-monitor"
_REASON = re.compile(rf"\breason={Reason.NOT_CONFIGURED.value}\b")
_MISSING = re.compile(r"\bmissing=(\S+)")


class NotConfiguredMonitor(logging.Handler):
    """Counts not-configured outcomes in a sliding window and raises the alert once per window."""

    def __init__(
        self,
        clock: Clock,
        settings: Settings,
        *,
        threshold: int = THRESHOLD,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        super().__init__(logging.WARNING)
        self.set_name(_HANDLER_NAME)
        self.clock, self.settings = clock, settings
        self.threshold = threshold
        self.window = timedelta(seconds=window_seconds)
        self._seen: deque[datetime] = deque()
        self._last_alert: datetime | None = None
        self._count_lock = threading.Lock()

    @property
    def window_label(self) -> str:
        seconds = int(self.window.total_seconds())
        return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _REASON.search(message):
            found = _MISSING.search(message)
            self.observe(found.group(1) if found else "")

    def observe(self, missing: str = "") -> bool:
        """Count one outcome; True when this one raised the alert."""
        now = self.clock.now()
        with self._count_lock:
            self._seen.append(now)
            while self._seen and self._seen[0] <= now - self.window:
                self._seen.popleft()
            count = len(self._seen)
            quiet = self._last_alert is None or now - self._last_alert >= self.window
            if count <= self.threshold or not quiet:
                return False
            self._last_alert = now
        line = f"freescout_not_configured_alert count={count} window={self.window_label}"
        if missing:
            line += f" missing={missing}"
        log.error("%s: FreeScout calls fail before reaching the network; see incident runbook Step 0", line)
        sentry.report(self.settings, line, tags={"alert": "freescout_not_configured"})
        return True


def install_monitor(console: Console) -> NotConfiguredMonitor:
    """Watch the client logger, once per process: a later call replaces the earlier monitor."""
    monitor = NotConfiguredMonitor(console.clock, console.settings)
    for handler in list(freescout_logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            freescout_logger.removeHandler(handler)
    freescout_logger.addHandler(monitor)
    if not freescout_logger.isEnabledFor(logging.WARNING):
        # LOG_LEVEL=ERROR would drop the WARNING lines before any handler sees them.
        freescout_logger.setLevel(logging.WARNING)
    console.components[COMPONENT_KEY] = monitor
    return monitor
