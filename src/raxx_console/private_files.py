"""Files only their owner may read: a generated password, a local API token."""

from __future__ import annotations

import os
from pathlib import Path


def write_owner_only(path: Path, text: str) -> Path:
    """Write ``text`` to a file only its owner may read (mode 0600 from creation, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
