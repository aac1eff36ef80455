"""Schema migrations with Alembic, run from code (no ``alembic.ini`` needed).

The migration scripts are packaged in ``imatinib_tdm/store/migrations/versions``. :func:`migrate`
brings a database to the latest revision and does nothing when it is there already; on
PostgreSQL it first takes an advisory lock, so several server processes starting together
migrate one after the other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "migrate",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant identifying "imatinib-tdm schema migration" among PostgreSQL advisory locks.
_MIGRATION_LOCK_KEY = 0x1A7_7D3


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations.

    Parameters
    ----------
    url : str, optional
        Database URL, for Alembic commands that connect by themselves (e.g.
        ``alembic.command.revision(alembic_config(url), "message", autogenerate=True)`` when
        writing a new migration; see ``docs/storage.md``).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # module names must not start with a digit (mypy, imports): v0002_add_x.py
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run(engine: Engine, direction: str, revision: str) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        config = alembic_config()
        config.attributes["connection"] = connection
        if direction == "up":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the latest); idempotent.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`imatinib_tdm.store.make_engine`.
    revision : str, default="head"
    """
    _run(engine, "up", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Downgrade the schema to ``revision``; ``"base"`` drops every table (tests, rollbacks).

    Dropping tables deletes their data: back the database up first (``docs/storage.md``).
    """
    _run(engine, "down", revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The latest revision among the packaged migrations."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a migration
        raise RuntimeError("no migration scripts found in the package")
    return head
