"""Several case files as one NONMEM dataset (``write_cases_nonmem_dataset``, ``imatinib-tdm
export-nonmem``): subjects numbered in order, no patient ids, covariates united, and the file
reads back into the evaluation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.cli import app
from imatinib_tdm.errors import CaseError
from imatinib_tdm.io import case_to_nonmem_rows, read_nonmem_dataset, write_cases_nonmem_dataset
from imatinib_tdm.pk import RecordKind

_DEMOS = ("demo-001", "demo-002", "demo-005")


def test_subjects_are_numbered_and_each_keeps_its_rows() -> None:
    cases = [load_demo_case(name) for name in _DEMOS]
    out = io.StringIO()
    write_cases_nonmem_dataset(cases, out, dv_unit="ng/mL")
    text = out.getvalue()
    for case in cases:
        assert case.patient.id not in text.split("\n", 1)[1]
    table = read_nonmem_dataset(io.StringIO(text), dv_unit="ng/mL", covariates=["weight_kg"])
    assert table.ids == ("1", "2", "3")
    for p, case in enumerate(cases):
        alone = case_to_nonmem_rows(case, dv_unit="ng/mL")
        observed = [r["DV"] for r in alone if r["EVID"] == 0]
        got = table.dv_mg_per_l[p][table.kind[p] == RecordKind.OBSERVATION] * 1000.0
        np.testing.assert_allclose(got, observed, rtol=1e-12)
        assert int((table.kind[p] == RecordKind.DOSE).sum()) == sum(
            1 for r in alone if r["EVID"] == 1
        )


def test_a_covariate_one_case_lacks_is_missing_there() -> None:
    full = load_demo_case("demo-001")
    without = full.replace(covariates=full.covariates.model_copy(update={"albumin_g_per_l": None}))
    out = io.StringIO()
    write_cases_nonmem_dataset([full, without], out)
    lines = out.getvalue().splitlines()
    column = lines[0].split(",").index("albumin_g_per_l")
    values = {line.split(",")[0]: line.split(",")[column] for line in lines[1:]}
    assert values["1"] != "." and values["2"] == "."


def test_no_case_is_an_error() -> None:
    with pytest.raises(CaseError, match="no case"):
        write_cases_nonmem_dataset([], io.StringIO())


def test_cli_export_then_evaluate(tmp_path: Path) -> None:
    files = []
    for name in _DEMOS:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(load_demo_case(name).model_dump(mode="json")))
        files.append(str(path))
    dataset = tmp_path / "centre.csv"
    runner = CliRunner()
    exported = runner.invoke(app, ["export-nonmem", *files, "--out", str(dataset)])
    assert exported.exit_code == 0, exported.output
    assert "ID 3:" in exported.output and dataset.exists()
    evaluated = runner.invoke(
        app,
        [
            "evaluate",
            str(dataset),
            "--models",
            "widmer2006_covariate,widmer2006_base",
            "--replicates",
            "0",
            "--json",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    study = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert {row["model_id"] for row in study["ranking"]} >= {"widmer2006_covariate"}
