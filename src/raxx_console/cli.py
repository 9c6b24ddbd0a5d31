"""The ``raxx-console`` command: processes (serve, web, worker) and operator chores.

Each domain contributes its own command group (``<domain>/commands.py``, listed in
``COMMAND_MODULES``). Bad input or configuration prints a message and exits non-zero; no
traceback reaches the terminal.

This module and the command modules import only click at the top; everything heavy (Flask,
SQLAlchemy, pydantic, the sandboxes) is imported inside the command that needs it, so
``--help`` and a typo answer at once (docs/decisions.md, "A fast command line").
"""

from __future__ import annotations

import gc
import importlib
import os
import secrets
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from raxx_console.context import Console

#: Modules exposing ``commands``: a list of click commands/groups to add to ``raxx-console``.
COMMAND_MODULES = (
    "raxx_console.auth.commands",
    "raxx_console.flags.commands",
    "raxx_console.status.commands",
    "raxx_console.customers.commands",
    "raxx_console.sandbox.commands",
    "raxx_console.health.commands",
    "raxx_console.alerts.commands",
    "raxx_console.deploys.commands",
    "raxx_console.secrets.commands",
    "raxx_console.audit.commands",
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def redact(reason: str) -> str:
    """``reason`` without DATABASE_URL or its password (a driver error may quote either)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from raxx_console.db import normalize_url
    from raxx_console.logging_setup import REDACTED

    url = os.environ.get("DATABASE_URL", "")
    try:
        password = make_url(normalize_url(url)).password if url else None
    except (ArgumentError, ValueError):
        password = None
    for secret in (url, password):
        if secret and len(secret) >= 4:
            reason = reason.replace(secret, REDACTED)
    return reason


class ConsoleGroup(click.Group):
    """Turns configuration and database trouble into a message and an exit code, never a trace."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # Imported here: a command that raised these has imported them already.
            from sqlalchemy.exc import OperationalError, ProgrammingError

            from raxx_console.config import ConfigError
            from raxx_console.db import DatabaseUrlError

            if isinstance(exc, ConfigError):
                fail(str(exc))
            if isinstance(exc, DatabaseUrlError):
                fail(f"invalid configuration: DATABASE_URL: {exc}")
            if isinstance(exc, OperationalError | ProgrammingError):
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                fail(
                    f"database error: {redact(reason)} (is DATABASE_URL right, and has"
                    " `raxx-console db upgrade` been run?)",
                    code=1,
                )
            raise


def load_console(*, worker: bool = False) -> Console:
    """Settings from the environment and a Console for commands that need no web app
    (``worker``: with a database connection for each of the worker's threads)."""
    from raxx_console.config import load_settings
    from raxx_console.context import build_console
    from raxx_console.jobs import OUTBOX_HANDLERS, db_connections
    from raxx_console.logging_setup import configure_logging
    from raxx_console.outbox.service import use_handlers

    settings = load_settings()
    configure_logging(settings.LOG_LEVEL, settings.secret_values())
    console = build_console(settings, pool_size=db_connections(settings) if worker else None)
    use_handlers(console, OUTBOX_HANDLERS)
    return console


@click.group(cls=ConsoleGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Raxx Console: the operators' cockpit and its auto-ticketing pipeline."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (Procfile: release)."""
    from raxx_console import migrate

    console = load_console()
    migrate.upgrade(console.db)
    click.echo(f"database at revision {migrate.current_revision(console.db)}")


def ensure_first_admin(console: Console) -> None:
    """On a first start with no users, create an admin and print its password once, here only."""
    from sqlalchemy import func, select

    from raxx_console.auth import service as auth_service
    from raxx_console.auth.models import User

    with console.db.session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return
        password = secrets.token_urlsafe(18)
        email = "admin@localhost"
        auth_service.create_user(
            session,
            console.clock,
            email=email,
            role="admin",
            password=password,
            actor="system:serve",
            env=console.env,
        )
    if sys.stdout.isatty():
        click.echo(
            "\n  First start: created the admin account\n"
            f"    email:    {email}\n    password: {password}\n"
            "  It is shown this once. Create your own with `raxx-console user create`.\n"
        )
        return
    from raxx_console.private_files import write_owner_only

    path = write_owner_only(console.settings.instance_path / "first-admin-password.txt", f"{password}\n")
    click.echo(
        "\n  First start: created the admin account\n"
        f"    email:    {email}\n    password: in {path.resolve()} (readable only by you)\n"
        "  Output is not a terminal, so the password is not printed. Read it, then delete the file.\n"
    )


def start_worker(console: Console) -> Any:
    from raxx_console.jobs import JOBS
    from raxx_console.worker import Worker

    return Worker(console, JOBS).start()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Also run the FreeScout/Slack sandboxes and demo surfaces, and turn on the demo's flags.",
)
def serve(host: str, port: int, sandbox: bool) -> None:
    """Web + worker in one process, on the embedded SQLite default."""
    from werkzeug.serving import run_simple

    from raxx_console import create_app, migrate
    from raxx_console.config import load_settings
    from raxx_console.context import database_url
    from raxx_console.db import Database

    overrides: dict[str, Any] = {}
    stack = None
    if sandbox:
        from raxx_console.sandbox.stack import SandboxStack

        stack = SandboxStack.start()
        overrides.update(stack.settings_overrides(console_url=f"http://{host}:{port}"))
        click.echo(stack.describe())
    # Migrate before the app exists, so its start-up checks read a ready database.
    embedded = Database(database_url(load_settings(overrides)))
    migrate.upgrade(embedded)
    embedded.dispose()
    app = create_app(overrides)
    console: Console = app.extensions["raxx_console"]
    ensure_first_admin(console)
    if stack is not None:
        stack.seed(console)
        publish_for_doctor(console, f"http://{host}:{port}", overrides)
    from raxx_console.health.startup import start_monitoring

    start_monitoring(console)
    worker = start_worker(console)
    click.echo(f"Raxx Console ({console.env}) on http://{host}:{port}/  — Ctrl-C to stop")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        worker.stop()
        if stack is not None:
            withdraw_for_doctor(console)
            stack.stop()


def publish_for_doctor(console: Console, url: str, overrides: dict[str, Any]) -> None:
    """Let a plain `raxx-console doctor` ask this sandboxed server (``health.remote``).

    The file holds the effective non-secret settings and the path of an owner-only token file,
    never a key.
    """
    from pydantic import SecretStr

    from raxx_console.auth import service as auth_service
    from raxx_console.health import remote

    with console.db.session() as session:
        admin = auth_service.find_user(session, "admin@localhost")
        if admin is None or admin.disabled:
            return
        token = auth_service.create_token(
            session, console.clock, user=admin, name=remote.TOKEN_NAME, actor="system:serve", env=console.env
        )
    settings = {
        name: value
        for name in sorted(overrides)
        if not isinstance(value := getattr(console.settings, name), SecretStr)
    }
    remote.publish(console.settings.instance_path, url=url, token=token, settings=settings)


def withdraw_for_doctor(console: Console) -> None:
    """Remove the doctor's discovery file and revoke its token."""
    from raxx_console.auth import service as auth_service
    from raxx_console.health import remote

    token_path = console.settings.instance_path / remote.TOKEN_FILE
    try:
        token = token_path.read_text(encoding="utf-8").strip()
        with console.db.session() as session:
            auth_service.revoke_token(
                session, console.clock, token=token, actor="system:serve", env=console.env
            )
    except (OSError, auth_service.AuthError):
        pass
    remote.withdraw(console.settings.instance_path)


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", "8000")),
    type=int,
    show_default="$PORT, else 8000",
    help="Port to listen on.",
)
def web(host: str, port: int) -> None:
    """The web process under gunicorn (WEB_CONCURRENCY workers)."""
    from gunicorn.app.base import BaseApplication

    from raxx_console.config import load_settings

    settings = load_settings()

    class ConsoleWeb(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", settings.WEB_CONCURRENCY)
            self.cfg.set("threads", 4)
            # Above the worst inline Investigate click (3 FreeScout calls at their timeout).
            self.cfg.set("timeout", 60)
            self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            from raxx_console import create_app
            from raxx_console.health.startup import start_monitoring

            app = create_app()
            start_monitoring(app.extensions["raxx_console"])
            # The app's long-lived objects (modules, models, plans) leave the collector's view:
            # a full collection then walks only what requests make, not ~100 ms of boot objects.
            gc.freeze()
            return app

    ConsoleWeb().run()


@main.command()
def worker() -> None:
    """The background worker: the periodic jobs of raxx_console/jobs.py (Procfile: worker)."""
    from raxx_console.health.startup import start_monitoring

    console = load_console(worker=True)
    start_monitoring(console)
    running = start_worker(console)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    running.stop()


for _module in COMMAND_MODULES:
    for _command in importlib.import_module(_module).commands:
        main.add_command(_command)
