"""The sandbox stack: servers up, the console wired to them, the demo seeded; and `serve --sandbox` itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from raxx_console.audit.models import AuditLog
from raxx_console.clock import SystemClock
from raxx_console.customers.models import Customer
from raxx_console.flags.registry import LINKED_TICKET_FLAG
from raxx_console.integrations import registry
from raxx_console.sandbox.stack import (
    DEMO_CUSTOMERS,
    DEMO_DEPLOY_FLAGS,
    ROTATION_FLAGS,
    SandboxStack,
    surfaces_toml,
)
from raxx_console.secrets.registry import CONSOLE_APPS, SECRETS
from raxx_console.status.surfaces import load_surfaces

RUNBOOK_SURFACES = ["api-prod", "api-staging", "console-prod", "console-staging", "getraxx", "raxx-mockups"]
TICKETING_FLAGS = ("FLAG_CONSOLE_INVESTIGATE_FROM_STATUS", "FLAG_CONSOLE_ALERTS_AUTO_TICKET")


@pytest.fixture(scope="module")
def stack() -> Iterator[SandboxStack]:
    stack = SandboxStack.start()
    yield stack
    stack.stop()


@pytest.fixture
def clock() -> SystemClock:
    """The stack's FreeScout runs on the wall clock; the console must agree on "the last 30 days"."""
    return SystemClock()


@pytest.fixture
def wired(settings_overrides, stack: SandboxStack) -> dict:
    settings_overrides.update(stack.settings_overrides(console_url="http://127.0.0.1:5999"))
    return settings_overrides


def test_the_overrides_point_every_integration_at_the_sandboxes(stack, wired, console):
    settings = console.settings
    assert settings.FREESCOUT_API_URL == settings.FREESCOUT_INSTANCE_URL == stack.freescout.url
    assert settings.FREESCOUT_OPERATIONS_MAILBOX_ID == 2 and settings.FREESCOUT_SUPPORT_MAILBOX_ID == 1
    assert settings.FREESCOUT_BOT_USER_ID == 1 and settings.POLL_INTERVAL_SECONDS == 5
    assert settings.CONSOLE_BASE_URL == "http://127.0.0.1:5999"
    assert [s.id for s in console.surfaces] == RUNBOOK_SURFACES
    for surface in console.surfaces:  # every probe lands on a demo surface that answers
        assert surface.health_url.startswith(stack.surfaces.url)
        assert httpx.get(surface.health_url).json() == {"status": "ok"}

    mailbox = registry.freescout(console).find_mailbox(2)  # through the CF gate with the generated token
    assert mailbox.ok and mailbox.value.name == "Operations"
    assert registry.slack(console).auth_test().ok
    assert registry.freescout(console) is registry.freescout(console)


def test_a_demo_surface_can_be_flipped(stack):
    url = f"{stack.surfaces.url}/_sandbox/surfaces/api-prod"
    try:
        assert httpx.post(url, json={"status": "degraded"}).status_code == 200
        health = httpx.get(f"{stack.surfaces.url}/surfaces/api-prod/health").json()
        assert health == {"status": "degraded"}
    finally:
        stack.demo_surfaces.reset()


def test_the_customer_page_lists_what_freescout_holds_for_the_customer(stack, wired, console, viewer):
    email = f"pat-{uuid.uuid4().hex[:8]}@example.com"  # the stack outlives this test
    with stack.freescout_client() as client:
        created = client.create_conversation(
            mailbox_id=1, subject="Stack test: login loop", customer_email=email, body_html="<p>x</p>"
        ).unwrap()
    stack.seed(console)
    with console.db.session() as session:
        session.add(Customer(email=email, name="Pat", created_at=console.clock.now()))
        ids = {c.email: c.id for c in session.scalars(select(Customer))}

    pat = viewer.get(f"/console/customers/{ids[email]}/tickets.json").get_json()
    dana = viewer.get(f"/console/customers/{ids['dana@example.com']}/tickets.json").get_json()

    assert [(t["id"], t["url"]) for t in pat["open"]] == [
        (created.id, f"{stack.freescout.url}/conversation/{created.id}")
    ]
    assert [t["subject"] for t in dana["open"]] == ["Cannot export my trades to CSV"]
    assert [t["subject"] for t in dana["recent"]] == ["Refund for the May invoice"]


