"""JSON API: stateless endpoints (interpret, what-if, simulate, models, co-medications) and the
patient / episode / report workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Client = Callable[[str], TestClient]


def test_health_answers_without_login(anonymous: TestClient) -> None:
    answer = anonymous.get("/api/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_interpret_returns_the_interpretation(client_as: Client, case_json: dict[str, Any]) -> None:
    answer = client_as("viewer").post("/api/interpret", json={"case": case_json})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["patient_id"] == "demo-001"
    assert result["status"] in {"subtherapeutic", "therapeutic", "supratherapeutic", "toxic"} or (
        isinstance(result["status"], str)
    )
    assert result["model"]["id"] == "widmer2006_covariate"
    assert result["target_ng_per_ml"] > 0
    assert result["findings"] and "notice" in result


def test_interpret_with_another_model(client_as: Client, case_json: dict[str, Any]) -> None:
    answer = client_as("viewer").post(
        "/api/interpret", json={"case": case_json, "model": "widmer2006_base"}
    )
    assert answer.status_code == 200
    assert answer.json()["model"]["id"] == "widmer2006_base"


def test_invalid_case_is_422_naming_the_field(client_as: Client, case_json: dict[str, Any]) -> None:
    case_json["samples"][0]["unit"] = "furlongs"
    case_json["doses"][0]["amount_mg"] = -5
    answer = client_as("viewer").post("/api/interpret", json={"case": case_json})
    assert answer.status_code == 422
    locs = [tuple(d["loc"]) for d in answer.json()["detail"]]
    assert ("case", "samples", 0, "unit") in locs
    assert ("case", "doses", 0, "amount_mg") in locs


def test_unknown_model_is_422_on_model(client_as: Client, case_json: dict[str, Any]) -> None:
    answer = client_as("viewer").post("/api/interpret", json={"case": case_json, "model": "x1"})
    assert answer.status_code == 422
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["model"] and "x1" in detail["msg"]


def test_schema_violations_are_refused(client_as: Client, case_json: dict[str, Any]) -> None:
    client = client_as("viewer")
    # strict request models: no string-to-number coercion, no unknown fields
    assert client.post("/api/interpret", json={"case": case_json, "seed": "1"}).status_code == 422
    assert client.post("/api/interpret", json={"case": case_json, "x": 1}).status_code == 422
    assert client.post("/api/interpret", json={"case": []}).status_code == 422
    bad_json = client.post(
        "/api/interpret", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code in (400, 422)


def test_what_if_lists_allowed_regimens(client_as: Client, case_json: dict[str, Any]) -> None:
    client = client_as("viewer")
    answer = client.post("/api/whatif", json={"case": case_json})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["table"]["rows"]
    assert len(rows) >= 3
    assert all(0.0 <= r["probability_target_attained"] <= 1.0 for r in rows)
    chosen = client.post(
        "/api/whatif",
        json={"case": case_json, "regimens": [{"dose_mg": 600, "interval_h": 24}]},
    )
    assert chosen.status_code == 200
    assert [r["regimen"]["dose_mg"] for r in chosen.json()["table"]["rows"]] == [600]


def test_what_if_refuses_a_dose_that_cannot_be_taken(
    client_as: Client, case_json: dict[str, Any]
) -> None:
    answer = client_as("viewer").post(
        "/api/whatif", json={"case": case_json, "regimens": [{"dose_mg": 437, "interval_h": 24}]}
    )
    assert answer.status_code == 422
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["regimens", 0]
    assert "not an allowed regimen" in detail["msg"]


def test_simulate_typical_profile(client_as: Client) -> None:
    answer = client_as("viewer").post(
        "/api/simulate",
        json={"model": "widmer2006_base", "dose_mg": 400, "interval_h": 24, "n_doses": 10,
              "times_h": [1, 2, 24]},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["concentration_ng_per_ml"]) == 3
    assert all(c > 0 for c in body["concentration_ng_per_ml"])


def test_simulate_missing_covariates_is_422(client_as: Client) -> None:
    answer = client_as("viewer").post("/api/simulate", json={"model": "widmer2006_covariate"})
    assert answer.status_code == 422
    assert "weight_kg" in answer.json()["detail"][0]["msg"]


def test_model_library(client_as: Client) -> None:
    client = client_as("viewer")
    models = client.get("/api/models").json()
    assert any(m["id"] == "widmer2006_covariate" and m["citation"] for m in models)
    detail = client.get("/api/models/schmidli2005")
    assert detail.status_code == 200 and detail.json()["thetas"]
    assert client.get("/api/models/nosuchmodel").status_code == 404


def test_comedication_autocomplete(client_as: Client) -> None:
    body = client_as("viewer").get("/api/comedications", params={"q": "rifa"}).json()
    assert "rifampicin" in body["names"]
    assert body["match"] is None
    exact = client_as("viewer").get("/api/comedications", params={"q": "Rifadin"}).json()
    assert exact["match"]["id"] == "rifampicin"


def test_patient_crud_and_search(client_as: Client) -> None:
    clinician = client_as("clinician")
    created = clinician.post(
        "/api/patients",
        json={"mrn": "A-1", "family_name": "Müller", "given_name": "Jörg", "sex": "male",
              "indication": "CML"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    duplicate = clinician.post(
        "/api/patients", json={"mrn": "A-1", "family_name": "X", "given_name": "Y"}
    )
    assert duplicate.status_code == 409
    assert clinician.get(f"/api/patients/{patient_id}").json()["family_name"] == "Müller"
    found = clinician.get("/api/patients", params={"search": "muller"}).json()
    assert found["total"] == 1 and found["items"][0]["id"] == patient_id
    changed = clinician.patch(f"/api/patients/{patient_id}", json={"given_name": "Jorg"})
    assert changed.status_code == 200 and changed.json()["given_name"] == "Jorg"
    archived = clinician.post(f"/api/patients/{patient_id}/archive")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert clinician.get("/api/patients").json()["total"] == 0
    assert clinician.get("/api/patients/999999").status_code == 404


def test_episode_update_detects_a_stale_revision(
    client_as: Client, patient_with_episode: tuple[int, int], case_json: dict[str, Any]
) -> None:
    patient_id, episode_id = patient_with_episode
    clinician = client_as("clinician")
    url = f"/api/patients/{patient_id}/episodes/{episode_id}"
    episode = clinician.get(url).json()
    case_json["notes"] = "sample confirmed with the ward"
    saved = clinician.put(url, json={"case": case_json, "expected_revision": episode["revision"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == episode["revision"] + 1
    stale = clinician.put(url, json={"case": case_json, "expected_revision": episode["revision"]})
    assert stale.status_code == 409
    assert clinician.get(f"/api/patients/{patient_id + 1}/episodes/{episode_id}").status_code == 404


def test_interpret_issue_download_and_correct_a_report(
    client_as: Client, patient_with_episode: tuple[int, int], case_json: dict[str, Any]
) -> None:
    patient_id, episode_id = patient_with_episode
    clinician = client_as("clinician")
    pharmacologist = client_as("pharmacologist")
    base = f"/api/patients/{patient_id}/episodes/{episode_id}"
    interpreted = clinician.post(base + "/interpretations", json={})
    assert interpreted.status_code == 201, interpreted.text
    assert clinician.get(base + "/interpretations/latest").json()["model_id"]
    issued = pharmacologist.post(f"/api/episodes/{episode_id}/reports", json={})
    assert issued.status_code == 201, issued.text
    report = issued.json()
    assert report["version"] == 1 and report["validator_name"] == "Dr. Paul Pharmacologist"
    pdf = client_as("viewer").get(report["pdf_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    html = client_as("viewer").get(report["html_url"]).text
    assert "Dr. Paul Pharmacologist" in html and "MRN-0001" in html
    # the data of a reported episode can only be amended with a reason, then re-reported
    revision = clinician.get(base).json()["revision"]
    blocked = clinician.put(base, json={"case": case_json, "expected_revision": revision})
    assert blocked.status_code == 409
    amended = clinician.put(
        base,
        json={"case": case_json, "reason": "sample time corrected", "expected_revision": revision},
    )
    assert amended.status_code == 200, amended.text
    assert clinician.post(base + "/interpretations", json={}).status_code == 201
    corrected = pharmacologist.post(
        f"/api/episodes/{episode_id}/reports", json={"reason": "sample time corrected"}
    )
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["version"] == 2 and corrected.json()["supersedes_id"] == report["id"]
    versions = pharmacologist.get(f"/api/episodes/{episode_id}/reports").json()
    assert [v["version"] for v in versions] == [1, 2]


def test_interpret_with_model_auto_states_the_choice(
    client_as: Client, case_json: dict[str, Any]
) -> None:
    answer = client_as("viewer").post("/api/interpret", json={"case": case_json, "model": "auto"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["assumptions"][0].startswith("--model auto:")
    assert body["model"]["id"] in body["assumptions"][0]


def test_episode_interpreted_with_model_auto_files_the_chosen_model(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, episode_id = patient_with_episode
    answer = client_as("clinician").post(
        f"/api/patients/{patient_id}/episodes/{episode_id}/interpretations", json={"model": "auto"}
    )
    assert answer.status_code == 201, answer.text
    result = answer.json()["result"]
    assert result["model"]["id"] != "auto"
    assert result["assumptions"][0].startswith("--model auto:")
