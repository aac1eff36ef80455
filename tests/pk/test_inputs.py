"""Tests of imatinib_tdm.pk.inputs: the case -> engine boundary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imatinib_tdm.case import load_case, load_demo_case, parse_case
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk._structures import DoseHistory
from imatinib_tdm.pk.inputs import (
    case_concentrations_mg_per_l,
    case_covariates,
    case_sample_times_h,
    case_to_dose_history,
    case_to_event_table,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_dose_history() -> None:
    history = case_to_dose_history(load_demo_case())
    assert isinstance(history, DoseHistory)
    assert history.n_doses == 50
    np.testing.assert_allclose(history.times_h, 24.0 * np.arange(50))
    np.testing.assert_allclose(history.amounts_mg, 400.0)


def test_dose_change_and_missed_dose_on_the_grid() -> None:
    case = load_case(EXAMPLES / "cml-dose-change-hours.yaml")
    history = case_to_dose_history(case)
    assert history.n_doses == 50  # 30 + 20 scheduled administrations, missed one included
    assert history.times_h[0] == 0.0
    assert np.all(np.diff(history.times_h) > 0)
    missed = int(np.flatnonzero(history.times_h == 1008.0)[0])
    assert history.amounts_mg[missed] == 0.0  # DoseHistory: a zero amount is a missed dose
    assert np.count_nonzero(history.amounts_mg == 400.0) == 30
    assert np.count_nonzero(history.amounts_mg == 600.0) == 19
    assert float(history.amounts_mg.sum()) == 30 * 400 + 19 * 600


def test_history_matches_dose_events() -> None:
    case = load_case(EXAMPLES / "cml-clock-times.json")
    history = case_to_dose_history(case)
    events = case.dose_events(include_missed=True)
    np.testing.assert_allclose(history.times_h, [t for t, _ in events])
    np.testing.assert_allclose(history.amounts_mg, [a for _, a in events])


def test_twice_daily_history() -> None:
    history = case_to_dose_history(load_case(EXAMPLES / "gist-twice-daily.yaml"))
    assert history.n_doses == 60
    np.testing.assert_allclose(np.diff(history.times_h), 12.0)


def test_sample_times_and_concentrations() -> None:
    case = load_case(EXAMPLES / "cml-dose-change-hours.yaml")
    times = case_sample_times_h(case)
    assert times.dtype == np.float64 and times.shape == (2,)
    np.testing.assert_allclose(times, [695.5, 1199.0])
    np.testing.assert_allclose(case_concentrations_mg_per_l(case), [0.91, 1.45])


def test_molar_concentrations_are_converted_with_free_base_molar_mass() -> None:
    case = load_case(EXAMPLES / "gist-twice-daily.yaml")
    np.testing.assert_allclose(case_concentrations_mg_per_l(case), [2.9 * 0.4936])


def test_case_without_samples() -> None:
    case = parse_case(
        {"patient": {"id": "x", "indication": "CML"}, "doses": [{"time": 0, "amount_mg": 400}]}
    )
    assert case_sample_times_h(case).shape == (0,)
    assert case_concentrations_mg_per_l(case).shape == (0,)
    history = case_to_dose_history(case)
    assert history.n_doses == 1


def test_covariates_are_the_case_values() -> None:
    case = load_demo_case()
    assert case_covariates(case) == case.covariate_values()
    assert case_covariates(case)["agp_g_per_l"] == pytest.approx(1.1)


def test_inputs_is_the_only_pk_module_importing_case() -> None:
    pk_dir = Path(__file__).resolve().parents[2] / "src" / "imatinib_tdm" / "pk"
    offenders = [
        path.name
        for path in pk_dir.rglob("*.py")
        if path.name != "inputs.py" and "imatinib_tdm.case" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_case_to_event_table_one_individual_doses_then_samples() -> None:
    case = load_case(EXAMPLES / "cml-dose-change-hours.yaml")
    table = case_to_event_table(case)
    assert isinstance(table, EventTable)
    assert table.ids == (case.patient.id,) and table.n_patients == 1
    dose = table.is_dose[0]
    obs = table.is_observation[0]
    assert int(dose.sum()) == len(case.dose_events()) == 49  # the missed dose is left out
    np.testing.assert_allclose(table.time_h[0, dose], [t for t, _ in case.dose_events()])
    np.testing.assert_allclose(table.amount_mg[0, dose], [a for _, a in case.dose_events()])
    assert (table.route[0, dose] == Route.ORAL).all()
    assert table.time_h[0, 0] == 0.0 and np.all(np.diff(table.time_h[0]) >= 0)
    np.testing.assert_allclose(table.time_h[0, obs], case_sample_times_h(case))
    np.testing.assert_allclose(table.dv_mg_per_l[0, obs], [0.91, 1.45])
    np.testing.assert_allclose(table.lloq_mg_per_l[0, obs], [0.05, 0.05])
    assert not table.censored.any()
    assert (table.occasion == 0).all() and not (table.kind == RecordKind.PAD).any()
    for name, value in case.covariate_values().items():
        np.testing.assert_array_equal(table.covariates[name], value)


def test_case_to_event_table_censors_blq_samples_with_their_lloq() -> None:
    case = parse_case(
        {
            "patient": {"id": "b", "indication": "CML", "weight_kg": 70},
            "doses": [{"time": 0, "amount_mg": 400, "interval_h": 24, "count": 2}],
            "samples": [
                {"time": 24, "concentration": 0, "unit": "ng/mL", "lloq": 50},
                {"time": 47, "concentration": 900, "unit": "ng/mL", "lloq": 50},
            ],
        }
    )
    table = case_to_event_table(case)
    dose, obs = RecordKind.DOSE, RecordKind.OBSERVATION
    # the dose at 24 h comes before the sample at 24 h
    np.testing.assert_array_equal(table.kind, [[dose, dose, obs, obs]])
    np.testing.assert_array_equal(table.censored, [[False, False, True, False]])
    np.testing.assert_allclose(table.lloq_mg_per_l[0, 2:], [0.05, 0.05])
    assert table.dv_mg_per_l[0, 2] == 0.0  # kept as reported, flagged censored (never LLOQ/2)
    np.testing.assert_array_equal(table.covariates["weight_kg"], 70.0)
