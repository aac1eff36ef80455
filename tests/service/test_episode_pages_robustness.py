"""Episode pages that lose nothing and explain failures: the form has as many rows as the case
needs (a case with more samples and regimens than the empty form shows is edited without losing
any; "More rows" adds empty rows without saving), and an interpretation that cannot run is
explained on the episode page instead of the generic error page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
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


# --- stored cases that cannot be interpreted (issue 12) ----------------------------------------


def _hours_case(dose_mg: float, sample_h: float) -> dict[str, Any]:
    """A case in hours since the first dose, with the given numbers (valid or not)."""
    case = demo_case_json()
    case["doses"] = [{"time": 0.0, "amount_mg": dose_mg, "interval_h": 24.0, "count": 10}]
    case["samples"] = [
        {"id": "S1", "time": sample_h, "concentration": 900.0, "unit": "ng/mL", "lloq": 50.0}
    ]
    return case


HOSTILE_STORED_CASES = {
    "tiny dose": _hours_case(1e-300, 215.0),
    "far sample": _hours_case(400.0, 1e12),
    "negative far sample": _hours_case(400.0, -1e12),
    "clock times far apart": {
        **demo_case_json(),
        "doses": [
            {"time": "0001-01-01T08:00:00", "amount_mg": 400.0, "interval_h": 24.0, "count": 10}
        ],
        "samples": [
            {"id": "S1", "time": "9999-12-31T07:30:00", "concentration": 900.0, "unit": "ng/mL"}
        ],
    },
    "not a case": {"format_version": 1, "nonsense": True},
}


def _store_raw_case(app: Any, episode_id: int, case_json: dict[str, Any]) -> None:
    """Write ``case_json`` into the episode as it is, bypassing validation (a case stored
    before the range checks, or by an older version)."""
    from imatinib_tdm.store import Episode

    with app.state.database.transaction() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        episode.case_json = case_json


@pytest.mark.parametrize("name", sorted(HOSTILE_STORED_CASES))
def test_a_stored_case_that_cannot_be_interpreted_is_explained_on_its_pages(
    app: Any, client_as: Client, patient_with_episode: tuple[int, int], name: str
) -> None:
    patient_id, episode_id = patient_with_episode
    _store_raw_case(app, episode_id, HOSTILE_STORED_CASES[name])
    clinician = client_as("clinician")
    page = clinician.get(f"/episodes/{episode_id}")
    assert page.status_code == 200, (name, page.status_code)
    assert 'id="interpret-button"' in page.text  # the episode page itself
    token = _csrf(page.text)
    interpreted = clinician.post(
        f"/episodes/{episode_id}/interpret",
        data={"csrf_token": token, "model": "widmer2006_base"},
        follow_redirects=False,
    )
    assert interpreted.status_code == 422, (name, interpreted.status_code)
    assert (
        'id="interpret-error"' in interpreted.text and 'id="interpret-button"' in interpreted.text
    )
    assert "could not be interpreted" in interpreted.text
    for url in (
        f"/episodes/{episode_id}/whatif",
        f"/episodes/{episode_id}/edit",
        f"/patients/{patient_id}",
        f"/episodes/{episode_id}/report/preview",
    ):
        answer = clinician.get(url)
        assert answer.status_code < 500, (name, url, answer.status_code)
    whatif = clinician.get(f"/episodes/{episode_id}/whatif")
    assert whatif.status_code == 200 and 'role="alert"' in whatif.text
    patient_page = clinician.get(f"/patients/{patient_id}")
    assert patient_page.status_code == 200 and "First trough" in patient_page.text
    # a pharmacologist cannot issue a report on it either, and is told why
    pharmacologist = client_as("pharmacologist")
    page = pharmacologist.get(f"/episodes/{episode_id}")
    assert page.status_code == 200
    issued = pharmacologist.post(
        f"/episodes/{episode_id}/reports",
        data={"csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert 400 <= issued.status_code < 500, (name, issued.status_code)


def test_a_stored_interpretation_that_no_longer_recomputes_is_explained(
    app: Any, client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    from imatinib_tdm.store import get_user_by_username, save_interpretation

    _, episode_id = patient_with_episode
    # an interpretation stored on a case that the engine can no longer compute (interpretations
    # are append-only: it is filed as an older version would have filed it)
    _store_raw_case(app, episode_id, HOSTILE_STORED_CASES["tiny dose"])
    with app.state.database.transaction() as session:
        actor = get_user_by_username(session, "clinician")
        assert actor is not None
        save_interpretation(
            session, episode_id, actor=actor, model_id="widmer2006_base", result={"status": "ok"}
        )
    for role in ("clinician", "pharmacologist", "viewer"):
        page = client_as(role).get(f"/episodes/{episode_id}")
        assert page.status_code == 200, (role, page.status_code)
        # the case itself is refused by the range checks (case-error), or reads and only the
        # recomputation fails (interpret-error)
        assert 'id="interpret-error"' in page.text or 'id="case-error"' in page.text
        assert 'id="interpretation-unavailable"' in page.text
        preview = client_as(role).get(f"/episodes/{episode_id}/report/preview")
        assert 400 <= preview.status_code < 500


def test_an_engine_failure_is_explained_on_the_pages_without_its_values(
    client_as: Client,
    patient_with_episode: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from imatinib_tdm.service import workflows

    _, episode_id = patient_with_episode
    clinician = client_as("clinician")
    token = _csrf(clinician.get(f"/episodes/{episode_id}").text)
    assert (
        clinician.post(
            f"/episodes/{episode_id}/interpret",
            data={"csrf_token": token, "model": "widmer2006_base"},
            follow_redirects=False,
        ).status_code
        == 303
    )

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("Probabilities contain NaN (value 820.0 of Muster)")

    # what numpy raised on a 1e-300 mg dose before the range checks
    monkeypatch.setattr(workflows, "interpret_case", failing)
    monkeypatch.setattr(workflows, "interpret_auto", failing)
    page = clinician.get(f"/episodes/{episode_id}")
    assert page.status_code == 200
    assert 'id="interpret-error"' in page.text and "computation failed" in page.text
    assert 'id="interpretation-unavailable"' in page.text
    answer = clinician.post(
        f"/episodes/{episode_id}/interpret", data={"csrf_token": token, "model": "auto"}
    )
    assert answer.status_code == 422 and "computation failed" in answer.text
    assert "Muster" not in caplog.text and "820" not in caplog.text
    pharmacologist = client_as("pharmacologist")
    page = pharmacologist.get(f"/episodes/{episode_id}")
    assert 'id="issue-report"' not in page.text  # nothing shown, nothing to validate
    issued = pharmacologist.post(
        f"/episodes/{episode_id}/reports", data={"csrf_token": _csrf(page.text)}
    )
    assert issued.status_code == 422 and "computation failed" in issued.text
    preview = pharmacologist.get(f"/episodes/{episode_id}/report/preview")
    assert preview.status_code == 422


@pytest.mark.parametrize("revision", ["9" * 5000, "²", "-1", "1.0", "", "1e3", "٣"])
def test_a_hostile_expected_revision_in_the_edit_form_is_refused_with_a_message(
    client_as: Client, patient_with_episode: tuple[int, int], revision: str
) -> None:
    _, episode_id = patient_with_episode
    client = client_as("clinician")
    page = client.get(f"/episodes/{episode_id}/edit").text
    form = {**_form_fields(page), "expected_revision": revision}
    answer = client.post(f"/episodes/{episode_id}/edit", data=form)
    assert answer.status_code in (409, 422), (revision[:10], answer.status_code)
    assert 'id="error-summary"' in answer.text
    assert (
        client.get(f"/api/patients/{patient_with_episode[0]}/episodes/{episode_id}").json()[
            "revision"
        ]
        == 1
    )  # nothing saved


_HOSTILE_NUMBERS = ("nan", "-Infinity", "1e308", "-1e308", "1e-300", "-0", "9" * 5000, "0x10",
                    "1_0", "²", "1e12")  # fmt: skip


def test_hostile_numbers_in_the_episode_form_give_field_errors_never_a_500(
    client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    _, episode_id = patient_with_episode
    client = client_as("clinician")
    page = client.get(f"/episodes/{episode_id}/edit").text
    fields = _form_fields(page)
    numeric = [
        name
        for name in re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?type="(?:number)"', page)
        if name.startswith(("patient.", "doses[0]", "samples[0]", "covariates."))
    ]
    assert len(numeric) >= 10
    for name in numeric:
        for value in _HOSTILE_NUMBERS:
            answer = client.post(
                f"/episodes/{episode_id}/edit", data={**fields, name: value}, follow_redirects=False
            )
            assert answer.status_code in (303, 422), (name, value[:12], answer.status_code)
            if answer.status_code == 303:  # accepted (e.g. -0 for a lab): the next edit
                fields = _form_fields(client.get(f"/episodes/{episode_id}/edit").text)
                assert client.get(f"/episodes/{episode_id}").status_code == 200
    for value in ("0001-01-01T00:00", "9999-12-31T23:59", "2026-02-30T08:00", "nan"):
        answer = client.post(
            f"/episodes/{episode_id}/edit",
            data={**fields, "samples[0].time": value},
            follow_redirects=False,
        )
        assert answer.status_code < 500, (value, answer.status_code)
