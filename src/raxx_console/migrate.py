"""Apply the Alembic migrations shipped inside the package (``raxx-console db upgrade``)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from raxx_console.db import Database

#: Any fixed number: concurrent ``db upgrade`` runs (web and worker dynos) queue behind it.
_PG_MIGRATION_LOCK = 0x5241_5858


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("raxx_console").joinpath("migrations")))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once."""
    config = _config()
    with database.engine.begin() as connection:
        if database.is_postgres:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
