"""``raxx-console user create|list|set-password|disable`` and ``token create|revoke``."""

from __future__ import annotations

import os

import click

from raxx_console.cli import fail, load_console

_PASSWORD_SOURCE = "The password comes from RAXX_CONSOLE_PASSWORD, else a hidden prompt."


def _password() -> str:
    return os.environ.get("RAXX_CONSOLE_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )


@click.group("user")
def user_group() -> None:
    """Console users."""


@user_group.command("create", epilog=_PASSWORD_SOURCE)
@click.option("--email", required=True, help="The user's email (their login).")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    required=True,
    help="viewer reads; operator also files tickets and sets statuses; admin also manages flags.",
)
@click.option("--no-password", is_flag=True, help="Cloudflare Access only; no password login.")
def user_create(email: str, role: str, no_password: bool) -> None:
    """Create a user (audited)."""
    from raxx_console.auth import service

    password = None if no_password else _password()
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


@user_group.command("list")
def user_list() -> None:
    """Every user: email, role, state, last login and live API tokens."""
    from raxx_console.auth import service

    console = load_console()
    with console.db.session() as session:
        rows = service.list_users(session)
        if not rows:
            click.echo("no users")
        for user, tokens in rows:
            state = "disabled" if user.disabled else "active"
            login = f"{user.last_login_at:%Y-%m-%d %H:%M} UTC" if user.last_login_at else "never"
            how = "password" if user.password_hash else "CF Access only"
            click.echo(
                f"{user.email:<32} {user.role_name:<8} {state:<8} last login {login:<20} "
                f"{how:<14} tokens {tokens}"
            )


@user_group.command("set-password", epilog=_PASSWORD_SOURCE)
@click.option("--email", required=True, help="Whose password to set.")
def user_set_password(email: str) -> None:
    """Set (reset) a user's password (audited; the password is never logged)."""
    from raxx_console.auth import service

    password = _password()
    console = load_console()
    try:
        with console.db.session() as session:
            user = service.set_password(
                session, console.clock, email=email, password=password, actor="system:cli", env=console.env
            )
            who = user.email
    except service.AuthError as exc:
        fail(str(exc))
    click.echo(f"password set for {who}")


@user_group.command("disable")
@click.option("--email", required=True, help="Who to disable.")
def user_disable(email: str) -> None:
    """Disable a user (audited): their API tokens are revoked and their sessions end at once."""
    from raxx_console.auth import service

    console = load_console()
    try:
        with console.db.session() as session:
            revoked = service.disable_user(
                session, console.clock, email=email, actor="system:cli", env=console.env
            )
            prefixes = [f"{row.prefix}…" for row in revoked]
    except service.AuthError as exc:
        fail(str(exc))
    tokens = f"revoked {len(prefixes)} token(s){': ' + ', '.join(prefixes) if prefixes else ''}"
    click.echo(f"disabled {email.strip().lower()}; {tokens}")


@user_group.command("totp-reset")
@click.option("--email", required=True, help="Whose enrolment to remove.")
def user_totp_reset(email: str) -> None:
    """Forget an admin's two-factor enrolment (a lost phone); they enrol again at /account/totp."""
    from raxx_console.auth import service, totp

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
@click.option("--email", required=True, help="Whose role to change.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    required=True,
    help="viewer reads; operator also files tickets and sets statuses; admin also manages flags.",
)
def user_set_role(email: str, role: str) -> None:
    """Change a user's role; their browser sessions end, so it applies from their next login."""
    from raxx_console.auth import service

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
@click.option("--email", show_default=True, help="The user the token acts as.")
@click.option("--name", default="cli", show_default=True, help="A label to tell tokens apart.")
@click.option(
    "--service",
    "service_name",
    show_default=True,
    help="Instead of --email: a token for the other console (the peer API only).",
)
def token_create(email: str | None, name: str, service_name: str | None) -> None:
    """Create a token for a user (or, with --service, for the other console) and print it once."""
    from raxx_console.auth import service

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
        if user.disabled:
            fail(f"{user.email} is disabled: a token for them would be refused")
        token = service.create_token(
            session, console.clock, user=user, name=name, actor="system:cli", env=console.env
        )
    click.echo(token)


@token_group.command("revoke")
@click.argument("token")
def token_revoke(token: str) -> None:
    """Revoke TOKEN, given whole or by its first 10 characters."""
    from raxx_console.auth import service

    console = load_console()
    try:
        with console.db.session() as session:
            row = service.revoke_token(
                session, console.clock, token=token, actor="system:cli", env=console.env
            )
    except service.AuthError as exc:
        fail(str(exc))
    from raxx_console.auth.models import ServiceToken

    label = row.service if isinstance(row, ServiceToken) else row.name
    click.echo(f"revoked token {row.prefix}… ({label})")


commands = [user_group, token_group]
