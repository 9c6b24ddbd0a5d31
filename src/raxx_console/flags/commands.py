"""``raxx-console flags list|set``: the flags page for when the console itself is unreachable."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from raxx_console.cli import fail, load_console
from raxx_console.flags.registry import FLAGS

if TYPE_CHECKING:
    from raxx_console.flags.service import Resolution


def _on_off(value: bool | None) -> str:
    return "on" if value else "off"


def _describe(res: Resolution) -> str:
    width = max(len(spec.name) for spec in FLAGS)
    line = f"{res.name:<{width}}  {_on_off(res.value):<3}  {res.source:<7}"
    if res.pinned:
        db = _on_off(res.db_value) if res.db_value is not None else "not set"
        line += f"  db: {db} · effective: {_on_off(res.value)} (env pin)"
    if res.env_invalid:
        line += f"  env value {res.env_raw!r} is invalid and ignored"
    if res.updated_by:
        line += f"  changed by {res.updated_by} at {res.updated_at:%Y-%m-%d %H:%M} UTC"
    return line


@click.group("flags")
def flags_group() -> None:
    """Feature flags: value and source (env pin > db > default)."""


@flags_group.command("list")
def flags_list() -> None:
    """Every known flag with its effective value and where it comes from."""
    for res in load_console().flags.resolve_all():
        click.echo(_describe(res))


@flags_group.command("set")
@click.argument("name")
@click.argument("value", type=click.Choice(["on", "off"]))
@click.option("--actor", default="system:cli", show_default=True, help="Who to name in the audit log.")
@click.option("--force", is_flag=True, help="Turn a ticketing flag on despite missing prerequisites.")
def flags_set(name: str, value: str, actor: str, force: bool) -> None:
    """Set flag NAME on or off in the database (audited); an env pin still wins."""
    from raxx_console.flags.service import PrerequisitesMissing, UnknownFlag

    console = load_console()
    try:
        change = console.flags.change(
            name, value == "on", settings=console.settings, actor=actor, env=console.env, confirm=force
        )
    except UnknownFlag:
        fail(f"unknown flag {name}; `raxx-console flags list` shows the known ones")
    except PrerequisitesMissing as exc:
        fail(
            f"{name} files FreeScout tickets, and these env vars are not set: {', '.join(exc.missing)}\n"
            "  Set them (incident runbook, Step 0), or pass --force to turn it on anyway.",
            code=1,
        )
    click.echo(_describe(change.after))
    if change.after.pinned:
        click.echo("note: an env var pins this flag, so the effective value did not change.")
    if change.confirmed_missing:
        click.echo(f"warning: turned on although missing: {', '.join(change.confirmed_missing)}", err=True)


commands = [flags_group]
