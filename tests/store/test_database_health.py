"""Whether the database can write now (Database.write_problem, for /api/health) and the
permissions of the SQLite file (imatinib_tdm.store._engine)."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from imatinib_tdm.store import Database, data_dir, make_engine, record_event


def test_a_writable_database_has_no_problem(database: Database) -> None:
    assert database.write_problem(timeout_s=0.5) is None
    with database.read() as session:  # nothing was written
        assert session.execute(text("SELECT count(*) FROM audit_events")).scalar() == 0


def test_sqlite_held_locked_by_another_connection_is_reported_quickly(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    database = Database.connect(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        started = time.monotonic()
        problem = database.write_problem(timeout_s=0.3)
        elapsed = time.monotonic() - started
        assert problem is not None and "locked" in problem
        assert elapsed < 2
        holder.execute("ROLLBACK")
        assert database.write_problem(timeout_s=0.3) is None
        # the pooled connection got its normal busy timeout back: writers still wait
        with database.transaction() as session:
            record_event(session, actor=None, action="view", entity_type="patient", entity_id=1)
            timeout = session.execute(text("PRAGMA busy_timeout")).scalar()
        assert timeout == 30_000
    finally:
        holder.close()
        database.dispose()


def test_postgres_read_only_is_reported(_postgres_database: Database) -> None:
    database = _postgres_database  # PostgreSQL only: SQLite's read-only case is the lock test
    url = database.engine.url.update_query_dict({"options": "-c default_transaction_read_only=on"})
    read_only = Database(make_engine(url))
    try:
        problem = read_only.write_problem(timeout_s=0.5)
    finally:
        read_only.dispose()
    assert problem is not None and "read-only" in problem


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sqlite_file_and_data_directory_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "umask", os.umask)  # restore whatever umask the run had
    previous = os.umask(0o022)  # the usual umask: files 0644, folders 0755
    try:
        monkeypatch.setenv("IMATINIB_TDM_DATA_DIR", str(tmp_path / "var"))
        folder = data_dir()
        path = folder / "tdm.sqlite3"
        database = Database.connect(f"sqlite:///{path}")
        with database.transaction() as session:  # WAL and SHM exist while connections are open
            record_event(session, actor=None, action="view", entity_type="patient", entity_id=1)
        modes = {p.name: _mode(p) for p in folder.iterdir()}
        database.dispose()
    finally:
        os.umask(previous)
    assert _mode(folder) == 0o700
    assert modes["tdm.sqlite3"] == 0o600
    assert modes.get("tdm.sqlite3-wal") == 0o600 and modes.get("tdm.sqlite3-shm") == 0o600


def test_a_readable_file_of_an_older_installation_is_narrowed(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir(mode=0o755)
    path = folder / "tdm.sqlite3"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    Database.connect(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600
    assert _mode(folder) == 0o755  # a folder that is not the data directory is left alone
