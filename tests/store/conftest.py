"""Fixtures of the storage tests: an empty database on SQLite and on PostgreSQL, users, cases.

Every test that takes ``database`` (or ``database_url``) runs twice: on a SQLite file in a
temporary directory and on PostgreSQL. ``database_url`` is an empty database (a new file, a new
schema dropped afterwards) for the migration tests; ``database`` is migrated: a copy of a
migrated SQLite file, or one migrated PostgreSQL schema per test process whose tables are
emptied before each test (migrating per test would dominate the run time). The
PostgreSQL server comes from ``IMATINIB_TDM_TEST_POSTGRES_URL`` (``scripts/pg-test-server
start`` prints one). Without it the PostgreSQL half is skipped, except in CI (env ``CI``),
where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from imatinib_tdm.case import Case, load_demo_case, parse_case
from imatinib_tdm.store import (
    Base,
    Database,
    Patient,
    Role,
    User,
    _passwords,
    create_episode,
    create_first_admin,
    create_patient,
    create_user,
    issue_report,
    make_engine,
    migrate,
    save_interpretation,
)
from imatinib_tdm.store.migrations.versions.v0001_initial import APPEND_ONLY_TABLES

POSTGRES_URL_ENV = "IMATINIB_TDM_TEST_POSTGRES_URL"
PASSWORD = "a long enough password"
FAKE_PDF = b"%PDF-1.7\n% test document\n%%EOF\n"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters (the production ones take ~0.25 s per hash).

    test_passwords.py overrides this fixture to check the production parameters.
    """
    monkeypatch.setattr(
        _passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(
            f"{POSTGRES_URL_ENV} is not set: in CI the storage tests must run on PostgreSQL too "
            "(.ci/run starts scripts/pg-test-server)"
        )
    pytest.skip(f"PostgreSQL: set {POSTGRES_URL_ENV} (scripts/pg-test-server start)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (not migrated): a new file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with _postgres_schema(_postgres_url()) as url:
        yield url


@contextmanager
def _postgres_schema(server_url: str) -> Iterator[str]:
    """A new schema on the test server, dropped afterwards; yields a URL that uses it."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(server_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "store.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[Database]:
    """A migrated schema for this test process; tests empty it instead of migrating again."""
    with _postgres_schema(_postgres_url()) as url:
        engine = make_engine(url)
        migrate(engine)
        db = Database(engine)
        try:
            yield db
        finally:
            db.dispose()


def _empty_tables(db: Database) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with db.engine.begin() as connection:
        # the append-only triggers also refuse TRUNCATE: the table owner lifts them briefly
        for table in APPEND_ONLY_TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for table in APPEND_ONLY_TABLES:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        db = Database(make_engine(f"sqlite:///{path}"))
        try:
            yield db
        finally:
            db.dispose()
        return
    _postgres_url()  # skip or fail before touching the session fixture
    shared: Database = request.getfixturevalue("_postgres_database")
    _empty_tables(shared)
    yield shared


@dataclass(frozen=True)
class Actors:
    admin: User
    pharmacologist: User
    clinician: User
    viewer: User


@pytest.fixture
def actors(database: Database) -> Actors:
    """One account per role."""
    with database.transaction() as session:
        admin = create_first_admin(
            session, username="admin", password=PASSWORD, full_name="Ada Admin"
        )
        others = {
            role: create_user(
                session,
                username=role.value,
                password=PASSWORD,
                role=role,
                full_name=f"{role.value.title()} User",
                actor=admin,
            )
            for role in (Role.PHARMACOLOGIST, Role.CLINICIAN, Role.VIEWER)
        }
    return Actors(
        admin=admin,
        pharmacologist=others[Role.PHARMACOLOGIST],
        clinician=others[Role.CLINICIAN],
        viewer=others[Role.VIEWER],
    )


@pytest.fixture(scope="session")
def demo_case() -> Case:
    return load_demo_case("demo-001")


def changed_case(case: Case, concentration: float) -> Case:
    """``case`` with its first sample's concentration replaced (a different, valid case)."""
    data: dict[str, Any] = case.model_dump(mode="json")
    data["samples"][0]["concentration"] = concentration
    return parse_case(data)


PATIENT_FIELDS: dict[str, Any] = {
    "mrn": "MRN-0001",
    "family_name": "Muster",
    "given_name": "Anna",
    "birth_date": "1970-04-02",
    "sex": "female",
    "indication": "GIST",
}


def add_patient(database: Database, actor: User, **changes: Any) -> Patient:
    """Create a patient in its own transaction."""
    with database.transaction() as session:
        return create_patient(session, actor=actor, **{**PATIENT_FIELDS, **changes})


@dataclass(frozen=True)
class Workflow:
    """Ids of a patient with one episode, interpreted, ready for a report."""

    patient_id: int
    episode_id: int
    interpretation_id: int


INTERPRETATION_RESULT: dict[str, Any] = {
    "status": "subtherapeutic",
    "trough_ng_per_ml": {"value": 854.0, "lower": 608.2, "upper": 1357.2},
    "findings": [{"code": "interaction_decreases", "severity": "warning"}],
    "missing": None,
}


def interpreted_episode(database: Database, actors: Actors, case: Case, **patient: Any) -> Workflow:
    """Create a patient, an episode with ``case`` and an interpretation of it."""
    created = add_patient(database, actors.clinician, **patient)
    with database.transaction() as session:
        episode = create_episode(
            session, created.id, actor=actors.clinician, case=case, label="First trough"
        )
        stored = save_interpretation(
            session,
            episode.id,
            actor=actors.clinician,
            model_id="widmer2006_covariate",
            result=INTERPRETATION_RESULT,
        )
    return Workflow(patient_id=created.id, episode_id=episode.id, interpretation_id=stored.id)


def issue_first_report(database: Database, actors: Actors, flow: Workflow) -> int:
    """Issue version 1 for ``flow``; returns the report id."""
    with database.transaction() as session:
        report = issue_report(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            interpretation_id=flow.interpretation_id,
            html="<h1>TDM report</h1>",
            pdf=FAKE_PDF,
            validator_name="Dr. P. Pharmacologist",
        )
    return report.id
