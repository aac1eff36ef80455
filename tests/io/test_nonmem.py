"""Tests of imatinib_tdm.io: NONMEM-format datasets <-> EventTable."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from imatinib_tdm.case import load_case, load_demo_case
from imatinib_tdm.errors import CaseError, UnitError
from imatinib_tdm.io import (
    DEFAULT_CMT_ROUTES,
    case_to_nonmem_rows,
    load_nonmem_dataset,
    read_nonmem_dataset,
    write_nonmem_dataset,
)
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk.inputs import case_to_event_table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
D, B, X, P = RecordKind.DOSE, RecordKind.OBSERVATION, RecordKind.OTHER, RecordKind.PAD  # B: blood


def read(text: str, **options: object) -> EventTable:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a silent dataset must not warn
        return read_nonmem_dataset(io.StringIO(text), **options)  # type: ignore[arg-type]


def load(text: str, **options: object):  # type: ignore[no-untyped-def]
    return load_nonmem_dataset(io.StringIO(text), **options)  # type: ignore[arg-type]


def error_of(text: str, **options: object) -> CaseError:
    with pytest.raises(CaseError) as info:
        load(text, **options)
    return info.value


def assert_tables_equal(a: EventTable, b: EventTable) -> None:
    assert a.ids == b.ids
    for name in (
        "time_h",
        "kind",
        "amount_mg",
        "route",
        "rate_mg_per_h",
        "steady_state",
        "interval_h",
        "dv_mg_per_l",
        "censored",
        "lloq_mg_per_l",
        "occasion",
    ):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-14, err_msg=name)
    assert set(a.covariates) == set(b.covariates)
    for name in a.covariates:
        np.testing.assert_allclose(a.covariates[name], b.covariates[name], err_msg=name)


# -- columns and basic semantics -------------------------------------------------------------


def test_every_column_is_read() -> None:
    text = """ID,TIME,EVID,AMT,CMT,II,ADDL,SS,RATE,DV,MDV,OCC,WT
1,0,1,400,1,24,0,1,0,.,1,1,70
1,23.5,0,0,2,0,0,0,0,1.2,0,1,70
1,24,1,100,2,0,0,0,50,.,1,2,70
1,30,2,0,.,.,.,.,.,.,1,2,72
1,47,0,0,2,.,.,.,.,0.9,0,2,72
2,0,1,600,1,.,.,.,-2,.,1,1,80
2,5,0,.,.,.,.,.,.,2.5,0,1,80
"""
    table = read(text, covariates=["WT"])
    assert table.ids == ("1", "2")
    assert table.n_records == 5
    np.testing.assert_array_equal(table.kind, [[D, B, D, X, B], [D, B, P, P, P]])
    np.testing.assert_array_equal(table.time_h, [[0, 23.5, 24, 30, 47], [0, 5, 5, 5, 5]])
    np.testing.assert_array_equal(
        table.route[:, [0, 2]], [[Route.ORAL, Route.IV_INFUSION], [Route.ORAL, 0]]
    )
    assert table.rate_mg_per_h[0, 2] == 50.0 and table.rate_mg_per_h[1, 0] == 0.0
    assert table.steady_state[0, 0] == 1 and table.interval_h[0, 0] == 24.0
    assert table.interval_h[0, 2] == 0.0  # II only on SS records
    np.testing.assert_array_equal(table.occasion[0], [0, 0, 1, 1, 1])
    np.testing.assert_allclose(table.dv_mg_per_l[0, [1, 4]], [1.2, 0.9])
    assert np.isnan(table.dv_mg_per_l[0, [0, 2, 3]]).all()
    np.testing.assert_array_equal(table.covariates["WT"][0], [70, 70, 70, 72, 72])
    np.testing.assert_array_equal(table.covariates["WT"][1], [80] * 5)  # padding keeps values
    assert table.amount_mg[1, 0] == 600.0 and table.route[1, 0] == Route.ORAL  # RATE=-2


def test_whitespace_separated_with_comment_header_and_defaults() -> None:
    text = """# imatinib study, DV in ng/mL
