"""Tests of tdm/_priority.py: TDM urgency at a first visit."""

from __future__ import annotations

import pytest

from imatinib_tdm.tdm._a_priori import TroughPrediction
from imatinib_tdm.tdm._findings import Finding, FindingCategory, Severity
from imatinib_tdm.tdm._priority import tdm_priority_finding


def _trough(below: float | None, above: float | None = 0.0) -> TroughPrediction:
    return TroughPrediction(
        dose_mg=400.0,
        interval_h=24.0,
        typical_ng_per_ml=1000.0,
        interval_5_ng_per_ml=500.0,
        median_ng_per_ml=1000.0,
        interval_95_ng_per_ml=2000.0,
        probability_below_target_frac=below,
        probability_above_alert_frac=above,
    )


@pytest.mark.parametrize(
    ("below", "above", "rank", "word"),
    [
        (0.6, 0.0, 2, "high"),
        (0.1, 0.55, 2, "high"),
        (0.3, 0.0, 1, "medium"),
        (0.1, 0.1, 0, "low"),
    ],
)
def test_priority_from_probabilities(below: float, above: float, rank: int, word: str) -> None:
    finding = tdm_priority_finding(
        _trough(below, above), target_ng_per_ml=1100.0, alert_ng_per_ml=1451.6, model_id="m"
    )
    assert finding.code == "tdm_priority"
    assert finding.category is FindingCategory.SAMPLING
    assert finding.evidence["priority_rank"] == rank
    assert f"priority {word}" in finding.message
    assert (finding.severity is Severity.CAUTION) == (rank == 2)
    assert ("TDM is urgent" in finding.recommendation) == (rank == 2)


def test_an_inducer_makes_tdm_urgent() -> None:
    inducer = Finding(
        "interaction_decreases",
        FindingCategory.INTERACTION,
        Severity.WARNING,
        "rifampicin",
        references=("rifampicin",),
    )
    finding = tdm_priority_finding(
        _trough(0.05),
        target_ng_per_ml=1100.0,
        alert_ng_per_ml=None,
        model_id="m",
        interaction_findings=[inducer],
    )
    assert finding.evidence["priority_rank"] == 2
    assert finding.references == ("rifampicin",)


def test_unknown_without_a_prediction() -> None:
    finding = tdm_priority_finding(
        None, target_ng_per_ml=1100.0, alert_ng_per_ml=None, model_id="m"
    )
    assert finding.evidence["priority_rank"] is None
    assert "could not be predicted" in finding.message


def test_triage_finding_from_a_clinical_classifier() -> None:
    from imatinib_tdm.tdm._priority import TriageResult, triage_finding

    result = TriageResult(
        probability_below_threshold=0.72,
        threshold_ng_per_ml=1100.0,
        priority="high",
        model_label="logistic trained on 180 patients",
        top_contributions=(("daily_dose_mg", -0.8), ("sex_male", 0.4)),
    )
    finding = triage_finding(result)
    assert finding.code == "ml_triage"
    assert finding.severity is Severity.CAUTION
    assert "72%" in finding.message and "daily_dose_mg -0.80" in finding.message
    assert "TDM is urgent" in finding.recommendation


@pytest.mark.parametrize(("p", "priority"), [(1.5, "high"), (0.5, "urgent")])
def test_triage_result_is_validated(p: float, priority: str) -> None:
    from imatinib_tdm.tdm._priority import TriageResult

    with pytest.raises(ValueError):
        TriageResult(p, 1100.0, priority, "m")
