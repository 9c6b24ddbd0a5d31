"""Alembic environment: run by ``raxx_console.migrate.upgrade`` with a connection in ``attributes``."""

from alembic import context

from raxx_console.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
