"""Sessions and transactions: every write is one transaction.

:class:`Database` hands out sessions. :meth:`Database.transaction` commits when its block ends
normally and rolls back everything when it raises, so a write that fails half-way leaves
nothing behind. :meth:`Database.read` gives a session that refuses to write.
:meth:`Database.write_problem` tells whether a write could be made right now (for the health
check).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import StaticPool

from imatinib_tdm.errors import ConflictError
from imatinib_tdm.store._engine import SQLITE_BEGIN_OPTION, SQLITE_LOCK_TIMEOUT_S, make_engine
from imatinib_tdm.store._guards import READ_ONLY
from imatinib_tdm.store._migrations import migrate

__all__ = ["Database"]


class Database:
    """Sessions bound to one engine.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`imatinib_tdm.store.make_engine`, already migrated.

    Notes
    -----
    Objects loaded in a session stay readable after it closes (``expire_on_commit=False``), so
    a caller can build its response from them; relationships are not lazy-loaded (there are
    none), every related record is fetched by a repository function.

    Examples
    --------
    >>> from imatinib_tdm.store import Database, count_patients
    >>> db = Database.connect("sqlite://")
    >>> with db.read() as session:
    ...     count_patients(session)
    0
    >>> db.dispose()
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        writer = engine
        if engine.dialect.name == "sqlite":
            # take the write lock at BEGIN: two writers then queue instead of deadlocking
            writer = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        self._write_sessions = sessionmaker(writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str | None = None, *, upgrade: bool = True) -> Database:
        """Create the engine for ``url`` (default: ``DATABASE_URL`` or the SQLite file) and,
        unless ``upgrade=False``, bring the schema to the latest migration."""
        engine = make_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed at the end of the block, rolled back if it
        raises.

        Raises
        ------
        ConflictError
            Another transaction changed an episode this one updated (stale revision).
        """
        with self._write_sessions() as session:
            try:
                with session.begin():
                    yield session
            except StaleDataError as error:
                raise ConflictError(
                    "the record was changed by someone else in the meantime; reload it and "
                    "apply your change again",
                    field="revision",
                ) from error

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only: any attempt to write raises ``RuntimeError``.

        Closing it ends its transaction without expiring the loaded objects (a rollback would),
        so they stay readable after the block.
        """
        with self._read_sessions() as session:
            session.info[READ_ONLY] = True
            yield session

    def write_problem(self, *, timeout_s: float = 0.5) -> str | None:
        """Why a write could not be made within ``timeout_s`` seconds, or ``None`` if it could.

        Uses a connection of its own and writes nothing:

        * SQLite: ``BEGIN IMMEDIATE`` (takes the write lock, as every write transaction does)
          with a busy timeout of ``timeout_s``, then ``ROLLBACK``. A database whose lock is
          held by a long transaction, or a read-only file, is reported.
        * PostgreSQL: refuses a server in recovery (a standby) or a read-only transaction
          (``default_transaction_read_only``), then assigns a transaction id
          (``pg_current_xact_id()``, which fails where no write is possible) under a
          ``statement_timeout`` and ``lock_timeout`` of ``timeout_s``, and rolls back.

        Returns
        -------
        str or None
            A short reason without data (``"database is locked"``, ``"read-only"``, the
            driver's first message line), or ``None``.
        """
        if not 0 < timeout_s <= 30:
            raise ValueError(f"timeout_s: must be in (0, 30] seconds, got {timeout_s}")
        try:
            if self.engine.dialect.name == "sqlite":
                return self._sqlite_write_problem(timeout_s)
            return self._postgres_write_problem(timeout_s)
        except DBAPIError as error:
            return _first_line(error.orig if error.orig is not None else error)

    def _sqlite_write_problem(self, timeout_s: float) -> str | None:
        if isinstance(self.engine.pool, StaticPool):
            return None  # in memory (tests): one shared connection, a second BEGIN would fail
        raw = self.engine.raw_connection()  # a pooled connection, handed back by close()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                except Exception as error:  # sqlite3.OperationalError: locked, read-only, I/O
                    return _first_line(error)
                cursor.execute("ROLLBACK")
                return None
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_LOCK_TIMEOUT_S * 1000)}")
                cursor.close()
        finally:
            raw.close()

    def _postgres_write_problem(self, timeout_s: float) -> str | None:
        milliseconds = int(timeout_s * 1000)
        with self.engine.connect() as connection:
            try:
                connection.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))
                connection.execute(text(f"SET LOCAL lock_timeout = {milliseconds}"))
                if connection.scalar(text("SELECT pg_is_in_recovery()")):
                    return "read-only: the server is a standby (in recovery)"
                if connection.scalar(text("SHOW transaction_read_only")) == "on":
                    return "read-only: transactions are read-only"
                connection.execute(text("SELECT pg_current_xact_id()"))
                return None
            finally:
                connection.rollback()

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, or between tests)."""
        self.engine.dispose()


def _first_line(error: BaseException) -> str:
    """The first line of a driver's message (no SQL, no parameters), at most 200 characters."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:200]
