"""Sessions and transactions: every write is one transaction.

:class:`Database` hands out sessions. :meth:`Database.transaction` commits when its block ends
normally and rolls back everything when it raises, so a write that fails half-way leaves
nothing behind. :meth:`Database.read` gives a session that refuses to write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from imatinib_tdm.errors import ConflictError
from imatinib_tdm.store._engine import SQLITE_BEGIN_OPTION, make_engine
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

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, or between tests)."""
        self.engine.dispose()
