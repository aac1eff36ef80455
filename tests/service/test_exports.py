"""``GET /api/exports/nonmem``: the centre's episodes as one NONMEM dataset, for pharmacologists
and administrators, without identifiers, audited, and readable by the evaluation."""

from __future__ import annotations

import io
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.io import read_nonmem_dataset
from imatinib_tdm.pk import RecordKind
from imatinib_tdm.store import list_events


def test_pharmacologist_exports_a_dataset_without_identifiers(
    app: FastAPI,
    client_as: Callable[[str], TestClient],
    patient_with_episode: tuple[int, int],
) -> None:
    answer = client_as("pharmacologist").get("/api/exports/nonmem")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    text = answer.text
    assert text.startswith("ID,TIME,EVID,AMT,CMT")
    for identifier in ("MRN-0001", "Muster", "Erika", "1972"):
        assert identifier not in text
    table = read_nonmem_dataset(io.StringIO(text), dv_unit="ng/mL", covariates=["weight_kg"])
    assert table.ids == ("1",)
    assert int((table.kind == RecordKind.OBSERVATION).sum()) == 1  # the demo case's level
    with app.state.database.read() as session:
        exports = [e for e in list_events(session, limit=50) if e.action == "export"]
    assert exports and exports[0].entity_type == "dataset"
    assert exports[0].detail["n_subjects"] == 1


def test_only_pharmacologists_and_admins_export(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    assert client_as("viewer").get("/api/exports/nonmem").status_code == 403
    assert client_as("clinician").get("/api/exports/nonmem").status_code == 403
    assert client_as("admin").get("/api/exports/nonmem").status_code == 200


def test_nothing_to_export_is_a_clear_error(client_as: Callable[[str], TestClient]) -> None:
    answer = client_as("pharmacologist").get("/api/exports/nonmem")
    assert answer.status_code == 422
    assert "no episode with a level" in answer.text
