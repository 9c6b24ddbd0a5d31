"""The OpenAPI document is the contract: schemathesis drives a live app with what it describes.

Derandomized (a fixed hypothesis seed) and bounded (``MAX_EXAMPLES`` per operation and phase),
so the suite stays deterministic and quick; every check of schemathesis runs — no 5xx, status
codes, content types, headers and bodies as documented, invalid input refused and valid input
accepted. On PostgreSQL only: that is where a NUL used to become a 500.

A longer, randomized run: ``FUZZ_MAX_EXAMPLES=2000 FUZZ_REPORT=fuzz.json pytest tests/contract``
(the report counts requests by operation and status class).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support.accounts import make_token, make_user

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
DERANDOMIZE = "FUZZ_MAX_EXAMPLES" not in os.environ
STATUS_CLASSES: Counter[str] = Counter()

schema = schemathesis.openapi.from_path(str(resources.files("raxx_console.alerts").joinpath("openapi.json")))


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def bearer(console) -> dict[str, str]:
    make_user(console, "fuzz@raxx.app", "operator")
    return {"Authorization": f"Bearer {make_token(console, 'fuzz@raxx.app')}"}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(json.dumps(dict(sorted(STATUS_CLASSES.items())), indent=2))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=DERANDOMIZE,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_keeps_the_documented_contract(case, live_server, bearer):
    response = case.call(base_url=live_server, headers=bearer)
    STATUS_CLASSES[f"{case.operation.label} {response.status_code // 100}xx"] += 1
    STATUS_CLASSES["requests"] += 1
    case.validate_response(response)
    assert response.status_code < 500
