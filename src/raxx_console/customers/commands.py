"""``raxx-console customers import FILE.csv``."""

from __future__ import annotations

from pathlib import Path

import click

from raxx_console.cli import fail, load_console


@click.group("customers")
def customers_group() -> None:
    """Customers, whose FreeScout tickets the console shows (entry point C)."""


@customers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="system:cli", show_default=True, help="Who to name in the audit log.")
def customers_import(path: Path, actor: str) -> None:
    """Upsert customers by email from PATH, a CSV with the header email,name (and optionally id).

    Every row is checked first: one bad row imports nothing and names every bad line.
    """
    from raxx_console.customers import service

    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{path.name} is not UTF-8 text", code=1)
    console = load_console()
    try:
        rows = service.parse_csv(content)
        with console.db.session() as session:
            result = service.upsert(
                session, console.clock, rows, actor=actor, env=console.env, source=path.name
            )
    except service.CustomerImportError as exc:
        for problem in exc.problems:
            click.echo(f"{path.name}: {problem}", err=True)
        fail("nothing imported; fix the lines above and run the import again", code=1)
    click.echo(
        f"imported {result.count} customers "
        f"({result.created} new, {result.updated} updated, {result.unchanged} unchanged)"
    )


commands = [customers_group]
