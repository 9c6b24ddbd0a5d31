"""``raxx-console doctor``: the incident runbook's diagnostic chain, for a terminal at 3 a.m."""

from __future__ import annotations

import json
import sys

import click

from raxx_console.cli import load_console

_WIDTH = 9


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def doctor_command(as_json: bool) -> None:
    """Walk the incident runbook's Step 0 → 5 live; exit 1 if any step FAILs.

    Calls FreeScout and Slack once each. Prints env var names, reasons and HTTP status codes,
    never a secret.
    """
    from raxx_console.health import doctor

    results = doctor.run_checks(load_console())
    code = doctor.exit_code(results)
    if as_json:
        click.echo(json.dumps({"checks": [r.to_json() for r in results], "exit_code": code}, indent=2))
        sys.exit(code)
    click.echo("Auto-ticketing pipeline — incident runbook, failure mode 2 (tickets not creating)\n")
    for result in results:
        colour = {"ok": "green", "warn": "yellow", "FAIL": "red"}[result.verdict]
        verdict = click.style(f"{result.verdict:<5}", fg=colour, bold=result.failed)
        click.echo(f"{result.step:<{_WIDTH}}{verdict} {result.title}")
        click.echo(f"{'':<{_WIDTH + 6}}{result.summary}")
        if result.remedy and result.verdict != "ok":
            click.echo(f"{'':<{_WIDTH + 6}}→ {result.remedy}")
    failed = sum(r.failed for r in results)
    warned = sum(r.verdict == "warn" for r in results)
    if failed:
        click.echo(f"\n{failed} FAIL, {warned} warn: tickets are not filed until the FAIL steps are fixed.")
    else:
        click.echo(f"\nAll steps ok ({warned} warn).")
    sys.exit(code)


commands = [doctor_command]