C ID TIME AMT DV
C a comment line among the data
1 0 400 .
1 24 0 1500
"""
    table = read(text, dv_unit="ng/mL")
    np.testing.assert_array_equal(table.kind, [[D, B]])
    assert table.route[0, 0] == Route.ORAL  # CMT missing on a dose: CMT 1, the depot
    assert table.dv_mg_per_l[0, 1] == pytest.approx(1.5)


def test_evid_derived_from_mdv_and_amt() -> None:
    text = "ID,TIME,AMT,DV,MDV\n1,0,400,.,1\n1,2,0,.,1\n1,3,0,1.1,0\n"
    np.testing.assert_array_equal(read(text).kind, [[D, X, B]])
    no_mdv = "ID,TIME,AMT,DV\n1,0,400,.\n1,3,0,1.1\n"
    np.testing.assert_array_equal(read(no_mdv).kind, [[D, B]])


def test_evid_zero_with_mdv_one_is_not_an_observation() -> None:
    text = "ID,TIME,EVID,AMT,DV,MDV\n1,0,1,400,.,1\n1,3,0,0,.,1\n"
    np.testing.assert_array_equal(read(text).kind, [[D, X]])


def test_column_map_and_case_insensitive_names() -> None:
    text = "id,time,amt,CONC,visit\n1,0,400,.,1\n1,5,0,2,2\n"
    table = read(text, column_map={"DV": "CONC", "OCC": "VISIT"})
    assert table.dv_mg_per_l[0, 1] == 2.0
    np.testing.assert_array_equal(table.occasion, [[0, 1]])


def test_cmt_routes_override_and_default_mapping() -> None:
    assert dict(DEFAULT_CMT_ROUTES) == {1: Route.ORAL, 2: Route.IV_BOLUS}
    text = "ID,TIME,AMT,CMT,RATE,DV\n1,0,100,1,0,.\n1,1,100,1,200,.\n1,2,0,1,0,3\n"
    table = read(text, cmt_routes={1: Route.IV_BOLUS})  # ADVAN1: CMT 1 is central
    np.testing.assert_array_equal(table.route[0, :2], [Route.IV_BOLUS, Route.IV_INFUSION])


def test_ids_keep_file_order_and_numeric_ids_are_normalised() -> None:
    text = "ID,TIME,AMT,DV\n10.0,0,400,.\n10,1,0,1\n2,0,400,.\n"
    assert read(text).ids == ("10", "2")


# -- ADDL, SS ----------------------------------------------------------------------------------


def test_addl_expansion_equals_explicit_records() -> None:
    compact = "ID,TIME,AMT,II,ADDL,DV,MDV,WT\n1,0,400,24,3,.,1,70\n1,80,0,.,.,1.5,0,75\n"
    explicit = (
        "ID,TIME,AMT,II,ADDL,DV,MDV,WT\n"
        "1,0,400,0,0,.,1,70\n1,24,400,0,0,.,1,70\n1,48,400,0,0,.,1,70\n1,72,400,0,0,.,1,70\n"
        "1,80,0,.,.,1.5,0,75\n"
    )
    a, b = read(compact, covariates=["WT"]), read(explicit, covariates=["WT"])
    assert_tables_equal(a, b)
    np.testing.assert_array_equal(a.time_h, [[0, 24, 48, 72, 80]])


def test_addl_doses_interleave_with_observations_doses_first() -> None:
    text = "ID,TIME,AMT,II,ADDL,RATE,CMT,DV\n1,0,100,12,2,50,2,.\n1,12,0,.,.,.,2,4\n"
    table = read(text)
    np.testing.assert_array_equal(table.time_h, [[0, 12, 12, 24]])
    np.testing.assert_array_equal(table.kind, [[D, D, B, D]])
    np.testing.assert_array_equal(table.rate_mg_per_h[0, [0, 1, 3]], [50, 50, 50])
    assert (table.route[0, [0, 1, 3]] == Route.IV_INFUSION).all()


def test_ss_with_addl_keeps_ss_on_the_dose_only() -> None:
    text = "ID,TIME,AMT,II,ADDL,SS,DV\n1,0,400,24,1,2,.\n1,30,0,.,.,.,1\n"
    table = read(text)
    np.testing.assert_array_equal(table.steady_state, [[2, 0, 0]])
    np.testing.assert_array_equal(table.interval_h, [[24, 0, 0]])


def test_evid4_before_any_dose_is_a_dose_and_with_ss_after_one() -> None:
    text = (
        "ID,TIME,EVID,AMT,II,SS,DV\n1,0,3,0,.,.,.\n1,0,4,400,.,.,.\n1,24,4,400,24,2,.\n"
        "1,30,0,0,.,.,2\n"
    )
    table = read(text)
    np.testing.assert_array_equal(table.kind, [[D, X, D, B]])  # EVID 3 first: a no-op
    np.testing.assert_array_equal(table.steady_state, [[0, 0, 1, 0]])


def test_reset_after_a_dose_is_rejected_with_rows() -> None:
    text = "ID,TIME,EVID,AMT,DV\n1,0,1,400,.\n1,24,3,0,.\n1,48,4,400,.\n1,50,0,0,1\n"
    error = error_of(text)
    assert "rows 2, 3" in str(error) and "reset" in str(error)


def test_pending_addl_at_a_steady_state_reset_is_rejected() -> None:
    text = "ID,TIME,AMT,II,ADDL,SS,DV\n1,0,400,24,5,0,.\n1,48,400,24,0,1,.\n1,50,0,.,.,.,1\n"
    assert "row 2" in str(error_of(text))


# -- covariate conventions ------------------------------------------------------------------

# WT changes between the two doses (70 -> 80 on the second dose), and is missing on row 3.
CHANGE = """ID,TIME,AMT,DV,MDV,WT
1,0,400,.,1,70
1,12,0,1.0,0,70
1,24,400,.,1,80
1,30,0,2.0,0,.
1,36,0,1.5,0,90
"""


def test_locf_stores_own_values_carried_forward() -> None:
    table = read(CHANGE, covariates=["WT"])
    np.testing.assert_array_equal(table.time_h, [[0, 12, 24, 30, 36]])
    np.testing.assert_array_equal(table.covariates["WT"], [[70, 70, 80, 80, 90]])


def test_nonmem_next_stores_the_next_records_value_and_splits_doses() -> None:
    table = read(CHANGE, covariates=["WT"], time_varying="nonmem_next")
    # row 1 dose at 0: own 70, next 70 (no split); row 2 obs stores row 3's 80 (interval (12,24]
    # uses 80 in NONMEM); row 3 dose keeps 80 and the next row's value is 90 (missing WT on
    # row 4 takes the next row's value): an OTHER record at 24 carries 90; rows 4, 5 store 90.
    np.testing.assert_array_equal(table.time_h, [[0, 12, 24, 24, 30, 36]])
    np.testing.assert_array_equal(table.kind, [[D, B, D, X, B, B]])
    np.testing.assert_array_equal(table.covariates["WT"], [[70, 80, 80, 90, 90, 90]])


def test_addl_doses_take_the_value_by_convention() -> None:
    text = "ID,TIME,AMT,II,ADDL,DV,MDV,WT\n1,0,400,24,2,.,1,70\n1,30,0,.,.,1,0,80\n"
    locf = read(text, covariates=["WT"])
    np.testing.assert_array_equal(locf.time_h, [[0, 24, 30, 48]])
    np.testing.assert_array_equal(locf.covariates["WT"], [[70, 70, 80, 80]])
    nm = read(text, covariates=["WT"], time_varying="nonmem_next")
    # the dose at 0 keeps 70 and is followed by 80 (the ADDL dose at 24 takes the value of row 2,
    # the next data row); the ADDL dose after the last row keeps the last value
    np.testing.assert_array_equal(nm.time_h, [[0, 0, 24, 30, 48]])
    np.testing.assert_array_equal(nm.covariates["WT"], [[70, 80, 80, 80, 80]])


def test_missing_leading_values_are_filled_with_a_warning() -> None:
    text = "ID,TIME,AMT,DV,WT\n1,0,400,.,.\n1,5,0,1,70\n"
    dataset = load(text, covariates=["WT"])
    np.testing.assert_array_equal(dataset.table.covariates["WT"], [[70, 70]])
    assert [w.code for w in dataset.warnings] == ["covariate_filled_backward"]
    assert dataset.warnings[0].rows == (1,)
    with pytest.warns(UserWarning, match="row 1: WT missing"):
        read_nonmem_dataset(io.StringIO(text), covariates=["WT"])


def test_covariate_missing_for_a_whole_id_lists_the_ids() -> None:
    text = "ID,TIME,AMT,DV,WT\n1,0,400,.,70\n2,0,400,.,.\n3,0,400,.,.\n"
    error = error_of(text, covariates=["WT"])
    assert "WT" in str(error) and "2, 3" in str(error)


# -- BLQ and units ---------------------------------------------------------------------------


def test_blq_flag_and_lloq_column() -> None:
    text = """ID,TIME,AMT,DV,MDV,BLQ,LLOQ
