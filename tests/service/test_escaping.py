"""Escaping of every server-rendered page (issue 12, critical): stored and reflected user text
carrying markup is shown as text, never as markup.

Every text field of a patient and of an episode's case carries hostile markup (tags, attribute-
breaking quotes, ``</script>``, ``<!--``, ``javascript:`` links, a ``<form>``); every page is then
fetched as a clinician and as a pharmacologist, with hostile reflected parameters (search, the
simulator, the what-if, forms shown again after an error, error pages), and no raw marker may
appear. The templates and the report templates are checked to be autoescaped whatever their
file extension, with no ``|safe`` left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import Markup

from imatinib_tdm.service.pages import rendering

from .conftest import PASSWORD, demo_case_json

Client = Callable[[str], TestClient]

# raw forms of the injected markup: none may appear in any page (matched case-insensitively:
# identifiers may be normalised to upper case)
RAW_MARKUP = re.compile(
    r"<b id=x-pwn|<img src=x|<form id=pwn|<script>pwn|<svg onload|onfocus=\"pwn"
    r"|<a href=\"?javascript:|<!--pwn|<iframe|<textarea>pwn",
    re.IGNORECASE,
)


_BREAK_OUTS = (
    "<form id=pwnform action=/episodes/1/reports>",
    '<a href="javascript:pwn()">x</a>',
    "<svg onload=pwn()>",
    "<iframe src=javascript:pwn()>",
)


def hostile(tag: str) -> str:
    """Markup for the field ``tag``: tag, quotes, ``</script>``, ``<!--`` and one more break-out
    (a form, a javascript: link, an SVG or an iframe, by tag) in at most 128 characters."""
    extra = _BREAK_OUTS[sum(map(ord, tag)) % len(_BREAK_OUTS)]
    text = f'<b id=x-PWN-{tag}>"onfocus="pwn()\'</script><!--pwn<img src=x onerror=pwn()>{extra}'
    assert len(text) <= 128, tag
    return text


def short_hostile(tag: str) -> str:
    """A shorter payload for fields of at most 64 characters (MRN, search)."""
    return f"<b id=x-PWN-{tag}>\"'<img src=x onerror=pwn()><!--pwn"


def assert_no_raw_markup(html: str, where: str) -> None:
    """Fail with the surrounding text when a raw marker appears in ``html``."""
    found = RAW_MARKUP.search(html)
    assert found is None, (
        f"{where}: raw markup {html[max(0, found.start() - 120) : found.end() + 80]!r}"
    )


def shown_as_text(tag: str) -> str:
    """How the start of a marker reads once escaped in HTML text."""
    return f"&lt;b id=x-PWN-{tag}&gt;"


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the form"
    return match.group(1)


def hostile_case() -> dict[str, Any]:
    """The demo case with markup in every text field of the case (numbers stay valid)."""
    case = demo_case_json()
    case["patient"]["id"] = hostile("patient-ref")
    case["patient"]["diagnosis"] = hostile("diagnosis")
    case["patient"]["genotypes"] = {hostile("gene"): hostile("genotype")}
    case["samples"][0]["id"] = hostile("sample-id")
    case["samples"][0]["assay"] = hostile("assay")
    case["comedications"] = [{"name": hostile("comed")}, {"name": "rifampicin"}]
    case["notes"] = hostile("notes")
    return case


@pytest.fixture
def hostile_records(client_as: Client) -> Iterator[tuple[int, int, int]]:
    """(patient id, episode id, other patient's episode id): markup in every stored field."""
    clinician = client_as("clinician")
    other = clinician.post(
        "/api/patients",
        json={"mrn": "OTHER-1", "family_name": "Other", "given_name": "Patient",
              "sex": "male", "indication": "GIST"},
    )  # fmt: skip
    assert other.status_code == 201, other.text
    other_episode = clinician.post(
        f"/api/patients/{other.json()['id']}/episodes",
        json={"label": "other episode", "case": demo_case_json()},
    )
    assert other_episode.status_code == 201, other_episode.text
    patient = clinician.post(
        "/api/patients",
        json={
            "mrn": short_hostile("mrn"),
            "family_name": hostile("family"),
            "given_name": hostile("given"),
            "birth_date": "1970-01-02",
            "sex": "female",
            "indication": "other",
        },
    )
    assert patient.status_code == 201, patient.text
    patient_id = patient.json()["id"]
    episode = clinician.post(
        f"/api/patients/{patient_id}/episodes",
        json={"label": hostile("label"), "case": hostile_case()},
    )
    assert episode.status_code == 201, episode.text
    yield patient_id, episode.json()["id"], other_episode.json()["id"]


def _pages(patient_id: int, episode_id: int) -> list[str]:
    q = short_hostile("q")
    return [
        "/patients",
        f"/patients?q={q}",
        "/patients?q=%3Cb%20id%3Dx-PWN-q%3E",
        f"/patients/{patient_id}",
        f"/episodes/{episode_id}",
        f"/episodes/{episode_id}/whatif",
        f"/episodes/{episode_id}/whatif?model={short_hostile('whatif-model')}",
        f"/episodes/{episode_id}/report/preview",
        f"/simulate?dose_mg={short_hostile('dose')}&interval_h={short_hostile('interval')}"
        f"&n_doses={short_hostile('n')}&weight_kg={short_hostile('weight')}",
        f"/simulate?model={short_hostile('sim-model')}&dose_mg=400&interval_h=24&n_doses=5",
        "/simulate?dose_mg=400&interval_h=24&n_doses=5&weight_kg=70",
        "/models",
        "/models/widmer2006_covariate",
        f"/models/{short_hostile('model-id')}",
        f"/episodes/{short_hostile('episode-id')}",
        f"/patients/{short_hostile('patient-id')}",
        f"/no-such-page/{short_hostile('path')}",
    ]


def _check_pages(client: TestClient, urls: list[str], role: str) -> dict[str, str]:
    pages = {}
    for url in urls:
        answer = client.get(url)
        assert answer.status_code < 500, (role, url, answer.status_code)
        assert_no_raw_markup(answer.text, f"{role} GET {url}")
        pages[url] = answer.text
    return pages


@pytest.mark.parametrize("role", ["clinician", "pharmacologist"])
def test_stored_and_reflected_markup_is_shown_as_text_on_every_page(
    client_as: Client, hostile_records: tuple[int, int, int], role: str
) -> None:
    patient_id, episode_id, other_episode_id = hostile_records
    client = client_as(role)
    before = _check_pages(client, _pages(patient_id, episode_id), role)
    # the stored text is there, as text
    episode_page = before[f"/episodes/{episode_id}"]
    for tag in ("label", "family", "given", "sample-id", "assay", "comed"):
        assert shown_as_text(tag) in episode_page, tag
    assert shown_as_text("mrn").lower() in episode_page.lower()
    assert shown_as_text("q") in before[f"/patients?q={short_hostile('q')}"]
    assert shown_as_text("family") in before["/patients"]
    # interpret, then every page again (findings quote the co-medication names)
    token = _csrf(episode_page)
    interpreted = client.post(
        f"/episodes/{episode_id}/interpret",
        data={"csrf_token": token, "model": "widmer2006_covariate"},
        follow_redirects=False,
    )
    assert interpreted.status_code == 303, re.findall(
        r"interpret-error.*?</div>", interpreted.text, re.S
    )
    after = _check_pages(client, _pages(patient_id, episode_id), role)
    assert 'id="dose-advice"' in after[f"/episodes/{episode_id}"]
    preview = after[f"/episodes/{episode_id}/report/preview"]
    for tag in ("label", "family", "notes", "comed", "assay"):
        if tag != "label":
            assert shown_as_text(tag) in preview, tag
    if role == "pharmacologist":
        issued = client.post(
            f"/episodes/{episode_id}/reports",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert issued.status_code == 303
        page = client.get(f"/episodes/{episode_id}").text
        assert_no_raw_markup(page, "episode page with a report")
        report_ids = re.findall(r'href="/api/reports/(\d+)/html"', page)
        assert report_ids
        report = client.get(f"/api/reports/{report_ids[0]}/html")
        assert report.status_code == 200
        assert_no_raw_markup(report.text, "issued report HTML")
        # nothing was issued on the other patient's episode
        other = client.get(f"/episodes/{other_episode_id}").text
        assert "No report issued." in other
    else:
        edit = client.get(f"/episodes/{episode_id}/edit")
        assert edit.status_code == 200
        assert_no_raw_markup(edit.text, "episode edit form")
        assert 'value="' + shown_as_text("label") in edit.text


def test_forms_shown_again_after_an_error_escape_what_was_typed(
    client_as: Client, hostile_records: tuple[int, int, int]
) -> None:
    patient_id, episode_id, _ = hostile_records
    client = client_as("clinician")
    token = _csrf(client.get(f"/patients/{patient_id}/episodes/new").text)
    typed = {
        "csrf_token": token,
        "label": hostile("form-label"),
        "patient.age_years": short_hostile("age"),
        "patient.weight_kg": short_hostile("weight"),
        "patient.gastrectomy": short_hostile("gastrectomy"),
        "patient.metastatic_site": short_hostile("site"),
        "doses[0].time": short_hostile("dose-time"),
        "doses[0].amount_mg": short_hostile("amount"),
        "doses[0].interval_h": short_hostile("interval"),
        "doses[0].count": short_hostile("count"),
        "missed_doses": short_hostile("missed"),
        "samples[0].id": hostile("form-sample"),
        "samples[0].time": short_hostile("sample-time"),
        "samples[0].concentration": short_hostile("conc"),
        "samples[0].unit": short_hostile("unit"),
        "samples[0].lloq": short_hostile("lloq"),
        "samples[0].assay": hostile("form-assay"),
        "covariates.agp_g_per_l": short_hostile("agp"),
        "comedications[0].name": hostile("form-comed"),
        "notes": hostile("form-notes") + "</textarea><textarea>pwn",
        hostile("field-name"): "x",
    }
    for url in (f"/patients/{patient_id}/episodes/new", f"/episodes/{episode_id}/edit"):
        answer = client.post(url, data=typed)
        assert answer.status_code == 422, (url, answer.status_code)
        assert_no_raw_markup(answer.text, f"POST {url}")
        assert shown_as_text("form-label") in answer.text
        more = client.post(url, data={**typed, "more_rows": "1"})
        assert more.status_code == 200
        assert_no_raw_markup(more.text, f"POST {url} (more rows)")
    patient_form = {
        "csrf_token": token,
        "mrn": short_hostile("new-mrn"),
        "family_name": hostile("new-family"),
        "given_name": hostile("new-given"),
        "birth_date": short_hostile("birth"),
        "sex": short_hostile("sex"),
        "indication": short_hostile("indication"),
    }
    answer = client.post("/patients/new", data=patient_form)
    assert 400 <= answer.status_code < 500
    assert_no_raw_markup(answer.text, "POST /patients/new")


def test_the_login_form_escapes_the_typed_username(app: FastAPI) -> None:
    browser = TestClient(app, follow_redirects=False)
    token = _csrf(browser.get("/login").text)
    answer = browser.post(
        "/login",
        data={"username": short_hostile("user"), "password": PASSWORD + "x", "csrf_token": token},
    )
    assert answer.status_code in (401, 422, 429)
    assert_no_raw_markup(answer.text, "POST /login")


def test_every_page_template_is_autoescaped_whatever_its_extension() -> None:
    environment = rendering.page_environment()
    folder = Path(str(resources.files("imatinib_tdm.service"))) / "templates"
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert "episode.html.j2" in names
    for name in names:
        autoescape = environment.autoescape
        assert autoescape is True or (callable(autoescape) and autoescape(name)), name
    probe = environment.from_string("{{ value }}").render(value="<b id=x-PWN>")
    assert probe == "&lt;b id=x-PWN&gt;"
    error = environment.get_template("error.html.j2").render(
        status=404, title=hostile("title"), detail=hostile("detail"), user=None, message=None
    )
    assert_no_raw_markup(error, "error.html.j2")


def _template_files() -> list[Path]:
    service = Path(str(resources.files("imatinib_tdm.service"))) / "templates"
    report = Path(str(resources.files("imatinib_tdm.report"))) / "templates"
    return sorted([*service.iterdir(), *report.iterdir()])


def test_no_template_turns_autoescaping_off_or_marks_text_safe() -> None:
    for path in _template_files():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b", text), f"{path.name} uses |safe"
        assert "autoescape false" not in text.replace("  ", " ").lower(), path.name


def test_report_templates_are_autoescaped() -> None:
    from imatinib_tdm.report._html import _environment

    environment = _environment()
    for name in ("interpretation.html.j2", "recommendation.html.j2"):
        autoescape = environment.autoescape
        assert autoescape is True or (callable(autoescape) and autoescape(name)), name
        assert "<b" not in environment.from_string("{{ v }}").render(v="<b id=x-PWN>")


def test_the_model_select_escapes_its_pieces() -> None:
    select = rendering.model_select("<b id=x-PWN>", name='x"><b id=x-PWN-name>', auto=True)
    assert isinstance(select, Markup)
    assert_no_raw_markup(str(select), "model_select")


def test_figure_json_cannot_close_its_script_element() -> None:
    environment = rendering.page_environment()
    html = environment.get_template("macros.html.j2").module.plot(  # type: ignore[attr-defined]
        {"data": [{"name": "</script><b id=x-PWN>", "text": ["<!--pwn", "&"]}]}, "p", "label"
    )
    body = re.search(r'<script type="application/json" id="p-data">(.*?)</script>', str(html), re.S)
    assert body is not None
    assert "</script" not in body.group(1).lower() and "<!--" not in body.group(1)


def test_history_plot_hover_text_is_escaped_for_plotly() -> None:
    from imatinib_tdm.case import parse_case
    from imatinib_tdm.service.plots import history_figure

    figure = history_figure([(hostile("label"), parse_case(demo_case_json()))])
    assert figure is not None
    texts = figure["data"][0]["text"]
    assert texts and all("<" not in text for text in texts)
    assert texts[0].startswith("&lt;b id=x-PWN-label&gt;")


HOSTILE_NUMBERS = ("nan", "NaN", "inf", "-Infinity", "1e308", "-1e308", "1e400", "-0", "0",
                   "1e-300", "9" * 5000, "0x10", "-5", "<b id=x-PWN>")  # fmt: skip


@pytest.mark.parametrize("field", ["dose_mg", "interval_h", "n_doses", "weight_kg"])
def test_the_simulator_refuses_hostile_numbers_with_a_form_error(
    client_as: Client, field: str
) -> None:
    client = client_as("viewer")
    for value in HOSTILE_NUMBERS:
        params = {"model": "widmer2006_base", "dose_mg": "400", "interval_h": "24",
                  "n_doses": "5", "weight_kg": "70"}  # fmt: skip
        answer = client.get("/simulate", params={**params, field: value})
        assert answer.status_code == 422, (field, value[:20], answer.status_code)
        assert f'id="{field}-error"' in answer.text, (field, value[:20])
        assert 'id="simulate-plot-data"' not in answer.text
        assert_no_raw_markup(answer.text, f"simulate {field}={value[:20]}")
    fine = client.get(
        "/simulate",
        params={"model": "widmer2006_base", "dose_mg": "400", "interval_h": "24", "n_doses": "5"},
    )
    assert fine.status_code == 200 and 'id="simulate-plot-data"' in fine.text
    long_model = client.get("/simulate", params={"model": "m" * 5000, "dose_mg": "400"})
    assert long_model.status_code == 422 and 'role="alert"' in long_model.text


def test_account_names_with_markup_are_escaped_where_they_are_shown(
    app: FastAPI, client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    from imatinib_tdm.store import create_user, get_user_by_username

    _, episode_id = patient_with_episode
    with app.state.database.transaction() as session:
        admin = get_user_by_username(session, "admin")
        assert admin is not None
        create_user(
            session,
            username="hostile-validator",
            password=PASSWORD,
            role="pharmacologist",
            full_name=hostile("validator"),
            actor=admin,
        )
    validator = TestClient(app)
    login = validator.post(
        "/api/auth/login", json={"username": "hostile-validator", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    validator.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    page = validator.get(f"/episodes/{episode_id}").text
    assert_no_raw_markup(page, "header with the user's name")
    assert shown_as_text("validator") in page
    token = _csrf(page)
    assert (
        validator.post(
            f"/episodes/{episode_id}/interpret",
            data={"csrf_token": token, "model": "widmer2006_base"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    issued = validator.post(
        f"/episodes/{episode_id}/reports", data={"csrf_token": token}, follow_redirects=False
    )
    assert issued.status_code == 303
    for role in ("viewer", "clinician"):
        page = client_as(role).get(f"/episodes/{episode_id}").text
        assert_no_raw_markup(page, f"{role}: reports table with the validator's name")
        assert shown_as_text("validator") in page
        report_id = re.findall(r'href="/api/reports/(\d+)/html"', page)[0]
        report = client_as(role).get(f"/api/reports/{report_id}/html").text
        assert_no_raw_markup(report, "issued report with the validator's name")
    for url in ("/users", "/account"):
        answer = client_as("admin").get(url)
        if answer.status_code == 404:  # account pages not installed
            continue
        assert answer.status_code == 200, url
        assert_no_raw_markup(answer.text, f"admin GET {url}")
