"""``raxx-console secrets list``: the /secrets registry for when the console itself is unreachable."""

from __future__ import annotations

import click

from raxx_console.cli import load_console


@click.group("secrets")
def secrets_group() -> None:
    """The secrets registry: names, modes, ages — never values."""


@secrets_group.command("list")
def secrets_list() -> None:
    """Every known secret: its mode, last rotation (from the audit log), due date, open rotation."""
    from raxx_console.flags.registry import ROTATION_MODE_A_FLAG
    from raxx_console.secrets import service

    console = load_console()
    mode_a = console.flags.is_enabled(ROTATION_MODE_A_FLAG)
    now = console.clock.now()
    with console.db.session() as session:
        states = service.states(session, now)
    width = max(len(state.spec.name) for state in states)
    for state in states:
        last = state.last
        line = f"{state.spec.name:<{width}}  {service.mode(state.spec, mode_a):<7}"
        line += f"  last {last.at:%Y-%m-%d} by {last.actor}" if last else "  no rotation on record"
        line += f"  due {state.due_at:%Y-%m-%d}" if state.due_at else f"  every {state.spec.max_age_days} d"
        if state.overdue:
            line += "  OVERDUE"
        rotation = state.open_rotation
        if rotation is not None:
            line += f"  rotation {rotation.state} at {rotation.step}" + (
                f" ({rotation.reason})" if rotation.reason else ""
            )
        click.echo(line)


commands = [secrets_group]
