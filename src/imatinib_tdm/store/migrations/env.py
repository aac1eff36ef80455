"""Alembic environment: run by Alembic itself, from :mod:`imatinib_tdm.store._migrations`.

With a connection in ``config.attributes["connection"]`` (how the store runs it) the migration
joins that connection's transaction; otherwise it connects to ``sqlalchemy.url``, or writes SQL
in offline mode (``alembic upgrade --sql``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from imatinib_tdm.store._engine import make_engine
from imatinib_tdm.store._models import Base


def _migrate_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Run the migrations Alembic was asked for."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate_on(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    try:
        with engine.begin() as own_connection:
            _migrate_on(own_connection)
    finally:
        engine.dispose()


# Alembic executes this file while its context is set up. Importing it otherwise (doctest
# collection, documentation tools) finds no context and must do nothing.
if hasattr(context, "config"):
    run_migrations()
