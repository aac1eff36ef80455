"""--model auto with a centre prior: choose_model(prior=...) and interpret --model-prior FILE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.cli import app
from imatinib_tdm.errors import CaseError
from imatinib_tdm.evaluation import choose_model, load_centre_model_prior
from imatinib_tdm.evaluation._cli import evaluate_command
from imatinib_tdm.io import write_nonmem_dataset

from .conftest import simulated, stack


def test_prior_multiplies_the_weights_and_restricts_the_candidates() -> None:
    case = load_demo_case("demo-001")
    plain = choose_model(case)
    prior = {"widmer2006_base": 0.1, "yamakawa2011": 0.9, "not_a_model": 0.5}
    choice = choose_model(case, prior, prior_source="centre.json")
    assert set(choice.weights) == {"widmer2006_base", "yamakawa2011"}
    assert sum(choice.weights.values()) == pytest.approx(1.0)
    # the posterior odds are the prior odds times the likelihood ratio of the plain choice
    ratio = plain.weights["yamakawa2011"] / plain.weights["widmer2006_base"]
    assert choice.weights["yamakawa2011"] / choice.weights["widmer2006_base"] == pytest.approx(
        9.0 * ratio
    )
    assert "not in the centre prior" in choice.excluded["gotta2014"]
    assert "centre prior from centre.json" in choice.reason


def test_without_a_level_the_prior_picks_the_centres_model() -> None:
    choice = choose_model(load_demo_case("demo-004"), {"widmer2006_base": 0.2, "chien2022": 0.8})
    assert choice.model.id == "chien2022"
    assert "largest centre proportion" in choice.reason


def test_no_candidate_in_the_prior_is_an_error() -> None:
    with pytest.raises(CaseError, match="no library model"):
        choose_model(load_demo_case("demo-001"), {"not_a_model": 1.0})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"ranking": []}', "has no 'centre_model_prior'"),
        (
            '{"centre_model_prior": null, "centre_model_prior_method": {"fallback": "8 pts"}}',
            "8 pts",
        ),
        ('{"centre_model_prior": [0.5, 0.5]}', "must map model ids"),
        ('{"centre_model_prior": {"a": -1, "b": "x"}}', "a: -1, b: 'x'"),
        ('{"centre_model_prior": {"a": 0}}', "every proportion"),
    ],
)
def test_malformed_prior_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prior.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CaseError, match="--model-prior") as info:
        load_centre_model_prior(path)
    assert message in str(info.value)
    with pytest.raises(CaseError, match="cannot read"):
        load_centre_model_prior(tmp_path / "missing.json")


def test_evaluate_json_then_interpret_with_the_centre_prior(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    table = stack(simulated("widmer2006_base", 15, 5, "A"), simulated("yamakawa2011", 15, 55, "B"))
    write_nonmem_dataset(table, data, dv_unit="ng/mL")
    evaluate = typer.Typer()
    evaluate.command()(evaluate_command)
    ran = CliRunner().invoke(
        evaluate,
        [
            str(data),
            "--models",
            "widmer2006_base,yamakawa2011",
            "--dv-unit",
            "ng/mL",
            "--replicates",
            "0",
            "--json",
        ],
    )
    assert ran.exit_code == 0, ran.output
    prior_file = tmp_path / "evaluation.json"
    prior_file.write_text(ran.output, encoding="utf-8")
    payload = json.loads(ran.output)
    assert set(payload["centre_model_prior"]) == {"widmer2006_base", "yamakawa2011"}
    ranked = {row["model_id"] for row in payload["ranking"]}
    assert {"model_averaging_centre", "model_selection_centre"} <= ranked
    result = CliRunner().invoke(
        app,
        [
            "interpret",
            "--demo",
            "demo-001",
            "--model",
            "auto",
            "--model-prior",
            str(prior_file),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    first = body["assumptions"][0]
    assert first.startswith("--model auto with a centre prior from ")
    assert str(prior_file) in first
    assert body["model"]["id"] in ("widmer2006_base", "yamakawa2011")


def test_model_prior_needs_model_auto(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"centre_model_prior": {"widmer2006_base": 1.0}}', encoding="utf-8")
    result = CliRunner().invoke(
        app, ["interpret", "--demo", "demo-001", "--model-prior", str(path)]
    )
    # CliRunner runs the app without main()'s handler: the package error is the exception
    assert isinstance(result.exception, CaseError)
    assert "only with --model auto" in str(result.exception)
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["interpret", "--demo", "demo-001", "--model", "auto", "--model-prior", str(bad)]
    )
    assert isinstance(result.exception, CaseError)
    assert "centre_model_prior" in str(result.exception)
