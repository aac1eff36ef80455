"""The interpretation orchestration (issue 4 in progress): status, findings, contract."""

from __future__ import annotations

import json

import pytest

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm import interpret


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    return interpret(load_demo_case("demo-001"), get_model("widmer2006_covariate"), n_draws=300)


def test_json_contract(demo) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(demo.to_dict()))
    for key in (
        "status",
        "target_ng_per_ml",
        "trough_ng_per_ml",
        "findings",
        "recommendation",
        "model",
        "assumptions",
        "warnings",
    ):
        assert key in data
    assert set(data["trough_ng_per_ml"]) >= {"value", "lower", "upper"}
    assert set(data["recommendation"]) >= {
        "dose_mg",
        "interval_h",
        "predicted_trough_ng_per_ml",
        "probability_on_target",
    }
    for finding in data["findings"]:
        assert set(finding) >= {
            "category",
            "severity",
            "message",
            "evidence",
            "recommendation",
            "references",
        }


def test_demo_is_subtherapeutic_with_rifampicin_as_top_finding(demo) -> None:  # type: ignore[no-untyped-def]
    """820 ng/mL at 23.5 h on 400 mg with rifampicin, GIST target 1100 ng/mL."""
    assert demo.status == "subtherapeutic"
    assert demo.measured_trough_ng_per_ml == 820
    top = demo.findings[0]
    assert top["category"] == "interaction"
    assert "rifampicin" in top["message"]
    assert top["evidence"]["exposure_change_pct"] == -74


def test_first_visit_gives_the_population_prediction() -> None:
    case = load_demo_case("demo-001")
    result = interpret(case.replace(samples=[]), get_model("widmer2006_covariate"))
    assert result.status == "not_interpretable"
    assert result.recommendation is None
    assert result.trough_ng_per_ml is not None
    assert "population" in result.trough_ng_per_ml["method"]


def test_unknown_comedication_is_listed_not_dropped() -> None:
    case = load_demo_case("demo-001")
    result = interpret(
        case.replace(comedications=["paracetamol"]), get_model("widmer2006_covariate"), n_draws=200
    )
    codes = [f["code"] for f in result.findings]
    assert "comedication_not_in_knowledge_base" in codes
