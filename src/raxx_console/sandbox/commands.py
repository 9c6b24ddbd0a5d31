"""``raxx-console sandbox``: just the sandboxes, in the foreground.

For the runbooks' ``curl`` probes, and for running the console as separate processes
(``web`` + ``worker``) against them: the printed ``export`` lines configure those.
"""

from __future__ import annotations

import shlex
import signal
import threading

import click

_PORT = click.IntRange(0, 65535)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--freescout-port", default=0, type=_PORT, show_default=True, help="0 picks a free port.")
@click.option("--slack-port", default=0, type=_PORT, show_default=True, help="0 picks a free port.")
@click.option("--surfaces-port", default=0, type=_PORT, show_default=True, help="0 picks a free port.")
@click.option("--github-port", default=0, type=_PORT, show_default=True, help="0 picks a free port.")
@click.option(
    "--console-url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="Where you will run the console (for CONSOLE_BASE_URL and the tour).",
)
def sandbox(
    host: str, freescout_port: int, slack_port: int, surfaces_port: int, github_port: int, console_url: str
) -> None:
    """Run the FreeScout, Slack and GitHub sandboxes and the demo surfaces until Ctrl-C."""
    from raxx_console.sandbox.stack import SandboxStack

    try:
        stack = SandboxStack.start(
            host=host,
            freescout_port=freescout_port,
            slack_port=slack_port,
            surfaces_port=surfaces_port,
            github_port=github_port,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot start the sandboxes on {host}: {exc.strerror or exc}") from None
    overrides = stack.settings_overrides(console_url=console_url)
    click.echo(stack.describe())
    click.echo("  To run the console against them, export:")
    for name, value in overrides.items():
        click.echo(f"    export {name}={shlex.quote(str(value))}")
    click.echo("\n  Ctrl-C to stop.")
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        stack.stop()


commands = [sandbox]
