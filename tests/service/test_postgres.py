"""The API workflow on PostgreSQL (JSONB results, binary PDFs, audit), in a schema of its own.

The server comes from ``IMATINIB_TDM_TEST_POSTGRES_URL`` (``scripts/pg-test-server start``, run
by ``.ci/run``). Outside CI the test is skipped, with the reason, when it is not set; in CI it
fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from imatinib_tdm.service import Settings, create_app
from imatinib_tdm.store import list_events

from .conftest import add_accounts, demo_case_json, log_in, postgres_schema_url

POSTGRES_URL_ENV = "IMATINIB_TDM_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_app() -> Iterator[FastAPI]:
    with postgres_schema_url("svc") as url:
        app = create_app(Settings(database_url=url, secret_key=secrets.token_urlsafe(48)))
        try:
            add_accounts(app)
            yield app
        finally:
            app.state.database.dispose()


def test_workflow_on_postgresql(postgres_app: FastAPI) -> None:
    clinician = log_in(postgres_app, "clinician")
    pharmacologist = log_in(postgres_app, "pharmacologist")
    patient = clinician.post(
        "/api/patients",
        json={"mrn": "PG-1", "family_name": "Öztürk", "given_name": "Ayşe", "sex": "female"},
    )
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    assert clinician.get("/api/patients", params={"search": "ozturk"}).json()["total"] == 1
    base = f"/api/patients/{patient_id}/episodes"
    episode = clinician.post(base, json={"label": "pg", "case": demo_case_json()})
    assert episode.status_code == 201, episode.text
    episode_id = episode.json()["id"]
    assert clinician.post(f"{base}/{episode_id}/interpretations", json={}).status_code == 201
    report = pharmacologist.post(f"/api/episodes/{episode_id}/reports", json={})
    assert report.status_code == 201, report.text
    pdf = pharmacologist.get(report.json()["pdf_url"])
    assert pdf.content.startswith(b"%PDF-")
    page = pharmacologist.get(f"/episodes/{episode_id}")
    assert page.status_code == 200 and 'id="interpretation-plot-data"' in page.text
    with postgres_app.state.database.transaction() as session:
        actions = {e.action for e in list_events(session, patient_id=patient_id, limit=100)}
    assert {"create", "view", "interpret", "issue", "download"} <= actions