def test_seed_adds_demo_customers_and_turns_ticketing_deploys_and_rotation_on_in_the_db_once(
    stack, wired, console
):
    stack.seed(console)
    stack.seed(console)

    with console.db.session() as session:
        emails = sorted(session.scalars(select(Customer.email)))
        toggles = list(session.scalars(select(AuditLog).where(AuditLog.action == "console.flags.toggled")))
    assert emails == sorted(email for email, _, _ in DEMO_CUSTOMERS)
    assert sorted(row.payload["flag"] for row in toggles) == sorted(
        (*TICKETING_FLAGS, LINKED_TICKET_FLAG, *DEMO_DEPLOY_FLAGS, *ROTATION_FLAGS)
    )
    assert {row.actor for row in toggles} == {"system:sandbox"}
    for name in (*TICKETING_FLAGS, LINKED_TICKET_FLAG, *DEMO_DEPLOY_FLAGS, *ROTATION_FLAGS):
        resolution = console.flags.resolve(name)
        assert resolution.value and resolution.source == "db"


def test_describe_names_every_page_and_the_tour(stack):
    stack.settings_overrides(console_url="http://127.0.0.1:5999")
    text = stack.describe()
    for url in (
        stack.freescout.url,
        stack.slack.url,
        stack.surfaces.url,
        stack.secrets.heroku.url,
        stack.secrets.infisical.url,
        "http://127.0.0.1:5999/console/status",
    ):
        assert url in text
    assert "flip api-prod to degraded" in text and "Investigate" in text
    assert stack.freescout_api_key in text  # sandbox-generated, for the runbooks' curl probes


def test_the_written_surfaces_file_round_trips():
    surfaces = load_surfaces().with_health_urls({"getraxx": 'http://h/"quoted"'})

    data = tomllib.loads(surfaces_toml(surfaces))
    assert [entry["id"] for entry in data["surface"]] == RUNBOOK_SURFACES
    getraxx = next(entry for entry in data["surface"] if entry["id"] == "getraxx")
    assert getraxx["health_url"] == 'http://h/"quoted"' and getraxx["severity"]["down"] == "P1"


