"""Episode pages that lose nothing and explain failures: the form has as many rows as the case
needs (a case with more samples and regimens than the empty form shows is edited without losing
any; "More rows" adds empty rows without saving), and an interpretation that cannot run is
explained on the episode page instead of the generic error page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from .conftest import demo_case_json

Client = Callable[[str], TestClient]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def _form_fields(page: str) -> dict[str, str]:
    """The named inputs of a rendered form with their values (selects: the selected option)."""
    fields = dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', page))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        fields[name] = chosen.group(1) if chosen else ""
    return fields


def _long_case() -> dict[str, Any]:
    case = demo_case_json()
    first = case["doses"][0]
    case["doses"] = [
        {**first, "time": f"2026-0{m}-01T08:00", "count": 28, "amount_mg": dose}
        for m, dose in zip(range(4, 10), (400, 400, 600, 600, 400, 400), strict=True)
    ]
    case["samples"] = [
        {"id": f"S{k}", "time": f"2026-{m:02d}-29T07:30", "concentration": 800 + 50 * k,
         "unit": "ng/mL", "lloq": 50}
        for k, m in enumerate(range(4, 10), start=1)
    ]  # fmt: skip
    return case


def test_editing_a_long_case_keeps_every_row(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    client = client_as("clinician")
    created = client.post(
        f"/api/patients/{patient_id}/episodes", json={"label": "long", "case": _long_case()}
    )
    assert created.status_code == 201, created.text
    episode_id = created.json()["id"]
    page = client.get(f"/episodes/{episode_id}/edit").text
    fields = _form_fields(page)
    assert fields["samples[5].concentration"] == "1100" and fields["doses[5].amount_mg"] == "400"
    assert "samples[6].concentration" in fields  # one empty row after the last one
    saved = client.post(f"/episodes/{episode_id}/edit", data=fields, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    case = client.get(f"/api/patients/{patient_id}/episodes/{episode_id}").json()["case"]
    assert len(case["samples"]) == 6 and len(case["doses"]) == 6
    assert [s["concentration"] for s in case["samples"]] == [850, 900, 950, 1000, 1050, 1100]


def test_more_rows_adds_rows_and_saves_nothing(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    client = client_as("clinician")
    before = client.get(f"/api/patients/{patient_id}/episodes").json()
    page = client.get(f"/patients/{patient_id}/episodes/new").text
    assert "samples[2].concentration" in page and "samples[3].concentration" not in page
    form = {"csrf_token": _csrf(page), "samples[0].concentration": "950", "more_rows": "1"}
    more = client.post(f"/patients/{patient_id}/episodes/new", data=form)
    assert more.status_code == 200
    assert "samples[5].concentration" in more.text and 'value="950"' in more.text
    assert client.get(f"/api/patients/{patient_id}/episodes").json() == before


def test_a_form_with_too_many_rows_is_refused_with_a_message(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, _ = patient_with_episode
    client = client_as("clinician")
    page = client.get(f"/patients/{patient_id}/episodes/new").text
    form = {"csrf_token": _csrf(page), "samples[900].concentration": "950"}
    answer = client.post(f"/patients/{patient_id}/episodes/new", data=form)
    assert answer.status_code == 422
    assert "at most 500 rows" in answer.text


def test_an_interpretation_that_cannot_run_is_explained_on_the_episode_page(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    _, episode_id = patient_with_episode
    client = client_as("clinician")
    page = client.get(f"/episodes/{episode_id}").text
    # he2023 needs the eGFR, which the demo case does not give
    answer = client.post(
        f"/episodes/{episode_id}/interpret", data={"csrf_token": _csrf(page), "model": "he2023"}
    )
    assert answer.status_code == 422
    assert 'id="interpret-error"' in answer.text and "egfr" in answer.text
    assert 'id="interpret-button"' in answer.text  # the page itself, not the error page
