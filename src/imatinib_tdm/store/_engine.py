"""Where the database is and how to connect to it.

SQLite is the default (one file under a data directory, created on first use); PostgreSQL is
chosen with ``DATABASE_URL``. Both get the same behaviour from the rest of the store: foreign
keys enforced, timezone-aware UTC times, and serialised writers.

SQLite under a multi-threaded web server: connections may move between threads
(``check_same_thread=False``; the pool hands each connection to one thread at a time), the
journal is WAL (readers do not block the writer), a writer waits up to 30 s for the lock instead
of failing, and write transactions start with ``BEGIN IMMEDIATE`` (see
:class:`imatinib_tdm.store.Database`), so two writers never deadlock on a lock upgrade.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

__all__ = [
    "DATABASE_FILE_NAME",
    "SQLITE_BEGIN_OPTION",
    "data_dir",
    "default_database_url",
    "make_engine",
    "normalise_database_url",
]

DATABASE_FILE_NAME = "imatinib-tdm.sqlite3"
SQLITE_BEGIN_OPTION = "imatinib_tdm_sqlite_begin"
"""Execution option naming the ``BEGIN`` variant SQLite transactions start with."""

# How long a SQLite writer waits for another writer's lock before giving up, in seconds.
SQLITE_LOCK_TIMEOUT_S = 30.0


def data_dir() -> Path:
    """The data directory: env ``IMATINIB_TDM_DATA_DIR``, else ``./var``; created if missing."""
    folder = Path(os.environ.get("IMATINIB_TDM_DATA_DIR") or "var")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def default_database_url() -> str:
    """The database to use: env ``DATABASE_URL`` if set, else a SQLite file in :func:`data_dir`.

    Returns
    -------
    str
        e.g. ``"sqlite:////srv/tdm/var/imatinib-tdm.sqlite3"`` or the value of ``DATABASE_URL``.
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{(data_dir() / DATABASE_FILE_NAME).resolve()}"


def normalise_database_url(url: str | URL) -> URL:
    """Parse a database URL and pick the driver: PostgreSQL always goes through psycopg 3.

    ``postgres://`` and ``postgresql://`` (as hosting platforms write them) become
    ``postgresql+psycopg://``.

    Raises
    ------
    ValueError
        Not a URL, or a database other than SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise ValueError(
            "DATABASE_URL: not a database URL; expected e.g. "
            "postgresql://user:password@host:5432/dbname or sqlite:////path/to/file.sqlite3"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ValueError(
        f"DATABASE_URL: unsupported database {backend!r} "
        f"({parsed.render_as_string(hide_password=True)}); use sqlite or postgresql"
    )


def make_engine(url: str | URL | None = None) -> Engine:
    """Create the SQLAlchemy engine for ``url`` (default: :func:`default_database_url`).

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL, optional
        ``sqlite:///path``, ``sqlite://`` (in memory, one shared connection: tests only),
        ``postgresql://...``, ``postgres://...`` or ``postgresql+psycopg://...``.

    Returns
    -------
    sqlalchemy.Engine
        Not yet migrated; call :func:`imatinib_tdm.store.migrate`.

    Raises
    ------
    ValueError
        The URL is not SQLite or PostgreSQL.
    """
    parsed = normalise_database_url(url if url is not None else default_database_url())
    if parsed.get_backend_name() == "postgresql":
        # pre-ping: a server restart must not turn the first request after it into an error
        return create_engine(parsed, pool_pre_ping=True)
    return _make_sqlite_engine(parsed)


_SQLITE_POOL_SIZE = 20


def _make_sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(url)
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_LOCK_TIMEOUT_S}
    }
    if in_memory:
        options["poolclass"] = StaticPool  # every thread must see the same in-memory database
    else:
        # Connections are kept rather than closed after use: the service's thread pool (40
        # threads) can hold many at once, and each new SQLite connection costs a file open and
        # three PRAGMAs (measured: connection churn with 16 concurrent API clients).
        options.update(pool_size=_SQLITE_POOL_SIZE, max_overflow=_SQLITE_POOL_SIZE)
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (the sqlite3 module
    # would start them lazily, after SELECTs, which breaks SAVEPOINTs and BEGIN IMMEDIATE).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=NORMAL is durable against application crashes; the last
        # transactions may be lost on power failure (SQLite documentation, "WAL mode").
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")
