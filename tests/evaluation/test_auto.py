"""--model auto: the library model that fits the patient's own levels best."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.cli import app
from imatinib_tdm.evaluation import choose_model


def test_choice_among_the_evaluable_models() -> None:
    choice = choose_model(load_demo_case("demo-001"))
    assert choice.model.id in choice.weights
    assert sum(choice.weights.values()) == pytest.approx(1.0)
    assert choice.weights[choice.model.id] == max(choice.weights.values())
    assert "eechoute2012" in choice.excluded  # time-varying parameters
    assert choice.model.id in choice.reason and "uncertain" in choice.reason


def test_without_a_level_the_default_model() -> None:
    case = load_demo_case("demo-004")  # first visit
    choice = choose_model(case)
    assert choice.model.id == "widmer2006_covariate"
    assert choice.weights == {}
    assert "without a level" in choice.reason


def test_interpret_model_auto_states_the_choice() -> None:
    result = CliRunner().invoke(
        app, ["interpret", "--demo", "demo-001", "--model", "auto", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["assumptions"][0].startswith("--model auto:")
    assert body["model"]["id"] in body["assumptions"][0]
