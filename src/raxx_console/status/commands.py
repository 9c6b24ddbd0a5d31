"""``raxx-console status set``: set a surface's status by hand (demos, drills, tests)."""

from __future__ import annotations

import click

from raxx_console.cli import fail, load_console
from raxx_console.status.surfaces import STATUSES


@click.group("status")
def status_group() -> None:
    """Surfaces on the status grid."""


@status_group.command("set")
@click.argument("surface_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--detail", default="set by hand", show_default=True, help="The note shown on the tile.")
def status_set(surface_id: str, status: str, detail: str) -> None:
    """Set SURFACE_ID's tile to STATUS by hand (audited); the poller may change it again."""
    from raxx_console.status import service

    console = load_console()
    try:
        with console.db.session() as session:
            service.set_status(
                session,
                console.clock,
                console.surfaces,
                surface_id,
                status,
                detail=detail,
                actor="system:cli",
                env=console.env,
            )
    except service.StatusError as exc:
        fail(str(exc))
    click.echo(f"{surface_id}: {status}")


@status_group.command("list")
def status_list() -> None:
    """Every surface with the status its tile shows (SIMULATED marks a test degradation)."""
    from raxx_console.status import service

    console = load_console()
    with console.db.session() as session:
        for tile in service.tiles(session, console.clock, console.surfaces):
            flag = " (SIMULATED)" if tile.simulated else ""
            click.echo(f"{tile.surface.id:<20} {tile.status}{flag}")


commands = [status_group]
