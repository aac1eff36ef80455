"""The ml Typer sub-app end to end on synthetic data, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from imatinib_tdm.ml import ml_app

runner = CliRunner()


@pytest.mark.slow
def test_synthetic_train_evaluate_predict(tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    result = runner.invoke(ml_app, ["synthetic", "--n", "200", "--out", str(data), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert data.read_text().startswith("# SYNTHETIC DATA")
    model = tmp_path / "model.json"
    result = runner.invoke(ml_app, ["train", str(data), "--out", str(model), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    html = tmp_path / "report.html"
    result = runner.invoke(ml_app, ["evaluate", str(data), "--html", str(html), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "<svg" in html.read_text() and "SYNTHETIC" in html.read_text()
    result = runner.invoke(ml_app, ["predict", str(model), "--csv", str(data)])
    assert result.exit_code == 0, result.output


def test_synthetic_file_is_labelled_and_bad_input_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "cohort.csv"
    assert runner.invoke(ml_app, ["synthetic", "--n", "20", "--out", str(data)]).exit_code == 0
    lines = data.read_text().splitlines()
    assert lines[0].startswith("# SYNTHETIC DATA")
    assert lines[2].endswith(",synthetic") and all(line.endswith(",yes") for line in lines[3:])
    result = runner.invoke(ml_app, ["predict", str(tmp_path / "missing.json"), "--csv", str(data)])
    assert result.exit_code == 2
    assert "cannot read the model file" in result.output
