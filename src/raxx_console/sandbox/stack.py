"""The whole sandbox on one machine: FreeScout, Slack, GitHub, Heroku, Infisical and the demo surfaces.

``serve --sandbox`` and ``raxx-console sandbox`` start it, so a newcomer sees the pipeline work
with no accounts: flip a demo surface to degraded, watch the grid, click Investigate, and find
the ticket in the FreeScout sandbox and the alert DM in the Slack sandbox.

The FreeScout sandbox sits behind its Cloudflare Access gate with a service token and API key
generated at start, so the console's real client (headers and all) is what talks to it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from raxx_console.clock import Clock
from raxx_console.context import Console
from raxx_console.customers import service as customers
from raxx_console.flags.registry import LINKED_TICKET_FLAG, ROTATE_UI_FLAG, ROTATION_MODE_A_FLAG
from raxx_console.health.startup import TICKETING_FLAGS
from raxx_console.integrations.freescout_client import FreeScoutClient
from raxx_console.integrations.freescout_config import FreeScoutConfig
from raxx_console.sandbox.freescout import FreeScoutSandboxState, create_freescout_sandbox
from raxx_console.sandbox.github import OWNER_REPO, GitHubSandboxState, create_github_sandbox
from raxx_console.sandbox.secrets_stack import SecretsSandboxes
from raxx_console.sandbox.server import BackgroundServer
from raxx_console.sandbox.slack import SlackSandbox, create_slack_sandbox
from raxx_console.sandbox.surfaces import DemoSurfaces, create_demo_surfaces
from raxx_console.status.surfaces import SurfaceRegistry, load_surfaces

SUPPORT_MAILBOX_ID = 1
OPERATIONS_MAILBOX_ID = 2
BOT_USER_ID = 1
SLACK_DM_USER = "U0DEMOOPS"
POLL_INTERVAL_SECONDS = 5
ACTOR = "system:sandbox"
DEMO_SURFACE = "api-prod"
DEPLOY_DEMO_SURFACE = "api-staging"
#: ``serve --sandbox`` turns these on for the demo (in the DB, audited); the registry defaults stay off.
DEMO_DEPLOY_FLAGS = ("FLAG_CONSOLE_DEPLOY_UI", "FLAG_CONSOLE_DEPLOY_CHIP")
DEPLOY_FOLLOW_INTERVAL_SECONDS = 2
#: On in the sandbox, so the rotation demo works at once (against the sandboxes only).
ROTATION_FLAGS = (ROTATE_UI_FLAG, ROTATION_MODE_A_FLAG)

#: (email, name, [(subject, status)]) — customers for entry C, with conversations in the support mailbox.
DEMO_CUSTOMERS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "dana@example.com",
        "Dana Whitfield",
        (("Cannot export my trades to CSV", "active"), ("Refund for the May invoice", "closed")),
    ),
    ("lee@example.org", "Lee Okafor", (("API key rotation question", "pending"),)),
    ("sam@example.net", "Sam Ortega", ()),
)


def surfaces_toml(registry: SurfaceRegistry) -> str:
    """A ``SURFACES_FILE`` for ``registry`` (JSON strings and numbers are valid TOML values)."""
    lines = ["# Written by the sandbox: the runbook's surfaces, probed at the demo surfaces.", ""]
    for surface in registry:
        lines.append("[[surface]]")
        for spec in fields(surface):
            value = getattr(surface, spec.name)
            if isinstance(value, dict):  # severity, dispatch_inputs: TOML inline tables
                pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{spec.name} = {{ {pairs} }}")
            elif value is not None:
                lines.append(f"{spec.name} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
    return "\n".join(lines)


@dataclass
class SandboxStack:
    """The running sandboxes, their apps (for tests to steer) and the credentials generated for them."""

    freescout: BackgroundServer
    slack: BackgroundServer
    surfaces: BackgroundServer
    freescout_state: FreeScoutSandboxState
    slack_app: SlackSandbox
    demo_surfaces: DemoSurfaces
    workdir: Path
    secrets: SecretsSandboxes
    freescout_api_key: str = field(repr=False)
    cf_client_id: str = field(repr=False)
    cf_client_secret: str = field(repr=False)
    slack_token: str = field(repr=False)
    github: BackgroundServer
    github_state: GitHubSandboxState
    github_token: str = field(repr=False)
    console_url: str | None = None

    @classmethod
    def start(
        cls,
        *,
        host: str = "127.0.0.1",
        freescout_port: int = 0,
        slack_port: int = 0,
        surfaces_port: int = 0,
        github_port: int = 0,
        clock: Clock | None = None,
    ) -> SandboxStack:
        """Start the four servers (port 0 = a free port) and seed FreeScout's demo conversations."""
        api_key = f"sandbox-fs-{secrets.token_urlsafe(18)}"
        cf_id = f"{secrets.token_hex(16)}.access"
        cf_secret = secrets.token_hex(32)
        slack_token = f"xoxb-sandbox-{secrets.token_hex(12)}"
        github_token = f"ghs_sandbox{secrets.token_hex(16)}"
        registry = load_surfaces()
        freescout_app = create_freescout_sandbox(
            api_key=api_key, cf_client_id=cf_id, cf_client_secret=cf_secret, clock=clock
        )
        slack_app = create_slack_sandbox(slack_token)
        github_app = create_github_sandbox(token=github_token, clock=clock)
        demo = create_demo_surfaces(surface.id for surface in registry)
        started: list[BackgroundServer] = []
        try:
            for app, port, name in (
                (freescout_app, freescout_port, "freescout-sandbox"),
                (slack_app, slack_port, "slack-sandbox"),
                (demo, surfaces_port, "demo-surfaces"),
                (github_app, github_port, "github-sandbox"),
            ):
                started.append(BackgroundServer(app, host=host, port=port, name=name).start())
        except BaseException:
            for server in started:
                server.stop()
            raise
        try:
            vault_and_apps = SecretsSandboxes.start(host=host)
        except BaseException:
            for server in started:
                server.stop()
            raise
        workdir = Path(tempfile.mkdtemp(prefix="raxx-sandbox-"))
        urls = demo.health_urls(started[2].url)
        (workdir / "surfaces.toml").write_text(surfaces_toml(registry.with_health_urls(urls)))
        freescout, slack, surfaces, github = started
        stack = cls(
            freescout=freescout,
            slack=slack,
            surfaces=surfaces,
            freescout_state=freescout_app.extensions["freescout_sandbox"],
            slack_app=slack_app,
            demo_surfaces=demo,
            workdir=workdir,
            secrets=vault_and_apps,
            freescout_api_key=api_key,
            cf_client_id=cf_id,
            cf_client_secret=cf_secret,
            slack_token=slack_token,
            github=github,
            github_state=github_app.extensions["github_sandbox"],
            github_token=github_token,
        )
        try:
            stack._seed_freescout()
        except BaseException:
            stack.stop()
            raise
        return stack

    @property
    def surfaces_file(self) -> Path:
        return self.workdir / "surfaces.toml"

    def freescout_client(self) -> FreeScoutClient:
        """A client with the sandbox's credentials (the console builds its own from settings)."""
        return FreeScoutClient(
            FreeScoutConfig(
                api_url=self.freescout.url,
                instance_url=self.freescout.url,
                api_key=self.freescout_api_key,
                cf_client_id=self.cf_client_id,
                cf_client_secret=self.cf_client_secret,
                bot_user_id=BOT_USER_ID,
            )
        )

    # -- what serve --sandbox uses --------------------------------------------------------
    def settings_overrides(self, console_url: str) -> dict[str, Any]:
        """The console configuration that points every integration at these sandboxes."""
        self.console_url = console_url.rstrip("/")
        return {
            "FREESCOUT_API_URL": self.freescout.url,
            "FREESCOUT_INSTANCE_URL": self.freescout.url,
            "FREESCOUT_API_KEY": self.freescout_api_key,
            "FREESCOUT_OPERATIONS_MAILBOX_ID": OPERATIONS_MAILBOX_ID,
            "FREESCOUT_SUPPORT_MAILBOX_ID": SUPPORT_MAILBOX_ID,
            "FREESCOUT_BOT_USER_ID": BOT_USER_ID,
            "CF_ACCESS_SVC_TICKETS_CLIENT_ID": self.cf_client_id,
            "CF_ACCESS_SVC_TICKETS_CLIENT_SECRET": self.cf_client_secret,
            "SLACK_BOT_TOKEN": self.slack_token,
            "SLACK_API_URL": f"{self.slack.url}/api/",
            "SLACK_ALERT_DM_USER_IDS": SLACK_DM_USER,
            "CONSOLE_BASE_URL": self.console_url,
            "SURFACES_FILE": str(self.surfaces_file),
            "POLL_INTERVAL_SECONDS": POLL_INTERVAL_SECONDS,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_TOKEN": self.github_token,
            "GITHUB_REPOSITORY": OWNER_REPO,
            "DEPLOY_FOLLOW_INTERVAL": DEPLOY_FOLLOW_INTERVAL_SECONDS,
            **self.secrets.settings_overrides(),
        }

    def describe(self) -> str:
        """What is running where, and the two-minute tour."""
        grid = f"{self.console_url}/console/status" if self.console_url else "the console's status grid"
        customers_page = f"{self.console_url}/console/customers" if self.console_url else "/console/customers"
        return "\n".join(
            [
                "",
                "  Sandboxes (nothing leaves this machine):",
                f"    FreeScout      {self.freescout.url}/   tickets; API at /api behind a CF Access gate",
                f"    Slack          {self.slack.url}/   the alert DMs",
                f"    Demo surfaces  {self.surfaces.url}/   flip a surface's health here",
                f"    GitHub         {self.github.url}/   deploy workflows (API at /repos/{OWNER_REPO})",
                *self.secrets.describe_lines(),
                "",
                "  Try it:",
                f"    1. open {self.surfaces.url}/ and flip {DEMO_SURFACE} to degraded",
                f"    2. watch {grid} (probed every {POLL_INTERVAL_SECONDS} s) turn it DEGRADED",
                "    3. click Investigate on the tile: the ticket appears in the FreeScout sandbox,",
                "       and the P2 alert files its own ticket and DMs the Slack sandbox",
                f"    4. {customers_page}: a customer's open and recent FreeScout tickets",
                f"    5. deploy {DEPLOY_DEMO_SURFACE} from its tile: watch the chip in the header and",
                "       Recent deploys move queued → in_progress → completed",
                "    6. /secrets (admin): Rotate SECRET_KEY; the vault and both apps' config vars change",
                "",
                "  Sandbox credentials (for the runbooks' curl probes; generated, not secrets):",
                f"    FREESCOUT_API_KEY={self.freescout_api_key}",
                f"    CF_ACCESS_SVC_TICKETS_CLIENT_ID={self.cf_client_id}",
                f"    CF_ACCESS_SVC_TICKETS_CLIENT_SECRET={self.cf_client_secret}",
                f"    GITHUB_TOKEN={self.github_token}",
                "",
            ]
        )

    def seed(self, console: Console) -> None:
        """Demo customers; ticketing, the tile's linked tickets, demo deploy and rotation flags on in
        the DB (audited as system:sandbox), so the demo shows the whole story."""
        rows = [customers.CustomerRow(line=0, email=email, name=name) for email, name, _ in DEMO_CUSTOMERS]
        with console.db.session() as session:
            customers.upsert(session, console.clock, rows, actor=ACTOR, env=console.env, source="sandbox")
        for name in (*TICKETING_FLAGS, LINKED_TICKET_FLAG, *DEMO_DEPLOY_FLAGS, *ROTATION_FLAGS):
            if console.flags.resolve(name).db_value is not True:
                console.flags.change(name, True, settings=console.settings, actor=ACTOR, env=console.env)

    def _seed_freescout(self) -> None:
        with self.freescout_client() as client:
            for email, name, conversations in DEMO_CUSTOMERS:
                for subject, status in conversations:
                    client.create_conversation(
                        mailbox_id=SUPPORT_MAILBOX_ID,
                        subject=subject,
                        customer_email=email,
                        customer_first_name=name.split()[0],
                        body_html=f"<p>{subject}</p>",
                        status=status,
                    ).unwrap()

    def stop(self) -> None:
        for server in (self.github, self.surfaces, self.slack, self.freescout):
            server.stop()
        self.secrets.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
