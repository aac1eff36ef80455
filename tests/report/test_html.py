"""HTML report of a dose recommendation: content, escaping, offline, plot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from imatinib_tdm.case import Case, load_demo_case
from imatinib_tdm.pk import DoseHistory, PopPKModel
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.report import (
    DEVICE_NOTICE,
    PlotSample,
    plot_individual_profile,
    render_recommendation_html,
    write_recommendation_report,
)
from imatinib_tdm.tdm import DoseRecommendation, recommend_dose

_ASSET = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import"""
)

Demo = tuple[Case, PopPKModel, DoseRecommendation]


@pytest.fixture(scope="module")
def demo() -> Demo:
    case = load_demo_case("demo-001")
    model = get_model("widmer2006_covariate")
    rec = recommend_dose(case, model, n_draws=300, n_proposals=1000)
    return case, model, rec


def test_report_content(demo: Demo, tmp_path: Path) -> None:
    case, model, rec = demo
    path = write_recommendation_report(case, model, rec, tmp_path / "out.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert DEVICE_NOTICE == "Research and decision support software, not a medical device."
    assert DEVICE_NOTICE in html
    assert "demo-001" in html
    assert (
        "Population pharmacokinetics of imatinib and the role of alpha1-acid glycoprotein" in html
    )
    assert "10.1111/j.1365-2125.2006.02719.x" in html  # the model DOI
    # advice text (reason) as escaped by Jinja2: ">=" becomes "&gt;="
    assert rec.advice.reason.replace(">", "&gt;") in html
    assert "<svg" in html and "</svg>" in html
    assert "Laplace approximation" not in html  # the recommendation carries its posterior draws
    assert rec.estimate.software_version in html
    for row in rec.advice.table.rows:
        assert row.regimen.label in html
    # Bayesian trough and the log-linear value beside it
    assert f"{rec.estimate.trough_ng_per_ml['value']:.0f}" in html  # type: ignore[index]
    assert f"{rec.estimate.log_linear_trough['trough_ng_per_ml']:.0f}" in html  # type: ignore[index]


def test_report_is_offline(demo: Demo) -> None:
    case, _, rec = demo
    html = render_recommendation_html(case, rec, plot_svg=None)
    assert not _ASSET.search(html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html


def test_user_text_is_escaped(demo: Demo) -> None:
    case, _, rec = demo
    evil = "<script>alert('x')</script>"
    case = case.replace(patient=case.patient.model_copy(update={"id": evil}), notes=evil)
    html = render_recommendation_html(case, rec, plot_svg=None)
    assert evil not in html
    assert "&lt;script&gt;" in html
    assert "<script" not in html


def test_write_with_exact_draws(demo: Demo, tmp_path: Path) -> None:
    case, model, rec = demo
    draws = np.zeros((50, len(model.eta_names)))
    html = write_recommendation_report(
        case, model, rec, tmp_path / "r.html", eta_draws=draws
    ).read_text(encoding="utf-8")
    assert "90% credible band" in html


def test_plot_marks_censored_samples() -> None:
    model = get_model("widmer2006_covariate")
    covariates = {"weight_kg": 70.0, "age_years": 50.0, "sex_male": 1.0, "indication_gist": 1.0}
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=10)
    rng = np.random.default_rng(1)
    svg = plot_individual_profile(
        model,
        covariates,
        rng.normal(0.0, 0.3, (100, len(model.eta_names))),
        doses,
        [PlotSample(215.0, 900.0), PlotSample(230.0, None, below_lloq=True, lloq_ng_per_ml=50.0)],
        target_ng_per_ml=1100.0,
        alert_ng_per_ml=1451.6,
    )
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "&lt;LLOQ" in svg
    assert "ng/mL" in svg and "(h)" in svg
    assert "http" not in svg
