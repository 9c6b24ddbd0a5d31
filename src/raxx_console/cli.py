"""The ``raxx-console`` command: processes (serve, web, worker) and operator chores.

Each domain contributes its own command group (``<domain>/commands.py``, listed in
``COMMAND_MODULES``). Bad input or configuration prints a message and exits non-zero; no
traceback reaches the terminal.
"""

from __future__ import annotations

import importlib
import os
import secrets
import signal
import sys
import threading
from typing import Any, NoReturn

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

from raxx_console.config import ConfigError, load_settings
from raxx_console.context import Console, build_console, database_url
from raxx_console.db import Database, DatabaseUrlError, normalize_url
from raxx_console.logging_setup import REDACTED

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
        except ConfigError as exc:
            fail(str(exc))
        except DatabaseUrlError as exc:
            fail(f"invalid configuration: DATABASE_URL: {exc}")
        except (OperationalError, ProgrammingError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            fail(
                f"database error: {redact(reason)} (is DATABASE_URL right, and has"
                " `raxx-console db upgrade` been run?)",
                code=1,
            )


def load_console() -> Console:
    """Settings from the environment and a Console for commands that need no web app."""
    from raxx_console.jobs import OUTBOX_HANDLERS
    from raxx_console.logging_setup import configure_logging
    from raxx_console.outbox.service import use_handlers

    settings = load_settings()
    configure_logging(settings.LOG_LEVEL, settings.secret_values())
    console = build_console(settings)
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
    click.echo(
        "\n  First start: created the admin account\n"
        f"    email:    {email}\n    password: {password}\n"
        "  It is shown this once. Create your own with `raxx-console user create`.\n"
    )


def start_worker(console: Console) -> Any:
    from raxx_console.jobs import JOBS
    from raxx_console.worker import Worker

    return Worker(console, JOBS).start()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--sandbox", is_flag=True, help="Also run the FreeScout/Slack sandboxes and demo surfaces.")
def serve(host: str, port: int, sandbox: bool) -> None:
    """Web + worker in one process, on the embedded SQLite default."""
    from werkzeug.serving import run_simple

    from raxx_console import create_app, migrate

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
    from raxx_console.health.startup import start_monitoring

    start_monitoring(console)
    worker = start_worker(console)
    click.echo(f"Raxx Console ({console.env}) on http://{host}:{port}/  — Ctrl-C to stop")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        worker.stop()
        if stack is not None:
            stack.stop()


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8000")), type=int)
def web(host: str, port: int) -> None:
    """The web process under gunicorn (WEB_CONCURRENCY workers)."""
    from gunicorn.app.base import BaseApplication

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
            return app

    ConsoleWeb().run()


@main.command()
def worker() -> None:
    """The background worker: the periodic jobs of ``raxx_console.jobs``."""
    from raxx_console.health.startup import start_monitoring

    console = load_console()
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
