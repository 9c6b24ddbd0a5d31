"""``raxx-console doctor``: the incident runbook's diagnostic chain, for a terminal at 3 a.m."""

from __future__ import annotations

import json
import os
import sys

import click

from raxx_console.cli import fail, load_console

_WIDTH = 9


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--url",
    default=None,
    show_default="none: a running serve --sandbox if there is one, else this process's settings",
    help="Ask the console at URL to run its own checks; the API token (operator role) comes "
    "from RAXX_CONSOLE_TOKEN.",
)
@click.option(
    "--local", is_flag=True, help="Check with this process's settings even beside a serve --sandbox."
)
def doctor_command(as_json: bool, url: str | None, local: bool) -> None:
    """Walk the incident runbook's Step 0 → 5 live; exit 1 if any step FAILs.

    Calls FreeScout and Slack once each. Prints env var names, reasons and HTTP status codes,
    never a secret. Beside `raxx-console serve --sandbox` it asks that server, so it sees what
    the page's "Run checks" sees.
    """
    from raxx_console.config import load_settings
    from raxx_console.health import doctor, remote

    target = None
    if url is not None:
        token = os.environ.get("RAXX_CONSOLE_TOKEN", "").strip()
        if not token:
            fail("doctor --url needs an API token in RAXX_CONSOLE_TOKEN (raxx-console token create)")
        target = remote.Target(url=url, token=token, via=url)
    elif not local:
        target = remote.discover(load_settings().instance_path)
    if target is None:
        results = doctor.run_checks(load_console())
    else:
        try:
            results = remote.fetch_checks(target)
        except remote.RemoteError as exc:
            fail(str(exc), code=1)
        if not as_json:
            click.echo(f"Asking the console at {target.url} (found via {target.via}).")
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
