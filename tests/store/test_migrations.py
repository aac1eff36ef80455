"""Alembic migrations run from code (imatinib_tdm.store._migrations)."""

from __future__ import annotations

import importlib

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from imatinib_tdm.store import (
    Base,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    migrate,
)

TABLES = {
    "users",
    "patients",
    "episodes",
    "episode_revisions",
    "interpretations",
    "reports",
    "audit_events",
    "user_sessions",
}


def test_up_down_up(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        migrate(engine)
        assert current_revision(engine) == head_revision() == "0002"
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate(engine)  # idempotent
        assert current_revision(engine) == "0002"
        downgrade(engine)
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_importing_env_outside_alembic_does_nothing() -> None:
    # pytest's doctest collection imports every module of the package, env.py included
    module = importlib.import_module("imatinib_tdm.store.migrations.env")
    assert callable(module.run_migrations)
