"""A local Sentry DSN endpoint for the health tests (no event leaves the machine)."""

from collections.abc import Iterator

import pytest

from tests.health.sentry_endpoint import SentryEndpoint


@pytest.fixture
def sentry_endpoint() -> Iterator[SentryEndpoint]:
    endpoint = SentryEndpoint()
    with endpoint.server:
        yield endpoint
