"""Database URL, data directory and engine settings (imatinib_tdm.store._engine)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from imatinib_tdm.store import (
    Database,
    Role,
    count_patients,
    create_first_admin,
    create_patient,
    create_user,
    data_dir,
    default_database_url,
    make_engine,
    migrate,
)
from imatinib_tdm.store._engine import normalise_database_url

from .conftest import PATIENT_FIELDS, Actors


def test_default_url_is_a_sqlite_file_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    folder = tmp_path / "state" / "var"
    monkeypatch.setenv("IMATINIB_TDM_DATA_DIR", str(folder))
    url = default_database_url()
    assert url == f"sqlite:///{folder.resolve() / 'imatinib-tdm.sqlite3'}"
    assert folder.is_dir()  # created on first use
    assert data_dir() == folder


def test_data_dir_defaults_to_var_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMATINIB_TDM_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_dir().resolve() == (tmp_path / "var").resolve()


def test_database_url_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://tdm:secret@db.example:5432/tdm")
    assert default_database_url() == "postgresql://tdm:secret@db.example:5432/tdm"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://tdm:secret@db.example/tdm",
        "postgresql://tdm:secret@db.example/tdm",
        "postgresql+psycopg://tdm:secret@db.example/tdm",
        "postgresql+psycopg2://tdm:secret@db.example/tdm",
    ],
)
def test_postgresql_urls_use_psycopg3(url: str) -> None:
    normalised = normalise_database_url(url)
    assert normalised.drivername == "postgresql+psycopg"
    assert normalised.host == "db.example"
    assert normalised.password == "secret"


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "not a url"])
def test_unsupported_urls_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL") as caught:
        make_engine(url)
    assert "secret" not in str(caught.value)


def test_sqlite_engine_creates_the_folder_and_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'db.sqlite3'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert (tmp_path / "new" / "dir").is_dir()
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_shared_between_threads() -> None:
    db = Database.connect("sqlite://")
    seen: list[int] = []
    try:
        worker = threading.Thread(target=lambda: seen.append(_count(db)))
        worker.start()
        worker.join()
        assert seen == [0]
    finally:
        db.dispose()


def _count(db: Database) -> int:
    with db.read() as session:
        return count_patients(session)


def test_concurrent_writers_on_sqlite_queue_instead_of_failing(
    actors_on_file: tuple[Database, Actors],
) -> None:
    db, actors = actors_on_file
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for repeat in range(5):
                with db.transaction() as session:
                    count_patients(session)  # read first: a deferred BEGIN would deadlock here
                    create_patient(
                        session,
                        actor=actors.clinician,
                        **{**PATIENT_FIELDS, "mrn": f"T{index}-{repeat}"},
                    )
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read() as session:
        assert count_patients(session) == 20


@pytest.fixture
def actors_on_file(tmp_path: Path) -> tuple[Database, Actors]:
    engine = make_engine(f"sqlite:///{tmp_path / 'threads.sqlite3'}")
    migrate(engine)
    db = Database(engine)
    with db.transaction() as session:
        admin = create_first_admin(
            session, username="a", password="engine test passphrase", full_name="A"
        )
        users = [
            create_user(
                session,
                username=r.value,
                password="engine test passphrase",
                role=r,
                full_name="U",
                actor=admin,
            )
            for r in (Role.PHARMACOLOGIST, Role.CLINICIAN, Role.VIEWER)
        ]
    return db, Actors(admin, *users)
