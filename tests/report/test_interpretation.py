"""Interpretation report (HTML): content, escaping, offline, figure kinds, validation block."""

from __future__ import annotations

import dataclasses
import html as html_lib
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from imatinib_tdm.case import Case, load_case, load_demo_case
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.report import (
    DEVICE_NOTICE,
    ReportPatient,
    ReportValidation,
    render_interpretation_html,
    write_interpretation_report,
)
from imatinib_tdm.tdm import Interpretation, find_knowledge_reference, interpret

VIGNETTES = Path(__file__).resolve().parents[2] / "examples" / "vignettes"
_ASSET = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|file:)?//|url\(\s*["']?\s*(?:https?:|file:)?//|@import"""
)
Interpreted = tuple[Case, Interpretation]


@pytest.fixture(scope="module")
def model() -> PopPKModel:
    return get_model("widmer2006_covariate")


@pytest.fixture(scope="module")
def demo(model: PopPKModel) -> Interpreted:
    case = load_demo_case("demo-001")
    return case, interpret(case, model)


@pytest.fixture(scope="module")
def demo_html(demo: Interpreted, model: PopPKModel) -> str:
    case, interpretation = demo
    return render_interpretation_html(case, interpretation, model)


@pytest.fixture(scope="module")
def first_visit(model: PopPKModel) -> Interpreted:
    case = load_case(VIGNETTES / "v23-first-visit.yaml")
    return case, interpret(case, model)


@pytest.fixture(scope="module")
def unit_mixup(model: PopPKModel) -> Interpreted:
    case = load_case(VIGNETTES / "v15-unit-mixup.yaml")
    return case, interpret(case, model)


