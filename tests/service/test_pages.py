"""Server-rendered pages: log-in form, patient and episode forms (errors kept next to the
fields, nothing typed lost), episode page with interpretation and plot, what-if, models."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from .conftest import PASSWORD

Client = Callable[[str], TestClient]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the form"
    return match.group(1)


def test_login_form(app: FastAPI) -> None:
    browser = TestClient(app, follow_redirects=False)
    page = browser.get("/login").text
    wrong = browser.post(
        "/login", data={"username": "clinician", "password": "x" * 12, "csrf_token": _csrf(page)}
    )
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    right = browser.post(
        "/login",
        data={"username": "clinician", "password": PASSWORD, "csrf_token": _csrf(wrong.text)},
    )
    assert right.status_code == 303 and right.headers["location"] == "/patients"
    assert browser.get("/patients").status_code == 200


def test_new_patient_form_keeps_input_on_error(client_as: Client) -> None:
    client = client_as("clinician")
    token = _csrf(client.get("/patients/new").text)
    form = {"mrn": "P-9", "family_name": "Rossi", "given_name": "", "birth_date": "2999-01-01",
            "sex": "female", "indication": "CML", "csrf_token": token}  # fmt: skip
    answer = client.post("/patients/new", data=form, follow_redirects=False)
    assert answer.status_code == 422
    assert 'value="Rossi"' in answer.text and 'value="P-9"' in answer.text
    assert 'class="error"' in answer.text
    form["given_name"] = "Maria"
    form["birth_date"] = "1960-05-06"
    created = client.post("/patients/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    patient_page = client.get(created.headers["location"]).text
    assert "Rossi" in patient_page and "New episode" in patient_page


def _episode_form(token: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "label": "Trough on 400 mg",
        "patient.age_years": "61",
        "patient.weight_kg": "70",
        "patient.height_cm": "172",
        "patient.metastatic_site": "liver",
        "doses[0].time": "2026-09-01T08:00",
        "doses[0].amount_mg": "400",
        "doses[0].interval_h": "24",
        "doses[0].count": "60",
        "samples[0].id": "S1",
        "samples[0].time": "2026-10-30T07:45",
        "samples[0].concentration": "950",
        "samples[0].unit": "ng/mL",
        "samples[0].lloq": "50",
        "comedications[0].name": "omeprazole",
        "covariates.agp_g_per_l": "1.0",
    }


def test_episode_form_errors_keep_everything_typed(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    client = client_as("clinician")
    page = client.get(f"/patients/{patient_id}/episodes/new").text
    assert 'list="drug-names"' in page and '<option value="rifampicin">' in page
    form = _episode_form(_csrf(page))
    # a dose in the middle row, a wrong number and a sample before the first dose
    form["doses[2].time"] = form.pop("doses[0].time")
    form["doses[2].amount_mg"] = "four hundred"
    form["doses[2].interval_h"] = form.pop("doses[0].interval_h")
    form["doses[2].count"] = form.pop("doses[0].count")
    form.pop("doses[0].amount_mg")
    answer = client.post(f"/patients/{patient_id}/episodes/new", data=form)
    assert answer.status_code == 422
    assert 'id="doses-2-amount_mg-error"' in answer.text  # the error sits at the typed row
    for value in ("four hundred", "2026-10-30T07:45", "omeprazole", "Trough on 400 mg", "1.0"):
        assert f'value="{value}"' in answer.text, value


def test_episode_form_saves_interprets_and_shows_the_plot(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    client = client_as("pharmacologist")
    token = _csrf(client.get(f"/patients/{patient_id}/episodes/new").text)
    saved = client.post(
        f"/patients/{patient_id}/episodes/new", data=_episode_form(token), follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    episode_url = saved.headers["location"]
    episode_id = int(episode_url.rsplit("/", 1)[1])
    assert "Not interpreted yet" in client.get(episode_url).text
    interpreted = client.post(
        f"/episodes/{episode_id}/interpret",
        data={"csrf_token": token, "model": "widmer2006_covariate"},
        follow_redirects=False,
    )
    assert interpreted.status_code == 303
    page = client.get(episode_url).text
    assert "Dose advice" in page and "omeprazole" in page
    figure = json.loads(
        re.search(r'id="interpretation-plot-data">(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    )
    names = [trace["name"] for trace in figure["data"]]
    assert "individual prediction" in names and "measured" in names
    assert any(n.startswith("target") for n in names)
    assert "/vendor/plotly.min.js" in page
    # patient page: levels and doses over time
    history = client.get(f"/patients/{patient_id}").text
    assert 'id="history-plot-data"' in history
    # edit form is filled with the stored case
    edit = client.get(f"/episodes/{episode_id}/edit").text
    assert 'value="950"' in edit and 'value="2026-09-01T08:00"' in edit
    assert '<option value="liver" selected' in edit
    preview = client.get(f"/episodes/{episode_id}/report/preview")
    assert preview.status_code == 200 and "DRAFT" in preview.text.upper()
    issued = client.post(
        f"/episodes/{episode_id}/reports", data={"csrf_token": token}, follow_redirects=False
    )
    assert issued.status_code == 303
    assert "/api/reports/" in client.get(episode_url).text


def test_what_if_and_library_pages(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    _, episode_id = patient_with_episode
    client = client_as("viewer")
    what_if = client.get(f"/episodes/{episode_id}/whatif")
    assert what_if.status_code == 200 and 'id="whatif-table"' in what_if.text
    assert "mg every 24 h" in what_if.text
    models = client.get("/models").text
    assert "widmer2006_covariate" in models and "doi:" in models
    assert "typical values" in client.get("/models/schmidli2005").text.lower()
    assert client.get("/models/unknown").status_code == 404
    simulated = client.get(
        "/simulate", params={"model": "widmer2006_base", "dose_mg": "400", "interval_h": "24",
                             "n_doses": "10"},
    )  # fmt: skip
    assert 'id="simulate-plot-data"' in simulated.text
    bad = client.get("/simulate", params={"dose_mg": "lots"})
    assert "enter a number" in bad.text


def test_plotly_bundle_is_served_locally(anonymous: TestClient) -> None:
    bundle = anonymous.get("/vendor/plotly.min.js")
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000
    assert anonymous.get("/static/app.css").status_code == 200
    assert anonymous.get("/static/plots.js").status_code == 200


def test_a_second_patient_with_the_same_names_and_birth_date_needs_a_confirmation(
    client_as: Callable[[str], TestClient],
) -> None:
    clinician = client_as("clinician")
    token = clinician.headers["X-CSRF-Token"]
    form = {
        "csrf_token": token,
        "mrn": "TWIN-1",
        "family_name": "Gemini",
        "given_name": "Castor",
        "birth_date": "1990-06-01",
        "sex": "male",
        "indication": "CML",
    }
    first = clinician.post("/patients/new", data=form, follow_redirects=False)
    assert first.status_code == 303
    first_id = int(first.headers["location"].rsplit("/", 1)[1])
    # the same person typed again (case and order of the names differ): asked, not created
    again = {**form, "mrn": "TWIN-2", "family_name": "CASTOR", "given_name": "gemini"}
    asked = clinician.post("/patients/new", data=again, follow_redirects=False)
    assert asked.status_code == 409
    assert f'href="/patients/{first_id}"' in asked.text and 'name="confirm_similar"' in asked.text
    assert clinician.get("/api/patients?search=TWIN-2").json()["total"] == 0
    confirmed = clinician.post(
        "/patients/new", data={**again, "confirm_similar": "yes"}, follow_redirects=False
    )
    assert confirmed.status_code == 303
    assert clinician.get("/api/patients?search=TWIN-2").json()["total"] == 1