1,0,400,.,1,0,.
1,1,0,.,0,1,50
1,2,0,40,0,0,50
1,3,0,60,0,0,50
1,4,0,50,0,1,.
"""
    dataset = load(text, dv_unit="ng/mL")
    table = dataset.table
    np.testing.assert_array_equal(table.censored, [[False, True, True, False, True]])
    np.testing.assert_allclose(table.lloq_mg_per_l[0, 1:], [0.05, 0.05, 0.05, 0.05])
    # censored values are kept as given (never 0 or LLOQ/2); the missing one stays nan
    assert np.isnan(table.dv_mg_per_l[0, 1])
    assert table.dv_mg_per_l[0, 2] == pytest.approx(0.04)
    assert [(w.code, w.rows) for w in dataset.warnings] == [("censored_without_flag", (3,))]


def test_blq_on_a_non_observation_is_reported() -> None:
    text = "ID,TIME,AMT,DV,MDV,BLQ,LLOQ\n1,0,400,.,1,0,.\n1,1,0,.,1,1,0.05\n"
    dataset = load(text)
    assert [w.code for w in dataset.warnings] == ["blq_flag_not_observation"]
    np.testing.assert_array_equal(dataset.table.kind, [[D, X]])


def test_blq_columns_can_be_disabled() -> None:
    text = "ID,TIME,AMT,DV,LLOQ\n1,0,400,.,.\n1,1,0,0.01,0.05\n"
    table = read(text, lloq_column=None)
    assert not table.censored.any() and np.isnan(table.lloq_mg_per_l).all()


@pytest.mark.parametrize(
    ("unit", "factor"), [("ng/mL", 1e-3), ("ug/mL", 1.0), ("umol/L", 0.4936), ("mg/L", 1.0)]
)
def test_dv_unit_conversion(unit: str, factor: float) -> None:
    text = "ID,TIME,AMT,DV,LLOQ\n1,0,400,.,.\n1,1,0,1000,10\n"
    table = read(text, dv_unit=unit)
    assert table.dv_mg_per_l[0, 1] == pytest.approx(1000 * factor)
    assert table.lloq_mg_per_l[0, 1] == pytest.approx(10 * factor)


def test_unit_column_must_hold_one_unit_matching_dv_unit() -> None:
    ok = "ID,TIME,AMT,DV,DVUNIT\n1,0,400,.,.\n1,1,0,800,ng/ml\n"
    assert read(ok, dv_unit="ng/mL").dv_mg_per_l[0, 1] == pytest.approx(0.8)
    assert "dv_unit='ng/mL'" in str(error_of(ok))
    mixed = "ID,TIME,AMT,DV,DVUNIT\n1,0,400,.,.\n1,1,0,800,ng/mL\n1,2,0,1,mg/L\n"
    message = str(error_of(mixed, dv_unit="ng/mL"))
    assert "one DV unit per file" in message and "row 2" in message and "row 3" in message


def test_unknown_dv_unit() -> None:
    with pytest.raises(UnitError):
        load("ID,TIME,AMT,DV\n1,0,400,.\n", dv_unit="mg")


def test_observation_before_a_dose_at_the_same_time_is_reordered_and_reported() -> None:
    text = "ID,TIME,AMT,DV,MDV\n1,0,400,.,1\n1,24,0,1.0,0\n1,24,400,.,1\n"
    dataset = load(text)
    np.testing.assert_array_equal(dataset.table.kind, [[D, D, B]])
    assert [(w.code, w.rows) for w in dataset.warnings] == [("observation_before_dose", (2,))]


# -- errors list their rows ------------------------------------------------------------------

BAD_CASES = [
    ("ID,TIME,AMT,DV\n1,0,400,.\n1,-1,0,1\n1,-2,0,1\n", ["rows 2, 3", "negative"]),
    ("ID,TIME,AMT,DV\n1,0,400,.\n1,5,0,1\n1,4,0,1\n", ["row 3", "TIME decreases"]),
    ("ID,TIME,AMT,DV\n1,0,abc,.\n1,x,0,1\n", ["row 1", "AMT is not a finite", "TIME"]),
    ("ID,TIME,AMT,DV\n1,0,-400,.\n1,1,0,1\n1,2,-1,.\n", ["rows 1, 3", "AMT is negative"]),
    ("ID,TIME,AMT,DV\n1,1,400,.\n1,0.5,0,1\n", ["row 2", "TIME decreases"]),
    ("ID,TIME,AMT,DV\n1,5,0,1\n1,6,400,.\n1,7,0,1\n", ["row 1", "before the first dose"]),
    ("ID,TIME,AMT,DV,MDV\n1,0,400,.,1\n1,2,0,.,0\n1,3,0,.,0\n", ["rows 2, 3", "DV is missing"]),
    ("ID,TIME,AMT,DV\n1,0,400,.\n2,0,400,.\n1,2,0,1\n", ["row 3", "contiguous"]),
    ("ID,TIME,AMT,CMT,RATE,DV\n1,0,400,1,100,.\n", ["row 1", "RATE > 0 into the oral"]),
    ("ID,TIME,AMT,CMT,DV\n1,0,400,3,.\n", ["row 1", "CMT"]),
    ("ID,TIME,AMT,CMT,DV\n1,0,400,1,.\n1,1,0,1,2\n", ["row 2", "not the central"]),
    ("ID,TIME,AMT,SS,DV\n1,0,400,1,.\n", ["row 1", "II > 0"]),
    ("ID,TIME,AMT,ADDL,DV\n1,0,400,3,.\n", ["row 1", "ADDL > 0 needs II"]),
    ("ID,TIME,AMT,EVID,DV\n1,0,400,5,.\n", ["row 1", "EVID must be"]),
    ("ID,TIME,AMT,DV,BLQ\n1,0,400,.,.\n1,1,0,.,1\n", ["row 2", "LLOQ is unknown"]),
    ("ID,TIME,AMT,DV\n1,0,400,.\n1,1,0,-2.3\n", ["row 2", "log-transformed"]),
    ("ID,TIME,AMT,DV,OCC\n1,0,400,.,0\n", ["row 1", "OCC must be >= 1"]),
    ("ID,TIME,AMT,DV,EVID\n1,0,400,.,0\n", ["row 1", "AMT > 0 on a record that is not a dose"]),
    ("ID,TIME,AMT,DV\n1,0,400,.\n1,1,0,1,9\n", ["row 2", "number of fields"]),
    ("ID,TIME,AMT,DV\n1,0,0,1\n", ["row 1", "no dose"]),
]


@pytest.mark.parametrize(("text", "words"), BAD_CASES)
def test_bad_input_lists_the_rows(text: str, words: list[str]) -> None:
    message = str(error_of(text))
    for word in words:
        assert word in message, (word, message)


def test_all_problems_are_reported_together() -> None:
    text = "ID,TIME,AMT,DV\n1,-1,400,.\n1,2,-5,.\n"
    error = error_of(text)
    assert "row 1: TIME is negative" in str(error) and "row 2: AMT is negative" in str(error)
    assert len(error.fields["problems"]) == 2


def test_missing_required_columns_are_named() -> None:
    error = error_of("ID,TIME,DV\n1,0,1\n", covariates=["WT"])
    assert "AMT" in str(error) and "WT" in str(error)


def test_header_is_required() -> None:
    assert "header" in str(error_of("1,0,400,.\n"))


def test_bad_options() -> None:
    with pytest.raises(CaseError, match="time_varying"):
        load("ID,TIME,AMT,DV\n1,0,400,.\n", time_varying="nocb")
    with pytest.raises(CaseError, match="column_map"):
        load("ID,TIME,AMT,DV\n1,0,400,.\n", column_map={"CONC": "DV"})


# -- round trip, files, cases ----------------------------------------------------------------


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    text = """ID,TIME,EVID,AMT,CMT,II,ADDL,SS,RATE,DV,MDV,BLQ,LLOQ,OCC,WT
1,0,1,400,1,24,2,1,0,.,1,0,.,1,70
1,30,0,0,2,.,.,.,.,1200,0,0,50,1,70
1,40,0,0,2,.,.,.,.,.,0,1,50,2,75
1,50,1,100,2,0,0,0,25,.,1,0,.,2,75
2,0,1,600,1,0,0,0,0,.,1,0,.,1,90
2,2,2,0,.,.,.,.,.,.,1,0,.,1,91
"""
    for convention in ("locf", "nonmem_next"):
        table = read(text, covariates=["WT"], dv_unit="ng/mL", time_varying=convention)
        path = tmp_path / f"{convention}.csv"
        write_nonmem_dataset(table, path, dv_unit="ng/mL")
        again = read_nonmem_dataset(path, covariates=["WT"], dv_unit="ng/mL")
        assert_tables_equal(table, again)
        assert again.source == path.name


def test_round_trip_in_mg_per_l_is_exact() -> None:
    table = read(CHANGE, covariates=["WT"])
    buffer = io.StringIO()
    write_nonmem_dataset(table, buffer)
    again = read(buffer.getvalue(), covariates=["WT"])
    assert_tables_equal(table, again)


def test_missing_file_is_a_case_error(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="cannot read"):
        read_nonmem_dataset(tmp_path / "absent.csv")


def test_case_event_table_and_nonmem_rows_agree() -> None:
    case = load_case(EXAMPLES / "cml-dose-change-hours.yaml")
    table = case_to_event_table(case)
    rows = case_to_nonmem_rows(case, dv_unit="ng/mL")
    doses = [r for r in rows if r["EVID"] == 1]
    samples = [r for r in rows if r["EVID"] == 0]
    assert [(r["TIME"], r["AMT"]) for r in doses] == case.dose_events()
    np.testing.assert_allclose([r["TIME"] for r in samples], case.sample_times_h())
    np.testing.assert_allclose([r["DV"] for r in samples], case.concentrations_ng_per_ml())
    assert all(r["CMT"] == 1 and r["RATE"] == 0 for r in doses)
    assert all(r["ID"] == case.patient.id for r in rows)
    for name, value in case.covariate_values().items():
        assert all(r[name] == value for r in rows)
    # the rows, written and read back, give the case's event table
    buffer = io.StringIO()
    write_nonmem_dataset(table, buffer, dv_unit="ng/mL")
    again = read(buffer.getvalue(), covariates=list(table.covariates), dv_unit="ng/mL")
    assert_tables_equal(table, again)


def test_demo_case_rows() -> None:
    rows = case_to_nonmem_rows(load_demo_case())
    assert len(rows) == 51 and rows[-1]["EVID"] == 0
    assert math.isclose(float(rows[-1]["DV"] or 0), 0.82)
