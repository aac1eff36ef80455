"""The audit log's hash chain: edits, deletions and truncation of a copy are detectable."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from imatinib_tdm.cli import app
from imatinib_tdm.errors import ImmutableRecordError
from imatinib_tdm.store import (
    AuditEvent,
    Database,
    audit_head,
    make_engine,
    migrate,
    record_event,
    verify_audit,
)
from imatinib_tdm.store._audit import GENESIS_HASH, chain_hash

from .conftest import Actors


def _write_events(database: Database, actors: Actors, count: int) -> list[int]:
    ids = []
    for index in range(count):
        with database.transaction() as session:
            event = record_event(
                session,
                actor=actors.clinician,
                action="view",
                entity_type="patient",
                entity_id=index,
                patient_id=index,
                detail={"n": index, "ratio": 0.5, "whole": 2.0, "codes": ["a", "ß"]},
                source_address="192.0.2.7",
            )
            ids.append(event.id)
    return ids


def _tamper(database: Database, statement: str, **values: object) -> None:
    """Run ``statement`` with the append-only triggers lifted, as someone with the file would."""
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            connection.execute(text(statement), values)
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
            connection.execute(text("DROP TRIGGER audit_events_no_delete"))
            connection.execute(text(statement), values)


def _sqlite_copy(database: Database, tmp_path: Path) -> Database | None:
    """A copy of a SQLite database file (``None`` on PostgreSQL: the test schema is the copy)."""
    if database.engine.dialect.name != "sqlite":
        return None
    database.dispose()  # checkpoint the WAL into the file
    source = Path(str(database.engine.url.database))
    copy = tmp_path / "copy.sqlite3"
    shutil.copyfile(source, copy)
    return Database(make_engine(f"sqlite:///{copy}"))


def test_chain_of_an_untouched_log_verifies(database: Database, actors: Actors) -> None:
    ids = _write_events(database, actors, 5)
    with database.read() as session:
        result = verify_audit(session)
        head = audit_head(session)
    assert result.ok, result.reason
    assert result.first_bad_id is None
    assert result.rows_checked >= 5  # plus the events of creating the users
    assert head is not None and result.head_id == head[0] == ids[-1]
    assert result.head_hash == head[1]


def test_events_of_one_transaction_chain_in_order(database: Database, actors: Actors) -> None:
    with database.transaction() as session:
        first = record_event(session, actor=None, action="view", entity_type="patient", entity_id=1)
        second = record_event(
            session, actor=None, action="view", entity_type="patient", entity_id=2
        )
    assert second.id == first.id + 1
    fields = {name: getattr(second, name) for name in ("at", "user_id", "username")}
    assert fields["at"].tzinfo is not None
    with database.read() as session:
        assert verify_audit(session).ok


def test_an_edited_row_of_a_copy_is_detected(
    database: Database, actors: Actors, tmp_path: Path
) -> None:
    ids = _write_events(database, actors, 5)
    target = _sqlite_copy(database, tmp_path) or database
    try:
        _tamper(target, "UPDATE audit_events SET entity_id = 999 WHERE id = :id", id=ids[2])
        with target.read() as session:
            result = verify_audit(session)
    finally:
        if target is not database:
            target.dispose()
    assert not result.ok
    assert result.first_bad_id == ids[2]
    assert result.reason is not None and "changed" in result.reason
    if target is not database:  # the original is untouched
        with database.read() as session:
            assert verify_audit(session).ok


def test_a_deleted_middle_row_is_detected(database: Database, actors: Actors) -> None:
    ids = _write_events(database, actors, 5)
    _tamper(database, "DELETE FROM audit_events WHERE id = :id", id=ids[2])
    with database.read() as session:
        result = verify_audit(session)
    assert not result.ok
    assert result.first_bad_id == ids[3]
    assert result.reason is not None and "deleted" in result.reason


def test_a_rewritten_hash_is_detected_by_the_next_row(database: Database, actors: Actors) -> None:
    ids = _write_events(database, actors, 4)
    # recompute the edited row's own hash, as a tamperer who knows the algorithm would
    with database.read() as session:
        row = session.get(AuditEvent, ids[1])
        previous = session.get(AuditEvent, ids[0])
        assert row is not None and previous is not None
        fields = {name: getattr(row, name) for name in ("at", "user_id", "username", "action")}
        fields |= {
            "id": row.id,
            "entity_type": row.entity_type,
            "entity_id": 12345,
            "patient_id": row.patient_id,
            "detail": row.detail,
            "source_address": row.source_address,
        }
        forged = chain_hash(previous.chain_hash, fields)
    _tamper(
        database,
        "UPDATE audit_events SET entity_id = 12345, chain_hash = :h WHERE id = :id",
        h=forged,
        id=ids[1],
    )
    with database.read() as session:
        result = verify_audit(session)
    assert not result.ok and result.first_bad_id == ids[2]


def test_truncating_the_end_needs_an_anchor(database: Database, actors: Actors) -> None:
    ids = _write_events(database, actors, 4)
    with database.read() as session:
        anchor = audit_head(session)
    assert anchor is not None and anchor[0] == ids[-1]
    _tamper(database, "DELETE FROM audit_events WHERE id >= :id", id=ids[2])
    with database.read() as session:
        without_anchor = verify_audit(session)
        with_anchor = verify_audit(session, anchor=anchor)
    assert without_anchor.ok  # a shorter chain is still a valid chain
    assert not with_anchor.ok
    assert with_anchor.reason is not None and "truncated" in with_anchor.reason


def test_an_anchor_with_another_hash_means_a_rewrite(database: Database, actors: Actors) -> None:
    ids = _write_events(database, actors, 2)
    with database.read() as session:
        result = verify_audit(session, anchor=(ids[0], "f" * 64))
        assert verify_audit(session, anchor=(ids[1], audit_head(session)[1])).ok  # type: ignore[index]
    assert not result.ok and result.first_bad_id == ids[0]
    assert result.reason is not None and "rewritten" in result.reason


def test_an_event_added_by_hand_is_refused(database: Database) -> None:
    with pytest.raises(ImmutableRecordError, match="chain"), database.transaction() as session:
        session.add(
            AuditEvent(at=datetime.now(UTC), action="view", entity_type="patient", entity_id=1)
        )


def test_concurrent_writers_keep_one_chain(database: Database, actors: Actors) -> None:
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for index in range(10):
                with database.transaction() as session:
                    record_event(
                        session,
                        actor=None,
                        action="view",
                        entity_type="episode",
                        entity_id=offset + index,
                    )
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(100 * n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.read() as session:
        result = verify_audit(session)
        ids = list(session.scalars(text("SELECT id FROM audit_events ORDER BY id")))
    assert result.ok, result.reason
    assert result.rows_checked == len(ids)


def test_migration_chains_existing_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine, "0001")
        with engine.begin() as connection:
            for index in range(3):
                connection.execute(
                    text(
                        "INSERT INTO audit_events (at, action, entity_type, entity_id, detail) "
                        "VALUES (:at, 'view', 'patient', :id, NULL)"
                    ),
                    {"at": datetime(2026, 1, 1, 12, index, tzinfo=UTC), "id": index},
                )
        migrate(engine)
        database = Database(engine)
        with database.read() as session:
            result = verify_audit(session)
        assert result.ok, result.reason
        assert result.rows_checked == 3
        # the triggers are back after the migration rewrote the rows
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE audit_events SET entity_id = 7"))
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_events"))
    finally:
        engine.dispose()


def test_genesis_and_canonical_form() -> None:
    fields = {
        "id": 1,
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "user_id": None,
        "username": None,
        "action": "view",
        "entity_type": "patient",
        "entity_id": 1,
        "patient_id": None,
        "detail": {"b": 1.0, "a": [1, 2]},
        "source_address": None,
    }
    same = dict(fields, detail={"a": [1, 2], "b": 1})  # key order and 1.0 vs 1 (JSONB) agree
    assert chain_hash(GENESIS_HASH, fields) == chain_hash(GENESIS_HASH, same)
    assert chain_hash(GENESIS_HASH, fields) != chain_hash("1" * 64, fields)


def test_verify_audit_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    database = Database.connect(url)
    try:
        for index in range(3):
            with database.transaction() as session:
                record_event(
                    session, actor=None, action="view", entity_type="patient", entity_id=index
                )
    finally:
        database.dispose()
    runner = CliRunner()
    ok = runner.invoke(app, ["verify-audit", "--database-url", url])
    assert ok.exit_code == 0, ok.output
    assert "3 rows" in ok.output and "head: id 3" in ok.output
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text("UPDATE audit_events SET action = 'login' WHERE id = 2"))
    engine.dispose()
    broken = runner.invoke(app, ["verify-audit", "--database-url", url])
    assert broken.exit_code == 1
    assert "row 2" in broken.output
    anchored = runner.invoke(
        app, ["verify-audit", "--database-url", url, "--anchor", "9:" + "a" * 64]
    )
    assert anchored.exit_code == 1


def test_verify_audit_command_refuses_an_unmigrated_or_unknown_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imatinib_tdm.cli import main

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    migrate(engine, "0001")
    engine.dispose()
    for arguments in (["--database-url", url], ["--database-url", "mysql://x/y"]):
        monkeypatch.setattr("sys.argv", ["imatinib-tdm", "verify-audit", *arguments])
        with pytest.raises(SystemExit) as stopped:
            main()
        assert stopped.value.code == 2
