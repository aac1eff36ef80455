"""Issue 12 through the API: imported reports are never shown as validated here, importing
needs the role that issues reports, look-alike patients are refused or reported."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

PDF = b"%PDF-1.7\n% forged\n%%EOF\n"


def _forged_record(clinician: TestClient, patient_id: int) -> dict[str, Any]:
    """The patient's export with a report added by hand, 'validated' by a made-up name."""
    record: dict[str, Any] = clinician.get(f"/api/patients/{patient_id}/export").json()
    episode = record["episodes"][0]
    episode["status"] = "reported"
    episode["interpretations"] = [
        {
            "model_id": "widmer2006_covariate",
            "created_at": "2026-11-20T09:00:00Z",
            "software_version": "0",
            "case": episode["case"],
            "result": {"status": "therapeutic"},
        }
    ]
    episode["reports"] = [
        {
            "version": 1,
            "interpretation": 0,
            "issued_at": "2026-11-20T10:00:00Z",
            "validator_name": "Dr. Forged Validator",
            "html": "<p>Validated by Dr. Forged Validator</p>",
            "pdf_base64": base64.b64encode(PDF).decode(),
            "pdf_sha256": hashlib.sha256(PDF).hexdigest(),
        }
    ]
    return record


def test_a_clinician_may_not_import_reports(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    clinician = client_as("clinician")
    record = _forged_record(clinician, patient_id)
    answer = clinician.post("/api/patients/import?mrn=FORGED", json=record)
    assert answer.status_code == 403
    assert clinician.get("/api/patients?search=FORGED").json()["total"] == 0


def test_imported_reports_show_as_not_validated_here(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    pharmacologist = client_as("pharmacologist")
    record = _forged_record(pharmacologist, patient_id)
    answer = pharmacologist.post(
        "/api/patients/import", params={"mrn": "IMPORTED-1", "source": "Hospital B"}, json=record
    )
    assert answer.status_code == 201, answer.text
    copy_id = answer.json()["id"]
    episodes = pharmacologist.get(f"/api/patients/{copy_id}/episodes").json()
    episode_id = (episodes["items"] if isinstance(episodes, dict) else episodes)[0]["id"]
    page = pharmacologist.get(f"/episodes/{episode_id}")
    assert page.status_code == 200
    assert "Imported, not validated here" in page.text
    assert "imported from Hospital B on " in page.text
    assert "<td>Dr. Forged Validator</td>" not in page.text
    exported = pharmacologist.get(f"/api/patients/{copy_id}/export").json()
    provenance = exported["episodes"][0]["reports"][0]["imported_from"]
    assert "by pharmacologist" in provenance and provenance.endswith("not validated here")
    (report,) = pharmacologist.get(f"/api/episodes/{episode_id}/reports").json()
    assert report["validated_here"] is False and report["validator_name"] is None
    assert report["validation"].startswith("Imported, not validated here")
    assert report["imported_from"] == provenance
    html = pharmacologist.get(report["html_url"])
    assert html.status_code == 200
    assert "sandbox" in html.headers["content-security-policy"]


def test_reports_issued_here_are_validated_here_and_sandboxed(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, episode_id = patient_with_episode
    pharmacologist = client_as("pharmacologist")
    base = f"/api/patients/{patient_id}/episodes/{episode_id}"
    assert pharmacologist.post(f"{base}/interpretations", json={}).status_code == 201
    issued = pharmacologist.post(f"/api/episodes/{episode_id}/reports", json={})
    assert issued.status_code == 201, issued.text
    report = issued.json()
    assert report["validated_here"] is True and report["imported_from"] is None
    assert report["validator_name"] == report["validation"] == "Dr. Paul Pharmacologist"
    policy = pharmacologist.get(report["html_url"]).headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy


def test_look_alike_mrns_and_invisible_characters(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    clinician = client_as("clinician")
    base = {
        "family_name": "Other",
        "given_name": "Person",
        "birth_date": "1980-01-01",
        "sex": "male",
        "indication": "CML",
    }
    for mrn in ("mrn-0001", "MRN-0001\u200b", "ＭＲＮ－０００１"):
        answer = clinician.post("/api/patients", json={**base, "mrn": mrn})
        assert answer.status_code in (409, 422), (mrn, answer.text)
        assert "mrn" in answer.text
    answer = clinician.post(
        "/api/patients", json={**base, "mrn": "NEW-1", "family_name": "Ev\u202eil"}
    )
    assert answer.status_code == 422
    assert "family_name" in answer.text and "Ev" not in answer.text


def test_near_duplicates_are_accepted_with_a_warning(
    client_as: Callable[[str], TestClient], patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode  # Muster, Erika, 1972-03-04
    clinician = client_as("clinician")
    twin = {
        "mrn": "MRN-0002",
        "family_name": "MUSTER",
        "given_name": "erika",
        "birth_date": "1972-03-04",
        "sex": "female",
        "indication": "GIST",
    }
    answer = clinician.post("/api/patients", json=twin)
    assert answer.status_code == 201, answer.text
    (warning,) = answer.json()["warnings"]
    assert warning["code"] == "similar_patient" and warning["patient_ids"] == [patient_id]
    other = clinician.post("/api/patients", json={**twin, "mrn": "MRN-0003", "given_name": "Eva"})
    assert other.json()["warnings"] == []
    changed = clinician.patch(f"/api/patients/{other.json()['id']}", json={"given_name": "Erika"})
    assert changed.status_code == 200
    assert len(changed.json()["warnings"][0]["patient_ids"]) == 2