def test_the_runbook_probe_works_against_the_sandbox(stack):
    """Incident runbook Step 1.5's curl, and Step 2's mailbox probe (a sandbox extension)."""
    headers = {
        "CF-Access-Client-Id": stack.cf_client_id,
        "CF-Access-Client-Secret": stack.cf_client_secret,
        "X-FreeScout-API-Key": stack.freescout_api_key,
        "User-Agent": "raxx-sre-probe/1.0",
    }
    api = f"{stack.freescout.url}/api"
    assert httpx.get(f"{api}/conversations?page=1&pageSize=1", headers=headers).status_code == 200
    without_token = {"X-FreeScout-API-Key": stack.freescout_api_key}
    assert httpx.get(f"{api}/conversations", headers=without_token).status_code == 403
    bearer = {**headers, "Authorization": f"Bearer {stack.freescout_api_key}"}
    del bearer["X-FreeScout-API-Key"]
    assert httpx.get(f"{api}/mailboxes/2", headers=bearer).status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """``raxx-console <args>`` in a subprocess, stopped (bounded) at the end of the ``with``."""

    def __init__(self, *args: str, tmp_path: Path) -> None:
        env = {**os.environ, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "stack-test-key-0123"}
        env.pop("DATABASE_URL", None)
        self.popen = subprocess.Popen(
            [str(Path(sys.executable).parent / "raxx-console"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""

    def wait_for(self, probe, timeout: float = 60.0):
        """Call ``probe()`` until it answers (no transport error), or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.popen.poll() is None:
            try:
                return probe()
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError(f"no answer within {timeout} s (exit code {self.popen.poll()})")

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.popen.send_signal(signal.SIGINT)
        try:
            self.output, _ = self.popen.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.output, _ = self.popen.communicate()


@pytest.mark.slow
def test_serve_sandbox_starts_and_answers_healthz(tmp_path):
    port = _free_port()
    with Process("serve", "--sandbox", "--port", str(port), tmp_path=tmp_path) as serve:
        answer = serve.wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2))
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert "Demo surfaces" in serve.output and "flip api-prod to degraded" in serve.output
    assert "Traceback" not in serve.output


def _doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``raxx-console doctor`` in a second terminal: same directory, none of the server's settings."""
    environment = {**os.environ, "INSTANCE_PATH": str(tmp_path / "instance"), **env}
    for name in list(environment):
        if name.startswith(("FREESCOUT_", "SLACK_", "CF_ACCESS_", "FLAG_")) or name == "DATABASE_URL":
            environment.pop(name)
    return subprocess.run(
        [str(Path(sys.executable).parent / "raxx-console"), "doctor", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_doctor_beside_serve_sandbox_agrees_with_the_page(tmp_path):
    port = _free_port()
    instance = tmp_path / "instance"
    with Process("serve", "--sandbox", "--port", str(port), tmp_path=tmp_path) as serve:
        serve.wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2))
        discovery = json.loads((instance / "sandbox-console.json").read_text())
        token = (instance / "sandbox-doctor-token").read_text().strip()
        assert stat.S_IMODE((instance / "sandbox-doctor-token").stat().st_mode) == 0o600
        assert discovery["url"] == f"http://127.0.0.1:{port}"
        assert discovery["settings"]["FREESCOUT_OPERATIONS_MAILBOX_ID"] == 2
        assert "FREESCOUT_API_KEY" not in discovery["settings"] and token not in json.dumps(discovery)
        page = httpx.post(
            f"http://127.0.0.1:{port}/console/health/checks",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=60,
        ).json()

        plain = _doctor(tmp_path)
        as_json = _doctor(tmp_path, "--json")
        local = _doctor(tmp_path, "--local")
        no_token = _doctor(tmp_path, "--url", f"http://127.0.0.1:{port}")
        bad_token = _doctor(tmp_path, "--url", f"http://127.0.0.1:{port}", RAXX_CONSOLE_TOKEN="rxc_wrong")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"Asking the console at http://127.0.0.1:{port}" in plain.stdout
    assert "FAIL" not in plain.stdout and "Missing:" not in plain.stdout
    verdicts = {c["step"]: c["verdict"] for c in json.loads(as_json.stdout)["checks"]}
    assert verdicts == {c["step"]: c["verdict"] for c in page["checks"]}
    assert local.returncode == 1 and "FREESCOUT_API_URL" in local.stdout  # its own (empty) settings
    assert no_token.returncode != 0 and "RAXX_CONSOLE_TOKEN" in no_token.stderr
    assert bad_token.returncode == 1 and "refused the API token" in bad_token.stderr
    assert "Traceback" not in plain.stderr + bad_token.stderr + no_token.stderr
    assert not (instance / "sandbox-console.json").exists()  # withdrawn when the server stopped
    # The first admin's password went to an owner-only file, not to the piped output.
    password = (instance / "first-admin-password.txt").read_text().strip()
    assert password not in serve.output and "first-admin-password.txt" in serve.output


@pytest.mark.slow
def test_the_sandbox_command_runs_just_the_sandboxes(tmp_path):
    ports = [_free_port() for _ in range(3)]
    args = ["--freescout-port", "--slack-port", "--surfaces-port"]
    with Process(
        "sandbox", *(f"{a}={p}" for a, p in zip(args, ports, strict=True)), tmp_path=tmp_path
    ) as run:
        page = run.wait_for(lambda: httpx.get(f"http://127.0.0.1:{ports[0]}/", timeout=2))
        assert page.status_code == 200  # the FreeScout sandbox's page
        surfaces = httpx.get(f"http://127.0.0.1:{ports[2]}/_sandbox/surfaces").json()["surfaces"]
        assert [s["id"] for s in surfaces] == RUNBOOK_SURFACES
        assert httpx.post(f"http://127.0.0.1:{ports[1]}/api/auth.test").json()["ok"] is False  # no token
    assert run.popen.returncode == 0
    assert f"export FREESCOUT_API_URL=http://127.0.0.1:{ports[0]}" in run.output
    assert "export SURFACES_FILE=" in run.output and "Traceback" not in run.output


def test_the_registry_secrets_are_seeded_alike_in_the_vault_and_their_apps(stack):
    for spec in (share for registered in SECRETS for share in registered.shares()):
        value = stack.secrets.infisical_app.current(spec.vault_path, spec.name)
        assert value
        for app in spec.apps:
            assert stack.secrets.heroku_app.config_var(app, spec.name) == value
    # Each console app holds its own peer token, at its own vault path.
    tokens = {app: stack.secrets.heroku_app.config_var(app, "CONSOLE_PEER_TOKEN") for app in CONSOLE_APPS}
    assert all(tokens.values()) and len(set(tokens.values())) == 2
    for app, value in tokens.items():
        vault = stack.secrets.infisical_app
        assert vault.current(f"/MooseQuest/console/peer/{app}", "CONSOLE_PEER_TOKEN") == value
    overrides = stack.settings_overrides(console_url="http://127.0.0.1:5999")
    assert overrides["HEROKU_API_URL"] == stack.secrets.heroku.url
    assert overrides["INFISICAL_API_URL"] == stack.secrets.infisical.url
