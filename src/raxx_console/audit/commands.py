"""``raxx-console audit tail``: the audit page's rows, in a terminal (a one-off dyno)."""

from __future__ import annotations

import json

import click

from raxx_console.audit import MAX_PAGE_SIZE, PAGE_SIZE
from raxx_console.cli import fail, load_console


@click.group("audit")
def audit_group() -> None:
    """The audit log: every change the console made."""


@audit_group.command("tail")
@click.option(
    "--action",
    default=None,
    show_default=True,
    metavar="PREFIX",
    help="Only actions starting with PREFIX (console.flags.).  [default: all]",
)
@click.option(
    "--actor",
    default=None,
    show_default=True,
    help="Only rows by this actor (an email, or system:<component>).  [default: all]",
)
@click.option(
    "--env",
    default=None,
    show_default=True,
    help="Only rows recorded on this env.  [default: all]",
)
@click.option(
    "--since",
    default=None,
    show_default=True,
    help="Only rows this recent: a duration (90s, 15m, 1h, 2d) or an ISO 8601 time.  [default: no limit]",
)
@click.option(
    "-n",
    "--limit",
    default=PAGE_SIZE,
    show_default=True,
    type=click.IntRange(1, MAX_PAGE_SIZE),
    help="How many of the newest rows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, as /console/audit.json (newest first).")
def audit_tail(
    action: str | None, actor: str | None, env: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """The newest audit rows, the same rows /console/audit shows for these filters.

    Text output reads like tail: the newest row last.
    """
    from raxx_console.audit import service as audit

    console = load_console()
    params = {"action": action, "actor": actor, "env": env, "since": since}
    try:
        filters = audit.AuditFilter.from_params(
            {key: value for key, value in params.items() if value is not None}, console.clock.now()
        )
    except audit.FilterError as exc:
        fail(f"--{exc.parameter}: {exc.message}")
    with console.db.session() as session:
        rows = audit.page(session, filters, limit=limit).rows
        if as_json:
            click.echo(json.dumps({"rows": [audit.row_json(row) for row in rows]}, indent=2))
            return
        if not rows:
            click.echo("no audit rows match", err=True)
        for row in reversed(rows):
            payload = json.dumps(row.payload, sort_keys=True)
            click.echo(
                f"{audit.iso(row.created_at)}  {row.selected_env:<11} {row.actor:<24} {row.action}  {payload}"
            )


commands = [audit_group]
