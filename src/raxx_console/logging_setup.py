"""Log lines for people grepping Heroku logs: one line each, secrets redacted, no surprises."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable

REDACTED = "[redacted]"
_HANDLER_NAME = "raxx-console"


class RedactingFormatter(logging.Formatter):
    """Replaces every configured secret value in the finished line, tracebacks included."""

    def __init__(self, secrets: Iterable[str], fmt: str) -> None:
        super().__init__(fmt)
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        #: (second, its text): the lines of one second share it (an alert storm logs thousands).
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """``logging.Formatter``'s default ``2026-12-01 12:00:00,123``, formatted once a second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime(self.default_time_format, self.converter(second)))
        return f"{cached[1]},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line


def configure_logging(level: str, secrets: Iterable[str]) -> None:
    """Install (or refresh) the console's stderr handler on the root logger."""
    root = logging.getLogger()
    root.setLevel(level)
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        root.addHandler(handler)
    handler.setFormatter(RedactingFormatter(secrets, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The line names no thread, process or source line: skip gathering them for every record
    # (the logging HOWTO's "Optimization"; an alert storm logs a line per emission).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # the documented switch for findCaller
    for noisy in ("httpx", "httpcore", "werkzeug", "urllib3", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
