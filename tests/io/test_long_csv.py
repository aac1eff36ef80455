"""Long CSV of TDM records -> event table; every offending row listed."""

from __future__ import annotations

import io

import numpy as np
import pytest

from imatinib_tdm.errors import CaseError, UnitError
from imatinib_tdm.io import LongCsvColumns, read_long_csv
from imatinib_tdm.pk import RecordKind

GOOD = """patient,datetime,dose_mg,concentration,unit,blq,lloq,wt
P1,2026-01-01T08:00,400,,,,,70
P1,2026-01-02T08:00,400,,,,,70
P1,2026-01-03T07:45,,980,ng/mL,0,50,71
P2,2026-01-01T08:00,400,,,,,60
P2,2026-01-01T20:00,,,ng/mL,1,50,60
"""


def _read(text: str, **columns: object) -> object:
    spec = LongCsvColumns(covariates={"weight_kg": "wt"}, **columns)  # type: ignore[arg-type]
    return read_long_csv(io.StringIO(text), concentration_unit="ng/mL", columns=spec)


def test_records_become_an_event_table_in_mg_per_l() -> None:
    table = read_long_csv(
        io.StringIO(GOOD),
        concentration_unit="ng/mL",
        columns=LongCsvColumns(covariates={"weight_kg": "wt"}),
    ).table
    assert table.ids == ("P1", "P2")
    np.testing.assert_allclose(table.time_h[0], [0.0, 24.0, 47.75])
    assert table.kind[0].tolist() == [RecordKind.DOSE, RecordKind.DOSE, RecordKind.OBSERVATION]
    assert table.dv_mg_per_l[0, 2] == pytest.approx(0.98)  # 980 ng/mL
    # BLQ sample: censored (M3) at LLOQ 50 ng/mL = 0.05 mg/L
    assert table.censored[1, 1] and table.lloq_mg_per_l[1, 1] == pytest.approx(0.05)
    assert table.covariates["weight_kg"][0].tolist() == [70.0, 70.0, 71.0]


def test_unsorted_rows_are_sorted_with_doses_first() -> None:
    text = """patient,time_h,dose_mg,concentration
A,24,,800
A,0,400,
A,24,400,
"""
    table = read_long_csv(io.StringIO(text), concentration_unit="ng/mL").table
    assert table.kind[0].tolist() == [RecordKind.DOSE, RecordKind.DOSE, RecordKind.OBSERVATION]


def test_every_offending_row_is_listed() -> None:
    bad = """patient,time_h,dose_mg,concentration,unit,wt
P1,-1,400,,,70
P1,5,,980,mg/L,70
P1,6,,990,ug/L,70
P2,3,400,500,ng/mL,60
P3,x,400,,,60
P4,2,,,,60
P5,1,400,,,60
P5,2,,-3,ng/mL,60
"""
    with pytest.raises(CaseError) as info:
        _read(bad)
    message = str(info.value)
    assert "row 1: negative time" in message
    assert "row 2: unit differs from the declared ng/mL" in message  # mixed units
    assert "row 3" not in message  # ug/L is ng/mL: the same unit
    assert "row 4: a row is either a dose or a sample" in message
    assert "row 5: missing or non-numeric time" in message
    assert "row 6: neither a dose" in message
    assert "row 8: negative concentration" in message
    problems = info.value.fields["problems"]
    assert {p["column"] for p in problems} >= {"time_h", "unit", "dose_mg", "concentration"}


def test_sample_before_first_dose_and_missing_covariates_list_rows() -> None:
    text = """patient,time_h,dose_mg,concentration,wt
P1,0,400,,70
P1,5,,980,70
P2,3,,500,
P2,4,400,,
P3,1,,300,50
"""
    with pytest.raises(CaseError) as info:
        _read(text)
    message = str(info.value)
    assert "row 3: sample before the patient's first dose" in message
    assert "rows 3, 4: covariate weight_kg missing on every row of the patient" in message
    assert "row 5: patient without any dose" in message


def test_missing_columns_and_bad_unit_are_reported() -> None:
    with pytest.raises(CaseError, match="missing column"):
        read_long_csv(io.StringIO("patient,dose_mg\nA,400\n"), concentration_unit="ng/mL")
    with pytest.raises(UnitError):
        read_long_csv(io.StringIO(GOOD), concentration_unit="furlongs")
    with pytest.raises(CaseError, match="ISO 8601"):
        read_long_csv(
            io.StringIO("patient,datetime,dose_mg,concentration\nA,yesterday,400,\n"),
            concentration_unit="ng/mL",
        )
