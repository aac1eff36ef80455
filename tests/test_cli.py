"""The command-line interface: outputs, JSON contract, and clean failures (exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imatinib_tdm.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imatinib_tdm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_models_json_lists_every_model_with_citation() -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    models = json.loads(result.output)
    assert len(models) >= 18
    ids = {m["id"] for m in models}
    assert {"schmidli2005", "widmer2006_covariate", "chien2022", "delbaldo2006"} <= ids
    assert all(m["citation"] and m["population"] for m in models)


def test_models_show_prints_parameters_and_discrepancies() -> None:
    result = runner.invoke(app, ["models", "show", "schmidli2005"])
    assert result.exit_code == 0, result.output
    assert "cl_l_per_h" in result.output
    assert "doi:10.1111/j.1365-2125.2005.02372.x" in result.output
    assert "!" in result.output  # the weight-exponent discrepancy is shown


def test_simulate_typical_json_contract() -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            "--model",
            "widmer2006_base",
            "--dose-mg",
            "400",
            "--interval-h",
            "24",
            "--n-doses",
            "15",
            "--times",
            "0.5,1,24,336",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["times_h"] == [0.5, 1.0, 24.0, 336.0]
    conc = data["concentration_ng_per_ml"]
    assert len(conc) == 4 and all(c >= 0 for c in conc)
    # 336 h is after the 15th dose (given at 336 h): before its absorption, a trough
    assert conc[3] < conc[2] * 3


def test_simulate_population_json_has_percentiles_and_is_reproducible() -> None:
    args = [
        "simulate",
        "--model",
        "schmidli2005",
        "--covariate",
        "weight_kg=70",
        "--covariate",
        "hemoglobin_g_per_dl=13",
        "--covariate",
        "wbc_10e9_per_l=8",
        "--covariate",
        "occasion_day29=1",
        "--times",
        "1,24",
        "--individuals",
        "300",
        "--seed",
        "5",
        "--json",
    ]
    first = json.loads(runner.invoke(app, args).output)
    second = json.loads(runner.invoke(app, args).output)
    assert first["percentiles"] == second["percentiles"]
    assert set(first["percentiles"]) == {"5", "25", "50", "75", "95"}
    p5, p95 = first["percentiles"]["5"], first["percentiles"]["95"]
    assert all(lo < hi for lo, hi in zip(p5, p95, strict=True))


def test_simulate_writes_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "profile.png"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--model",
            "widmer2006_base",
            "--times",
            "1,24,48",
            "--n-doses",
            "3",
            "--individuals",
            "200",
            "--plot",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_demo_case_prints_prediction_and_notice() -> None:
    result = runner.invoke(
        app,
        [
            "predict",
            "--demo",
            "demo-001",
            "--model",
            "widmer2006_covariate",
            "--individuals",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "820 ng/mL" in result.output
    assert "90% PI" in result.output
    assert "not a medical device" in result.output
    assert "rifampicin" in result.output  # the interaction is named as not modelled


def test_predict_json() -> None:
    result = runner.invoke(
        app,
        [
            "predict",
            str(ROOT / "examples" / "demo-001.yaml"),
            "--model",
            "widmer2006_covariate",
            "--individuals",
            "300",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model_id"] == "widmer2006_covariate"
    sample = data["samples"][0]
    assert (
        sample["interval_5_ng_per_ml"]
        < sample["median_ng_per_ml"]
        < sample["interval_95_ng_per_ml"]
    )
    assert 0 <= sample["observed_percentile"] <= 100
    assert data["steady_state_trough"]["dose_mg"] == 400


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", "--model", "nosuchmodel"], ["nosuchmodel", "Available"]),
        (["simulate", "--model", "widmer2006_base", "--dose-mg", "4000"], ["4000 mg", "plausible"]),
        (["simulate", "--model", "widmer2006_base", "--dose-mg", "-5"], ["amount_mg"]),
        (["simulate", "--model", "widmer2006_base", "--interval-h", "0"], ["interval_h"]),
        (["simulate", "--model", "widmer2006_covariate"], ["weight_kg", "age_years"]),
        (["simulate", "--model", "widmer2006_base", "--times", "1,x"], ["--times"]),
        (["simulate", "--model", "widmer2006_base", "--covariate", "weight_kg"], ["NAME=NUMBER"]),
        (["predict", "no/such/case.yaml", "--model", "widmer2006_base"], ["not found"]),
    ],
)
def test_bad_input_is_a_clear_error_without_traceback(args: list[str], words: list[str]) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def test_case_with_unknown_unit_and_early_sample_fail_cleanly(tmp_path: Path) -> None:
    case = (ROOT / "examples" / "demo-001.yaml").read_text()
    bad_unit = tmp_path / "bad_unit.yaml"
    bad_unit.write_text(case.replace("unit: ng/mL", "unit: grains/gallon"))
    early = tmp_path / "early.yaml"
    early.write_text(case.replace('time: "2026-11-20T07:30"', 'time: "2026-09-20T07:30"'))
    for path, word in ((bad_unit, "unit"), (early, "before the first")):
        result = _run("predict", str(path), "--model", "widmer2006_covariate")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert word in result.stderr


def test_estimate_case_json_contract() -> None:
    result = runner.invoke(
        app,
        [
            "estimate",
            "--demo",
            "demo-001",
            "--model",
            "widmer2006_covariate",
            "--draws",
            "300",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("etas", "individual_parameters", "ofv", "predictions", "trough_ng_per_ml"):
        assert key in data
    assert set(data["trough_ng_per_ml"]) >= {"value", "lower", "upper"}


def test_estimate_nonmem_dataset_one_result_per_id() -> None:
    result = runner.invoke(
        app,
        [
            "estimate",
            "--data",
            str(ROOT / "examples" / "nonmem-synthetic.csv"),
            "--model",
            "widmer2006_covariate",
            "--dv-unit",
            "ng/mL",
            "--column",
            "WT=weight_kg",
            "--column",
            "AGE=age_years",
            "--column",
            "SEX=sex_male",
            "--column",
            "GIST=indication_gist",
            "--draws",
            "200",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["id"] for r in data["results"]] == ["1", "2", "3"]
    assert all(r["converged"] for r in data["results"])
    third = data["results"][2]
    assert third["predictions"][-1]["below_lloq"] is True


def test_recommend_prints_table_and_advice() -> None:
    result = runner.invoke(
        app, ["recommend", "--demo", "demo-001", "--model", "widmer2006_covariate"]
    )
    assert result.exit_code == 0, result.output
    assert "P(>=target)" in result.output
    assert "advice:" in result.output
    assert "not a medical device" in result.output


def test_estimate_without_covariate_column_fails_cleanly() -> None:
    result = _run(
        "estimate",
        "--data",
        str(ROOT / "examples" / "nonmem-synthetic.csv"),
        "--model",
        "widmer2006_covariate",
        "--dv-unit",
        "ng/mL",
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "weight_kg" in result.stderr


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        # a zero level with no LLOQ: neither a measurement nor a censored value
        (
            lambda t: t.replace(
                "concentration: 820, unit: ng/mL, lloq: 50", "concentration: 0, unit: ng/mL"
            ),
            ["censored", "LLOQ"],
        ),
        (lambda t: t.replace("  weight_kg: 62\n", ""), ["weight_kg"]),
        (
            lambda t: t.replace(
                '  - {time: "2026-10-01T08:00", amount_mg: 400, interval_h: 24, count: 50}\n',
                "  []\n",
            ).replace("doses:\n  []", "doses: []"),
            ["dose"],
        ),
    ],
)
def test_estimate_bad_case_fails_cleanly(tmp_path: Path, edit, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "case.yaml"
    path.write_text(edit((ROOT / "examples" / "demo-001.yaml").read_text()))
    result = _run("estimate", str(path), "--model", "widmer2006_covariate")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def test_level_below_its_lloq_is_censored_and_said_so(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    text = (ROOT / "examples" / "demo-001.yaml").read_text()
    path.write_text(text.replace("concentration: 820,", "concentration: 30,"))
    result = runner.invoke(
        app, ["estimate", str(path), "--model", "widmer2006_covariate", "--draws", "200", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["predictions"][0]["below_lloq"] is True
    assert any("cannot explain" in w for w in data["warnings"])


def test_recommend_writes_an_offline_html_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(
        app,
        ["recommend", "--demo", "demo-001", "--model", "widmer2006_covariate", "--html", str(out)],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<svg" in html
    assert "not a medical device" in html
    assert "demo-001" in html
    assert "Laplace approximation" not in html  # the posterior draws were used for the band
    assert "http://" not in html and "https://" not in html


def test_interpret_json() -> None:
    result = runner.invoke(
        app, ["interpret", "--demo", "demo-001", "--model", "widmer2006_covariate", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "subtherapeutic"
    assert data["findings"][0]["category"] == "interaction"
