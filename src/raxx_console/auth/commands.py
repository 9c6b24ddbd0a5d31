"""``raxx-console user create`` and ``token create|revoke``."""

from __future__ import annotations

import os

import click

from raxx_console.auth import service
from raxx_console.cli import fail, load_console


@click.group("user")
def user_group() -> None:
    """Console users."""


@user_group.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), required=True)
@click.option("--no-password", is_flag=True, help="Cloudflare Access only; no password login.")
def user_create(email: str, role: str, no_password: bool) -> None:
    """Create a user; the password comes from RAXX_CONSOLE_PASSWORD or a prompt."""
    password = None
    if not no_password:
        password = os.environ.get("RAXX_CONSOLE_PASSWORD") or click.prompt(
            "Password", hide_input=True, confirmation_prompt=True
        )
    console = load_console()
    try:
        with console.db.session() as session:
            service.create_user(
                session,
                console.clock,
                email=email,
                role=role,
                password=password,
                actor="system:cli",
                env=console.env,
            )
    except service.AuthError as exc:
        fail(str(exc))
    click.echo(f"created {role} {email.strip().lower()}")


@user_group.command("set-role")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), required=True)
def user_set_role(email: str, role: str) -> None:
    """Change a user's role; their browser sessions end, so it applies from their next login."""
    console = load_console()
    with console.db.session() as session:
        user = service.find_user(session, email)
        if user is None:
            fail(f"no user with email {email}")
            return
        service.change_role(session, console.clock, user=user, role=role, actor="system:cli", env=console.env)
    click.echo(f"{email.strip().lower()} is now {role}; their sessions have ended")


@click.group("token")
def token_group() -> None:
    """API tokens for the JSON API (Authorization: Bearer)."""


@token_group.command("create")
@click.option("--email", required=True)
@click.option("--name", default="cli", show_default=True)
def token_create(email: str, name: str) -> None:
    """Create a token for a user and print it once."""
    console = load_console()
    with console.db.session() as session:
        user = service.find_user(session, email)
        if user is None:
            fail(f"no user with email {email}")
        token = service.create_token(
            session, console.clock, user=user, name=name, actor="system:cli", env=console.env
        )
    click.echo(token)


@token_group.command("revoke")
@click.argument("token")
def token_revoke(token: str) -> None:
    """Revoke a token, given whole or by its first 10 characters."""
    console = load_console()
    try:
        with console.db.session() as session:
            row = service.revoke_token(
                session, console.clock, token=token, actor="system:cli", env=console.env
            )
    except service.AuthError as exc:
        fail(str(exc))
    click.echo(f"revoked token {row.prefix}… ({row.name})")


commands = [user_group, token_group]
