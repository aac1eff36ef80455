"""Export and import of one patient's whole record through the API."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_export_then_import_under_another_mrn(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    clinician = client_as("clinician")
    exported = clinician.get(f"/api/patients/{patient_id}/export")
    assert exported.status_code == 200, exported.text
    record = exported.json()
    assert record["format"] == "imatinib-tdm/patient-record"
    assert len(record["episodes"]) == 1
    # importing needs the role that issues reports (issue 12): a record carries reports
    imported = client_as("pharmacologist").post("/api/patients/import?mrn=MRN-COPY", json=record)
    assert imported.status_code == 201, imported.text
    copy_id = imported.json()["id"]
    again = clinician.get(f"/api/patients/{copy_id}/export").json()
    assert again["episodes"][0]["case"] == record["episodes"][0]["case"]


def test_import_of_a_broken_record_names_the_field(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    clinician = client_as("clinician")
    record = clinician.get(f"/api/patients/{patient_id}/export").json()
    record["episodes"][0]["case"]["doses"][0]["amount_mg"] = 4000
    answer = client_as("pharmacologist").post("/api/patients/import?mrn=MRN-BAD", json=record)
    assert answer.status_code == 422
    assert "amount_mg" in answer.text


def test_duplicate_mrn_is_a_conflict(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    clinician = client_as("clinician")
    record = clinician.get(f"/api/patients/{patient_id}/export").json()
    assert client_as("pharmacologist").post("/api/patients/import", json=record).status_code == 409


def test_viewer_may_not_export_and_anonymous_gets_nothing(
    client_as: Callable[[str], TestClient],
    anonymous: TestClient,
    patient_with_episode: tuple[int, int],
) -> None:
    patient_id, _ = patient_with_episode
    assert client_as("viewer").get(f"/api/patients/{patient_id}/export").status_code == 403
    answer = anonymous.get(f"/api/patients/{patient_id}/export")
    assert answer.status_code == 401
    assert "Muster" not in answer.text
