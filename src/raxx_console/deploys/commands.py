"""``raxx-console deploy SURFACE --ref REF --breakglass --actor EMAIL``: the cockpit runbook §6 path.

Works with ``FLAG_CONSOLE_DEPLOY_UI`` off (that is what it is for), dispatches through the same
``SURFACE_WORKFLOW_MAP`` as the tiles, and audits ``console.deploy.intent.breakglass`` with the
actor's email as given at dispatch time.
"""

from __future__ import annotations

import re

import click

from raxx_console.cli import fail, load_console
from raxx_console.deploys import DEFAULT_REF

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@click.command("deploy")
@click.argument("surface_id")
@click.option("--ref", default=DEFAULT_REF, show_default=True, help="Branch, tag or SHA to deploy.")
@click.option("--breakglass", is_flag=True, help="Required: this is the break-glass path (runbook §6).")
@click.option("--actor", "actor_email", required=True, help="Your email, recorded in the audit row.")
def deploy_command(surface_id: str, ref: str, breakglass: bool, actor_email: str) -> None:
    """Dispatch SURFACE's deploy workflow from the command line (break-glass)."""
    if not breakglass:
        fail("the command line deploys only as break-glass: add --breakglass (tiles are the usual way)")
    if not _EMAIL.match(actor_email):
        fail("--actor must be your email address")
    from raxx_console.deploys import service
    from raxx_console.deploys.models import DISPATCH_FAILED, KIND_BREAKGLASS

    console = load_console()
    try:
        row, _ = service.deploy_now(
            console,
            surface_id=surface_id,
            ref=ref,
            actor=actor_email,
            env=console.env,
            kind=KIND_BREAKGLASS,
        )
    except service.DeployError as exc:
        fail(str(exc))
        return
    binding = f"{row.workflow} environment={row.target_env} ref={row.ref}"
    if row.status == DISPATCH_FAILED:
        fail(f"deploy #{row.id} ({binding}) was not dispatched: {row.reason}", code=1)
    click.echo(f"deploy #{row.id}: {binding} sha={row.sha or '?'} status={row.status}")
    if row.run_url:
        click.echo(f"run: {row.run_url}")
    else:
        click.echo("dispatched; the run id is still resolving — the worker follows it")


commands = [deploy_command]
