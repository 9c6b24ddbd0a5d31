"""A secret's short fingerprint: what pages, audit rows and the database show instead of a value."""

from __future__ import annotations

import hashlib

#: Hex digits of SHA-256 kept: enough to tell two rotations apart, far too few to matter for a
#: 256-bit random value (docs/decisions.md, "Secrets never leave the vault and the apps").
FINGERPRINT_LENGTH = 12


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:FINGERPRINT_LENGTH]
