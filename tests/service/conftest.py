"""Fixtures of the service tests: an app on a fresh SQLite file, one account per role, and
logged-in test clients that send the CSRF header."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.service import Settings, create_app
from imatinib_tdm.store import create_first_admin, create_user, get_user_by_username

POSTGRES_URL_ENV = "IMATINIB_TDM_TEST_POSTGRES_URL"

# test accounts only: each run's database is a new temporary file
PASSWORD = "test-only-password-" + secrets.token_hex(4)
ROLES = ("viewer", "clinician", "pharmacologist", "admin")


def make_app(tmp_path: Path | None) -> FastAPI:
    """An app on a new SQLite database (in memory for None) with one account per role."""
    url = "sqlite://" if tmp_path is None else f"sqlite:///{tmp_path / 'service.sqlite3'}"
    app = create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(48)))
    add_accounts(app)
    return app


@contextmanager
def postgres_schema_url(prefix: str) -> Iterator[str]:
    """The URL of a new, empty schema on the test PostgreSQL server (``IMATINIB_TDM_TEST_
    POSTGRES_URL``), dropped afterwards. Unset: skipped with the reason, a failure in CI."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from imatinib_tdm.store import make_engine

    server_url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not server_url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_URL_ENV} is not set: in CI the service runs on PostgreSQL too")
        pytest.skip(f"PostgreSQL: set {POSTGRES_URL_ENV} (scripts/pg-test-server start)")
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
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


def add_accounts(app: FastAPI) -> None:
    """One account per role, username = role, password :data:`PASSWORD`."""
    with app.state.database.transaction() as session:
        admin = create_first_admin(
            session, username="admin", password=PASSWORD, full_name="Ada Admin"
        )
        for role, name in (
            ("viewer", "Vera Viewer"),
            ("clinician", "Clara Clinician"),
            ("pharmacologist", "Dr. Paul Pharmacologist"),
        ):
            create_user(
                session, username=role, password=PASSWORD, role=role, full_name=name, actor=admin
            )
        assert get_user_by_username(session, "viewer") is not None


def log_in(app: FastAPI, role: str) -> TestClient:
    """A test client logged in as ``role`` that sends its CSRF token on every request."""
    client = TestClient(app)
    answer = client.post("/api/auth/login", json={"username": role, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


@pytest.fixture(scope="session")
def _template_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the accounts, made once: hashing passwords is the slow part."""
    folder = tmp_path_factory.mktemp("template")
    make_app(folder).state.database.dispose()
    return folder / "service.sqlite3"


@pytest.fixture
def app(tmp_path: Path, _template_database: Path) -> Iterator[FastAPI]:
    """A fresh app on a copy of the template database (accounts of every role)."""
    shutil.copyfile(_template_database, tmp_path / "service.sqlite3")
    url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    application = create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(48)))
    yield application
    application.state.database.dispose()


@pytest.fixture
def client_as(app: FastAPI) -> Callable[[str], TestClient]:
    """``client_as("clinician")``: a logged-in client of that role."""
    return lambda role: log_in(app, role)


@pytest.fixture
def anonymous(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


def demo_case_json() -> dict[str, Any]:
    """The packaged demo case in its JSON form (one sample, GIST, rifampicin)."""
    data: dict[str, Any] = load_demo_case("demo-001").model_dump(mode="json")
    return data


@pytest.fixture
def case_json() -> dict[str, Any]:
    return demo_case_json()


@pytest.fixture
def patient_with_episode(client_as: Callable[[str], TestClient]) -> tuple[int, int]:
    """(patient id, episode id) of a patient created by a clinician, with the demo case."""
    clinician = client_as("clinician")
    patient = clinician.post(
        "/api/patients",
        json={
            "mrn": "MRN-0001",
            "family_name": "Muster",
            "given_name": "Erika",
            "birth_date": "1972-03-04",
            "sex": "female",
            "indication": "GIST",
        },
    )
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    episode = clinician.post(
        f"/api/patients/{patient_id}/episodes",
        json={"label": "First trough", "case": demo_case_json()},
    )
    assert episode.status_code == 201, episode.text
    return patient_id, episode.json()["id"]