def _text(html: str) -> str:
    """The visible text: tags removed, entities decoded, white space collapsed."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", html))
    return re.sub(r"[ \t\n]+", " ", text)


def test_demo_report_content(demo: Interpreted, demo_html: str) -> None:
    _, interpretation = demo
    html, text = demo_html, _text(demo_html)
    assert html.startswith("<!DOCTYPE html>")
    assert interpretation.status == "subtherapeutic"
    assert "Status: Below target" in text
    assert "measured trough 820 ng/mL" in text
    assert DEVICE_NOTICE in text
    assert "demo-001" in text
    # sample and dosing facts
    assert "400 mg every 24 h (400 mg/day)" in text
    assert "400 mg at 2026-11-19 08:00" in text
    assert "S1, drawn 2026-11-20 07:30" in text
    assert "23.5 h" in text and "trough_window_once_daily" in text
    assert "50 ng/mL (laboratory's value)" in text
    assert "LC-MS/MS" in text
    # target, alert and their sources
    assert interpretation.target_id is not None and interpretation.alert_id is not None
    assert interpretation.target_id in text and interpretation.alert_id in text
    # every finding, escaped as Jinja2 does
    assert len(interpretation.findings) >= 2
    for finding in interpretation.findings:
        assert finding["message"] in text
        for ref in finding["references"]:
            assert ref in text
    # the advice
    rec = interpretation.recommendation
    assert rec is not None and rec["dose_mg"] is not None
    assert f"{rec['dose_mg']:g} mg every {rec['interval_h']:g} h" in text
    assert rec["reason"] in text
    assert "P(trough ≥ target)" in text
    # the trough estimate and the model
    trough = interpretation.trough_ng_per_ml
    assert trough is not None and trough["method"] in text
    assert f"{trough['value']:.0f}" in text
    assert interpretation.model["citation"] in text
    assert interpretation.model["doi"] in text
    assert interpretation.software_version in text
    # the individual curve with its posterior band
    assert "<svg" in html and "</svg>" in html
    assert "90% credible band" in html and "individual prediction" in html
    assert "Laplace approximation" not in html


def test_references_are_listed_in_full(demo: Interpreted, demo_html: str) -> None:
    _, interpretation = demo
    text = _text(demo_html)
    cited = {r for f in interpretation.findings for r in f["references"]}
    cited |= {interpretation.target_id, interpretation.alert_id} - {None}  # type: ignore[arg-type]
    for entry_id in cited:
        ref = find_knowledge_reference(entry_id)
        assert ref is not None, entry_id
        for source in ref.sources:
            assert source.citation in text, (entry_id, source.citation)
            if source.doi:
                assert source.doi in text
    assert "Bolton AE" in text and "10.1007/s00280-003-0722-9" in text  # rifampicin


def test_report_is_offline(demo_html: str) -> None:
    assert not _ASSET.search(demo_html)
    assert "<script" not in demo_html
    assert "<a " not in demo_html and "<link" not in demo_html and "<img" not in demo_html


def test_default_is_a_draft(demo_html: str) -> None:
    text = _text(demo_html)
    assert "DRAFT – not validated" in text
    assert 'class="watermark"' in demo_html
    assert "Version 1." in text


def test_user_text_is_escaped(model: PopPKModel) -> None:
    evil = "<script>alert('x')</script>"
    case = load_demo_case("demo-001")
    case = case.replace(
        comedications=[evil], notes=evil, patient=case.patient.model_copy(update={"id": evil})
    )
    interpretation = interpret(case, model)
    assert any(evil in f["message"] for f in interpretation.findings)  # reaches the report
    html = render_interpretation_html(
        case,
        interpretation,
        model,
        patient=ReportPatient(display_name=evil, mrn=evil),
        validation=ReportValidation(
            status="issued",
            validator_name=evil,
            validated_at=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
            comment=evil,
        ),
    )
    assert "<script" not in html
    assert evil not in html
    assert "&lt;script&gt;" in html


def test_patient_identifiers(demo: Interpreted, model: PopPKModel) -> None:
    case, interpretation = demo
    patient = ReportPatient("Jane Example", mrn="MRN-0042", birth_date=date(1972, 3, 4))
    text = _text(render_interpretation_html(case, interpretation, model, patient=patient))
    assert "Jane Example" in text and "MRN-0042" in text and "1972-03-04" in text
    assert "demo-001" in text  # the case id stays beside them


def test_issued_and_corrected_validation(demo: Interpreted, model: PopPKModel) -> None:
    case, interpretation = demo
    validation = ReportValidation(
        status="issued",
        validator_name="Dr A. Pharmacologist",
        validated_at=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        version=2,
        supersedes_version=1,
        correction_reason="sample time corrected by the ward",
        comment="Discussed with the oncologist.",
    )
    html = render_interpretation_html(case, interpretation, model, validation=validation)
    text = _text(html)
    assert "Validated by Dr A. Pharmacologist on 2026-11-21 09:30 (UTC+00:00)" in text
    assert "Version 2, corrects version 1: sample time corrected by the ward" in text
    assert "Discussed with the oncologist." in text
    assert "DRAFT" not in text and 'class="watermark"' not in html


def test_first_visit_shows_population_prediction(
    first_visit: Interpreted, model: PopPKModel
) -> None:
    case, interpretation = first_visit
    assert interpretation.dose_recommendation is None
    html = render_interpretation_html(case, interpretation, model)
    text = _text(html)
    assert "Status: Not interpretable" in text
    assert "No level measured yet (first visit)" in text
    assert "Population-predicted concentration–time profile" in text
    assert "POPULATION PREDICTION, not an individual estimate" in text
    assert "<svg" in html and "population prediction" in html and "90% population band" in html
    assert "No dose advice" in text
    for finding in interpretation.findings:
        assert finding["message"] in text


def test_unusable_level_renders_without_estimate(
    unit_mixup: Interpreted, model: PopPKModel
) -> None:
    case, interpretation = unit_mixup
    assert interpretation.status == "not_interpretable"
    html = render_interpretation_html(case, interpretation, model)
    text = _text(html)
    assert "Status: Not interpretable" in text
    assert "No dose advice" in text
    assert "1.2 ng/mL" in text
    assert "<svg" in html and "POPULATION PREDICTION" in text
    assert "the reported levels, for comparison only" in text


def test_without_posterior_draws_the_band_is_laplace(demo: Interpreted, model: PopPKModel) -> None:
    case, interpretation = demo
    rec = interpretation.dose_recommendation
    assert rec is not None
    no_draws = dataclasses.replace(
        interpretation, dose_recommendation=dataclasses.replace(rec, eta_draws=None)
    )
    html = render_interpretation_html(case, no_draws, model)
    assert "Laplace approximation" in html


def test_interpretation_restored_from_json_still_renders(
    demo: Interpreted, model: PopPKModel
) -> None:
    # e.g. read back from the store: no posterior, so the figure is the population one
    case, interpretation = demo
    restored = Interpretation(**interpretation.to_dict())
    text = _text(render_interpretation_html(case, restored, model))
    assert "POPULATION PREDICTION" in text
    assert "Status: Below target" in text


def test_write_html_and_pdf(demo: Interpreted, model: PopPKModel, tmp_path: Path) -> None:
    case, interpretation = demo
    html_path = write_interpretation_report(case, interpretation, model, tmp_path / "r.html")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    pdf_path = write_interpretation_report(case, interpretation, model, tmp_path / "r.PDF")
    assert pdf_path.read_bytes().startswith(b"%PDF")
