"""Where the database is and how to connect to it.

SQLite is the default (one file under a data directory, created on first use); PostgreSQL is
chosen with ``DATABASE_URL``. Both get the same behaviour from the rest of the store: foreign
keys enforced, timezone-aware UTC times, and serialised writers.

SQLite under a multi-threaded web server: connections may move between threads
(``check_same_thread=False``; the pool hands each connection to one thread at a time), the
journal is WAL (readers do not block the writer), a writer waits up to 30 s for the lock instead
of failing, and write transactions start with ``BEGIN IMMEDIATE`` (see
:class:`imatinib_tdm.store.Database`), so two writers never deadlock on a lock upgrade.

The SQLite file holds patients and password hashes: the data directory is created owner-only
(0700) and the database file 0600 before SQLite opens it; SQLite gives its ``-wal`` and
``-shm`` files the database file's permissions. A database file (and data directory) of an older
installation that others may read is narrowed to the same modes when the engine is made.
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
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
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


PRIVATE_DIR_MODE = 0o700
"""Permissions of the data directory (owner only): it holds patient data and secrets."""
PRIVATE_FILE_MODE = 0o600
"""Permissions of the SQLite database file (and so of its -wal and -shm files)."""


def data_dir() -> Path:
    """The data directory: env ``IMATINIB_TDM_DATA_DIR``, else ``./var``; created if missing,
    owner-only (0700)."""
    folder = Path(os.environ.get("IMATINIB_TDM_DATA_DIR") or "var")
    _private_dir(folder)
    return folder


def _private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) with mode 0700; narrow it if it exists wider.

    Only the last folder is narrowed: its parents (``/srv``, a home folder) are not ours.
    """
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    _narrow(folder, PRIVATE_DIR_MODE)


def _narrow(path: Path, mode: int) -> None:
    """Remove group/other permissions of ``path`` (mkdir and open obey the umask, and a folder
    of an older installation may be 0755). Not owned by us: left alone."""
    try:
        current = path.stat().st_mode & 0o777
        if current & ~mode:
            os.chmod(path, current & mode)
    except PermissionError:
        pass  # not ours (a shared parent): nothing we may change


def _private_sqlite_file(database: Path) -> None:
    """Create the SQLite file with 0600 before SQLite does (it would use 0644), and narrow an
    existing file and its -wal/-shm companions. A missing folder is created 0700; an existing
    one is left as it is (it may be anyone's, ``/tmp``), except the data directory
    (:func:`data_dir`)."""
    if not database.parent.exists():
        database.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # an empty file is a valid empty SQLite database
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if path.exists():
            _narrow(path, PRIVATE_FILE_MODE)


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
            _private_sqlite_file(Path(database).expanduser())
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
