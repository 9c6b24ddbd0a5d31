"""``raxx-console user create`` and ``token create|revoke``."""

from __future__ import annotations

import os

import click

from raxx_console.auth import service, totp
from raxx_console.auth.models import ServiceToken
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


@user_group.command("totp-reset")
@click.option("--email", required=True)
def user_totp_reset(email: str) -> None:
    """Forget an admin's two-factor enrolment (a lost phone); they enrol again at /account/totp."""
    console = load_console()
    with console.db.session() as session:
        user = service.find_user(session, email)
        if user is None:
            fail(f"no user with email {email}")
        assert user is not None
        if not totp.reset(session, console.clock, user=user, actor="system:cli", env=console.env):
            fail(f"{user.email} has no two-factor enrolment")
    click.echo(f"two-factor enrolment of {email.strip().lower()} removed; they enrol again at /account/totp")


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
@click.option("--email", help="The user the token acts as.")
@click.option("--name", default="cli", show_default=True)
@click.option(
    "--service", "service_name", help="Instead of --email: a token for the other console (the peer API only)."
)
def token_create(email: str | None, name: str, service_name: str | None) -> None:
    """Create a token for a user (or, with --service, for the other console) and print it once."""
    if (email is None) == (service_name is None):
        fail("give either --email (a user's token) or --service NAME (the other console's token)")
    console = load_console()
    if service_name is not None:
        try:
            with console.db.session() as session:
                token = service.create_service_token(
                    session, console.clock, service=service_name, actor="system:cli", env=console.env
                )
        except service.AuthError as exc:
            fail(str(exc))
        click.echo(token)
        return
    assert email is not None
    with console.db.session() as session:
        user = service.find_user(session, email)
        if user is None:
            fail(f"no user with email {email}")
        assert user is not None
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
    label = row.service if isinstance(row, ServiceToken) else row.name
    click.echo(f"revoked token {row.prefix}… ({label})")


commands = [user_group, token_group]
