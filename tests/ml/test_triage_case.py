"""The classifier on one case file, and its report in the interpretation (first visit)."""

from __future__ import annotations

import pytest

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.ml import (
    TrainingData,
    TriageModel,
    features_from_case,
    predict_triage,
    train_triage_model,
    triage_case,
)
from imatinib_tdm.tdm import interpret


@pytest.fixture(scope="module")
def model(signal_data: TrainingData) -> TriageModel:
    trained, _ = train_triage_model(
        signal_data, candidates=["logistic"], outer_folds=3, n_bootstrap=20, fast=True
    )
    return trained


def _first_visit(**patient: object):  # type: ignore[no-untyped-def]
    case = load_demo_case("demo-001")
    return case.replace(
        samples=[],
        patient={**case.patient.model_dump(), **patient},
        covariates={
            **case.covariates.model_dump(),
            "rbc_10e12_per_l": 4.2,
            "plt_10e9_per_l": 240,
            "neutrophils_pct": 60,
        },
    )


def test_metastatic_site_from_the_case_file(model: TriageModel) -> None:
    case = _first_visit(metastatic_site="liver")
    direct = predict_triage(model, features_from_case(case, metastatic_site="liver"))[0]
    result = triage_case(model, case)
    assert result.probability_below_threshold == pytest.approx(direct.probability_below_threshold)
    assert result.priority == direct.priority
    assert result.synthetic_model  # the fixture trains on the synthetic cohort


def test_missing_site_names_the_field(model: TriageModel) -> None:
    with pytest.raises(CaseError) as caught:
        triage_case(model, _first_visit())
    assert caught.value.fields["field"] == "metastatic_site"


def test_first_visit_interpretation_reports_the_triage(model: TriageModel) -> None:
    case = _first_visit(metastatic_site="peritoneum")
    result = interpret(case, triage=triage_case(model, case), n_draws=200).to_dict()
    triage = next(f for f in result["findings"] if f["code"] == "ml_triage")
    assert "SYNTHETIC" in triage["message"]
    assert triage["severity"] == "info"  # never louder when trained on synthetic data
    assert 0.0 <= triage["evidence"]["probability_below_threshold_frac"] <= 1.0
