"""``raxx-console flags list|set``."""

from __future__ import annotations

import click

from raxx_console.cli import fail, load_console
from raxx_console.context import Console
from raxx_console.flags.registry import FLAGS
from raxx_console.flags.service import FlagStore, UnknownFlag


def _store() -> tuple[FlagStore, Console]:
    console = load_console()
    return console.flags, console


@click.group("flags")
def flags_group() -> None:
    """Feature flags: value and source (env pin > db > default)."""


@flags_group.command("list")
def flags_list() -> None:
    store, _ = _store()
    width = max(len(spec.name) for spec in FLAGS)
    for res in store.resolve_all():
        extra = ""
        if res.env_invalid:
            extra = f"  (env value {res.env_raw!r} is invalid and ignored)"
        elif res.pinned and res.db_value is not None:
            extra = f"  (db: {'on' if res.db_value else 'off'})"
        click.echo(f"{res.name:<{width}}  {'on ' if res.value else 'off'}  {res.source}{extra}")


@flags_group.command("set")
@click.argument("name")
@click.argument("value", type=click.Choice(["on", "off"]))
@click.option(
    "--actor", default="system:cli", show_default=True, help="Who to name in the audit log."
)
def flags_set(name: str, value: str, actor: str) -> None:
    store, console = _store()
    try:
        with console.db.session() as session:
            before = store.set(session, name, value == "on", actor=actor, env=console.env)
    except UnknownFlag:
        fail(f"unknown flag {name}; `raxx-console flags list` shows the known ones")
    after = store.resolve(name)
    note = " (pinned by env: the effective value did not change)" if before.pinned else ""
    click.echo(f"{name}: db {value}, effective {'on' if after.value else 'off'}{note}")


commands = [flags_group]
