"""``raxx-console alerts list | why <alert_key> | hooks``: the alerts page, from a one-off dyno."""

from __future__ import annotations

import json

import click

from raxx_console.cli import fail, load_console


@click.group("alerts")
def alerts_group() -> None:
    """Entry B's alerts, and why each one did (or did not) get a ticket."""


@alerts_group.command("list")
@click.option(
    "--state",
    type=click.Choice(["all", "firing", "resolved"]),
    default="all",
    show_default=True,
    help="Which alerts to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as /console/alerts.json).")
def alerts_list(state: str, as_json: bool) -> None:
    """Alerts, firing first: key, state, severity, ticket, and the auto-ticket hook's latest decision."""
    from raxx_console.alerts import store

    console = load_console()
    with console.db.session() as session:
        alerts = store.list_alerts(session, None if state == "all" else state)
        views = store.alert_views(session, alerts, decisions_per_alert=1)
        if as_json:
            click.echo(json.dumps([view.to_json() for view in views], indent=2))
            return
        if not views:
            click.echo("no alerts")
        for view in views:
            alert, ticket, why = view.alert, view.current_ticket, view.ticket_decision
            shown = f"#{ticket.ticket_id}" if ticket and ticket.ticket_id else (ticket.ref if ticket else "-")
            click.echo(
                f"{alert.alert_key:<32} {alert.state:<8} {alert.severity} lifetime={alert.lifetime:<3} "
                f"ticket={shown:<12} {why.decision if why else '-'}  {alert.title}"
            )


@alerts_group.command("why")
@click.argument("alert_key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as /console/alerts/<alert_key>.json).")
def alerts_why(alert_key: str, as_json: bool) -> None:
    """Why ALERT_KEY has no ticket, or two: its tickets and every decision, oldest first."""
    from raxx_console.alerts import store

    console = load_console()
    with console.db.session() as session:
        alert = store.find_alert(session, alert_key)
        if alert is None:
            fail(f"there is no alert {alert_key} (see `raxx-console alerts list`)")
        [view] = store.alert_views(session, [alert], decisions_per_alert=500)
        if as_json:
            click.echo(json.dumps(view.to_json(), indent=2))
            return
        click.echo(f"{alert.alert_key}  {alert.source}/{alert.check}")
        click.echo(f"  {alert.state} {alert.severity} lifetime {alert.lifetime}: {alert.title}")
        click.echo(
            f"  emitted x{alert.emit_count} this lifetime, last at {alert.last_emit_at:%Y-%m-%d %H:%M:%S}"
        )
        click.echo("tickets:")
        for ticket in view.tickets or []:
            where = f"#{ticket.ticket_id} {ticket.ticket_url}" if ticket.ticket_id else "not in FreeScout"
            reason = f" ({ticket.last_reason})" if ticket.last_reason else ""
            click.echo(f"  {ticket.ref} {ticket.state}{reason} {where}")
        if not view.tickets:
            click.echo("  none")
        click.echo("decisions:")
        for d in view.decisions:
            click.echo(
                f"  {d.created_at:%Y-%m-%d %H:%M:%S} L{d.lifetime} {d.hook:<16} {d.event:<15} "
                f"{d.decision}: {d.reason}"
            )


@alerts_group.command("hooks")
def alerts_hooks() -> None:
    """The emit hooks every emission runs, in order (runbook failure mode 2, Step 3)."""
    from raxx_console.alerts.hooks import registered_hooks

    for hook in registered_hooks():
        click.echo(f"{hook['name']:<18} {hook['description']}")


commands = [alerts_group]
