"""Tests of tdm/_findings.py: the Finding value, its validation, the ranking rule, TroughStatus."""

from __future__ import annotations

import json

import pytest

from imatinib_tdm.errors import TdmError
from imatinib_tdm.tdm._findings import (
    Finding,
    FindingCategory,
    Severity,
    TroughStatus,
    rank_findings,
)


def _f(
    code: str,
    severity: Severity = Severity.INFO,
    explained_frac: float | None = None,
    category: FindingCategory = FindingCategory.SAMPLING,
) -> Finding:
    return Finding(
        code=code,
        category=category,
        severity=severity,
        message=f"{code} happened",
        explained_frac=explained_frac,
    )


def test_enum_values_are_the_issue_vocabulary() -> None:
    assert {c.value for c in FindingCategory} == {
        "adherence",
        "interaction",
        "patient_factors",
        "sampling",
        "analytical",
    }
    assert [s.value for s in Severity] == ["info", "caution", "warning", "critical"]
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert {t.value for t in TroughStatus} == {
        "below_lloq",
        "subtherapeutic",
        "on_target",
        "above_alert",
        "not_interpretable",
    }


def test_to_dict_is_json_ready() -> None:
    finding = Finding(
        code="below_lloq",
        category=FindingCategory.ANALYTICAL,
        severity=Severity.WARNING,
        message="Below the LLOQ.",
        evidence={"lloq_ng_per_ml": 50.0, "is_default_lloq": True, "n_missed_doses": 2},
        recommendation="Ask about intake.",
        references=("default_lloq_lc_ms_ms",),
        explained_frac=0.5,
        sample_id="S1",
    )
    out = finding.to_dict()
    assert json.loads(json.dumps(out)) == out
    assert out["category"] == "analytical"
    assert out["severity"] == "warning"
    assert out["evidence"] == {"lloq_ng_per_ml": 50.0, "is_default_lloq": True, "n_missed_doses": 2}
    assert out["references"] == ["default_lloq_lc_ms_ms"]
    assert out["sample_id"] == "S1"


def test_finding_is_immutable_and_keeps_its_own_evidence() -> None:
    evidence: dict[str, float | None] = {"time_since_last_dose_h": 4.0}
    finding = Finding(
        "off_time_sample", FindingCategory.SAMPLING, Severity.WARNING, "m", evidence=evidence
    )
    evidence["time_since_last_dose_h"] = 99.0  # the caller's dict is copied
    assert finding.evidence["time_since_last_dose_h"] == 4.0
    with pytest.raises(TypeError):
        finding.evidence["x_h"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        finding.code = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"code": "Off Time"}, "snake_case"),
        ({"message": "  "}, "message is empty"),
        ({"evidence": {"Time": 1.0}}, "snake_case with its unit"),
        ({"evidence": {"assay_name": "HPLC"}}, "must be a number"),
        ({"evidence": {"x_h": float("nan")}}, "use None for unknown"),
        ({"explained_frac": 1.5}, r"\[0, 1\]"),
        ({"severity": "warning"}, "Severity members"),
    ],
)
def test_invalid_findings_are_refused(kwargs: dict[str, object], words: str) -> None:
    base: dict[str, object] = {
        "code": "x",
        "category": FindingCategory.SAMPLING,
        "severity": Severity.INFO,
        "message": "m",
    }
    with pytest.raises(TdmError, match=words):
        Finding(**(base | kwargs))  # type: ignore[arg-type]


def test_rank_by_severity_first() -> None:
    ranked = rank_findings(
        [
            _f("info", Severity.INFO, 1.0),
            _f("critical", Severity.CRITICAL),
            _f("caution", Severity.CAUTION, 0.9),
            _f("warning", Severity.WARNING),
        ]
    )
    assert [f.code for f in ranked] == ["critical", "warning", "caution", "info"]


def test_rank_then_by_how_much_is_explained_unknown_last_ties_stable() -> None:
    ranked = rank_findings(
        [
            _f("unknown_a", Severity.WARNING),
            _f("explains_30", Severity.WARNING, 0.3),
            _f("unknown_b", Severity.WARNING),
            _f("explains_74", Severity.WARNING, 0.74),
            _f("explains_0", Severity.WARNING, 0.0),
            _f("tie_first", Severity.CAUTION, 0.2),
            _f("tie_second", Severity.CAUTION, 0.2),
        ]
    )
    assert [f.code for f in ranked] == [
        "explains_74",
        "explains_30",
        "explains_0",  # quantified (0) still before unquantified
        "unknown_a",
        "unknown_b",
        "tie_first",
        "tie_second",
    ]


def test_rank_empty_and_returns_tuple() -> None:
    assert rank_findings([]) == ()
    assert isinstance(rank_findings(iter([_f("a")])), tuple)
