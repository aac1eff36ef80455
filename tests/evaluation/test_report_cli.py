"""HTML report and the ``evaluate`` command function."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from imatinib_tdm.evaluation import evaluate_dataset, render_evaluation_html
from imatinib_tdm.evaluation._cli import evaluate_command
from imatinib_tdm.io import write_nonmem_dataset
from imatinib_tdm.pk.library import get_model

from .conftest import simulated


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(evaluate_command)
    return app


def test_report_has_ranking_reasons_and_inline_plots() -> None:
    table = simulated("widmer2006_base", 12, seed=3)
    study = evaluate_dataset(
        table,
        [get_model("widmer2006_base"), get_model("yamakawa2011"), get_model("gotta2014")],
        n_replicates=30,
    )
    page = render_evaluation_html(study)
    assert "<table>" in page and page.count("<svg") == 2  # one figure per evaluated model
    assert "not evaluated" in page and "sex_male" in page
    assert 'src="http' not in page and "<link" not in page  # nothing fetched


def test_evaluate_command_json_and_report(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    write_nonmem_dataset(simulated("widmer2006_base", 10, seed=4), data, dv_unit="ng/mL")
    report = tmp_path / "out.html"
    result = CliRunner().invoke(
        _app(),
        [
            str(data),
            "--models",
            "widmer2006_base,yamakawa2011,gotta2014",
            "--dv-unit",
            "ng/mL",
            "--report",
            str(report),
            "--replicates",
            "20",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    ranked = {row["model_id"]: row for row in payload["ranking"]}
    assert ranked["gotta2014"]["rank"] is None and "sex_male" in ranked["gotta2014"]["error"]
    assert ranked["widmer2006_base"]["metrics"]["forecast"]["n"] > 0
    assert report.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_evaluate_command_reads_a_long_csv(tmp_path: Path) -> None:
    rows = []
    for p, conc in (("P1", 1100), ("P2", 700)):
        for day in range(1, 31):
            rows.append(f"{p},2026-01-{day:02d}T08:00,400,,,70")
        rows.append(f"{p},2026-01-15T07:30,,{conc},ng/mL,70")
        rows.append(f"{p},2026-01-30T07:30,,{conc * 1.1:.0f},ng/mL,70")
    rows.sort(key=lambda r: (r.split(",")[0], r.split(",")[1]))
    data = tmp_path / "tdm.csv"
    header = "patient,datetime,dose_mg,concentration,unit,wt"
    data.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        _app(),
        [
            str(data),
            "--models",
            "widmer2006_base,wang2019",
            "--dv-unit",
            "ng/mL",
            "--column",
            "wt=weight_kg",
            "--replicates",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "widmer2006_base" in result.output and "wang2019" in result.output
    assert "not evaluated" not in result.output  # wang2019 got its weight via --column
