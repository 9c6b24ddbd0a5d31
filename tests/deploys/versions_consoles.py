"""Console versions on two consoles: the app under test is staging, ``prod`` a second live console.

Both read one GitHub sandbox: staging runs its newest commit (``SOURCE_VERSION``), prod its first
until a ``deploy-console.yml`` run to production completes — then prod's ``/version`` reports what
that run deployed (``VERSION_SANDBOX_DEPLOYED_URL``, raxx_console/version.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from raxx_console.auth import totp
from raxx_console.auth.models import User
from raxx_console.clock import ManualClock
from raxx_console.context import Console
from tests.conftest import GitHubSandbox
from tests.peer_consoles import STAGING_HOST, HostClient, LiveConsole, start_console
from tests.support.accounts import login, make_user


def deployed_url(sandbox: GitHubSandbox) -> str:
    return f"{sandbox.url}/_sandbox/deployed?workflow=deploy-console.yml&environment=production"


@pytest.fixture
def prod(
    sqlite_template: Path, tmp_path: Path, clock: ManualClock, github_sandbox: GitHubSandbox
) -> Iterator[LiveConsole]:
    """console-prod: reports the sandbox's first commit until a production run deploys another."""
    first = github_sandbox.state.commits[0]["sha"]
    overrides = {"SOURCE_VERSION": first, "VERSION_SANDBOX_DEPLOYED_URL": deployed_url(github_sandbox)}
    prod = start_console(
        sqlite_template, tmp_path, clock, name="prod", service="console-staging", overrides=overrides
    )
    yield prod
    prod.stop()
    prod.console.db.dispose()


@pytest.fixture
def versions_settings(
    github_settings: dict[str, Any], github_sandbox: GitHubSandbox, prod: LiveConsole
) -> dict[str, Any]:
    """The console under test is staging, on the sandbox's newest commit, linked to ``prod``."""
    github_settings["SOURCE_VERSION"] = github_sandbox.state.resolve("main")
    github_settings["CONSOLE_PEER_URLS"] = f"production={prod.url}"
    github_settings["CONSOLE_PEER_TOKEN"] = prod.token
    return github_settings


class StagingClient(HostClient):
    host = STAGING_HOST


def staging_client(app: Flask) -> FlaskClient:
    return StagingClient(app, app.response_class, use_cookies=True)


def enrol(console: Console, email: str) -> str:
    """Confirm the admin's TOTP enrolment with the current code (now used up); the secret."""
    with console.db.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        row = totp.start_enrolment(session, console.clock, user=user)
        secret = row.secret
        code = pyotp.TOTP(secret).at(console.clock.now())
        confirmed = totp.confirm_enrolment(session, console.clock, user=user, code=code, env="staging")
        assert confirmed is totp.TotpResult.OK
    return secret


def signed_in(app: Flask, console: Console, email: str, role: str = "admin") -> FlaskClient:
    make_user(console, email, role)
    client = staging_client(app)
    login(client, email)
    return client
