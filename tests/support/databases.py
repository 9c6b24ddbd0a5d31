"""Which databases the tests run on: SQLite and the PostgreSQL server of ``TEST_DATABASE_URL``."""

from __future__ import annotations

import os

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")


BACKENDS = ("sqlite", "postgresql")
