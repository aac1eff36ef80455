"""Record-by-record exact engine (``pk._event_engine``) against superposition, ODEs and formulas.

* Constant parameters: equal to ``predict_dose_matrix`` / ``predict_concentrations`` within
  1e-10 relative (both are exact closed forms; only rounding differs).
* Time-varying parameters: equal within 1e-7 relative to a piecewise DOP853 integration
  (rtol 1e-12) written here with the same semantics, independently of the engine.
* Steady state: SS=1 equals the end of a long regimen, SS=2 equals superposition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk import (
    Absorption,
    DoseHistory,
    PKParameters,
    Structure,
    predict_concentrations,
)
from imatinib_tdm.pk._dose_matrix import DoseMatrix, predict_dose_matrix
from imatinib_tdm.pk._event_engine import RecordParameters, predict_event_table
from imatinib_tdm.pk._events import EventTable, RecordKind, Route

OBS, DOSE, OTHER = RecordKind.OBSERVATION, RecordKind.DOSE, RecordKind.OTHER
ORAL, BOLUS, INFUSION = Route.ORAL, Route.IV_BOLUS, Route.IV_INFUSION
FIELDS = (
    "cl_l_per_h",
    "v_l",
    "bioavailability_frac",
    "ka_per_h",
    "q_l_per_h",
    "v2_l",
    "d1_h",
    "tlag_h",
    "ktr_per_h",
    "n_transit",
)


@dataclass(frozen=True)
class Rec:
    time: float
    kind: RecordKind = OBS
    amount: float = 0.0
    route: Route = ORAL
    rate: float = 0.0
    ss: int = 0
    ii: float = 0.0


def make_table(rows: list[list[Rec]]) -> EventTable:
    """Event table of several individuals, padded with PAD records at the last time."""
    n, r = len(rows), max(len(row) for row in rows)
    time = np.zeros((n, r))
    kind = np.full((n, r), int(RecordKind.PAD), dtype=np.int64)
    amount, rate, interval = np.zeros((n, r)), np.zeros((n, r)), np.zeros((n, r))
    route = np.zeros((n, r), dtype=np.int64)
    ss = np.zeros((n, r), dtype=np.int64)
    for i, row in enumerate(rows):
        for k, rec in enumerate(row):
            time[i, k], kind[i, k], amount[i, k] = rec.time, rec.kind, rec.amount
            route[i, k], rate[i, k], ss[i, k], interval[i, k] = rec.route, rec.rate, rec.ss, rec.ii
        time[i, len(row) :] = row[-1].time
    return EventTable(
        ids=tuple(str(i) for i in range(n)),
        time_h=time,
        kind=kind,
        amount_mg=amount,
        route=route,
        rate_mg_per_h=rate,
        steady_state=ss,
        interval_h=interval,
        dv_mg_per_l=np.full((n, r), np.nan),
        censored=np.zeros((n, r), dtype=np.bool_),
        lloq_mg_per_l=np.full((n, r), np.nan),
        occasion=np.zeros((n, r), dtype=np.int64),
    )


def record_params(rows: list[list[dict[str, float]]], r: int) -> RecordParameters:
    """Per-record parameter dicts -> RecordParameters; padding gets nan (must be ignored)."""
    names = [f for f in FIELDS if f in rows[0][0]]
    out: dict[str, Any] = {}
    for name in names:
        arr = np.full((len(rows), r), np.nan)
        for i, row in enumerate(rows):
            arr[i, : len(row)] = [values[name] for values in row]
        out[name] = arr
    return RecordParameters(**out)


def close(actual: np.ndarray, expected: np.ndarray, rel: float) -> float:
    """Largest error relative to max(|expected|, 1e-3·row peak, 1e-9 mg/L).

    The floors cover values far below the peak (just after a dose, or after dozens of
    half-lives: 1e-9 mg/L is 1e-6 ng/mL), where the ODE reference's own absolute tolerance
    (1e-14 mg) dominates the comparison.
    """
    peak = np.nanmax(np.abs(expected), axis=-1, keepdims=True)
    floor = np.maximum(1e-3 * peak, 1e-9)
    err = np.abs(actual - expected) / np.maximum(np.abs(expected), floor)
    worst = float(np.nanmax(err)) if np.any(np.isfinite(err)) else 0.0
    assert worst <= rel, worst
    return worst


# --------------------------------------------------------------------------------------------
# ODE reference (one individual), piecewise between events, same semantics as the engine


def ode_reference(
    structure: Structure, params: list[dict[str, float]], records: list[Rec]
) -> np.ndarray:
    events: list[tuple[float, int, int, str, float]] = []  # (time, extra?, seq, action, value)
    for k, rec in enumerate(records):
        events.append((rec.time, 0, k, "record", 0.0))
        if rec.kind != DOSE:
            continue
        par = params[k]
        lag = par.get("tlag_h", 0.0)
        if rec.route == ORAL:
            given_mg = par["bioavailability_frac"] * rec.amount
            if structure.absorption is Absorption.FIRST_ORDER:
                if lag > 0:
                    events.append((rec.time + lag, 1, k, "depot", given_mg))
            else:
                r = given_mg / par["d1_h"]
                if lag > 0:
                    events.append((rec.time + lag, 1, k, "start", r))
                events.append((rec.time + lag + par["d1_h"], 1, k, "end", r))
        elif rec.route == INFUSION:
            events.append((rec.time + rec.amount / rec.rate, 1, k, "end", rec.rate))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    y = np.zeros(3)
    rate = 0.0
    owner = 0
    now = events[0][0]
    out = np.full(len(records), np.nan)
    for time, _extra, k, action, value in events:
        if time > now:
            par = params[owner]
            v = par["v_l"]
            k10 = par["cl_l_per_h"] / v
            k12 = par.get("q_l_per_h", 0.0) / v if structure.n_compartments == 2 else 0.0
            k21 = par["q_l_per_h"] / par["v2_l"] if structure.n_compartments == 2 else 0.0
            ka = par.get("ka_per_h", 0.0)
            inflow = rate

            def rhs(_t: float, y: np.ndarray, ka=ka, k10=k10, k12=k12, k21=k21, inflow=inflow):  # type: ignore[no-untyped-def]
                return np.array(
                    [
                        -ka * y[0],
                        ka * y[0] - (k10 + k12) * y[1] + k21 * y[2] + inflow,
                        k12 * y[1] - k21 * y[2],
                    ]
                )

            sol = solve_ivp(rhs, (now, time), y, method="DOP853", rtol=1e-12, atol=1e-14)
            assert sol.success
            y = sol.y[:, -1].copy()
            now = time
        if action == "record":
            owner = k
            rec = records[k]
            if rec.kind == DOSE:
                par = params[k]
                if rec.route == BOLUS:
                    y[1] += rec.amount
                elif rec.route == INFUSION:
                    rate += rec.rate
                elif par.get("tlag_h", 0.0) == 0.0:
                    if structure.absorption is Absorption.FIRST_ORDER:
                        y[0] += par["bioavailability_frac"] * rec.amount
                    else:
                        rate += par["bioavailability_frac"] * rec.amount / par["d1_h"]
            out[k] = y[1] / params[k]["v_l"]
        elif action == "depot":
            y[0] += value
        elif action == "start":
            rate += value
        else:
            rate -= value
    return out


# --------------------------------------------------------------------------------------------
# constant parameters: superposition


def _base(draw: st.DrawFn, n_cmt: int, absorption: Absorption, has_lag: bool) -> dict[str, float]:
    par = {
        "cl_l_per_h": draw(st.floats(1.0, 40.0)),
        "v_l": draw(st.floats(20.0, 800.0)),
        "bioavailability_frac": draw(st.floats(0.2, 1.0)),
    }
    if n_cmt == 2:
        par.update(q_l_per_h=draw(st.floats(0.5, 40.0)), v2_l=draw(st.floats(10.0, 500.0)))
    if absorption is Absorption.FIRST_ORDER:
        par["ka_per_h"] = draw(st.floats(0.05, 5.0))
    else:
        par["d1_h"] = draw(st.floats(0.2, 30.0))
    if has_lag:
        par["tlag_h"] = draw(st.floats(0.0, 3.0))
    return par


@st.composite
def constant_designs(draw: st.DrawFn) -> tuple[Structure, list[dict[str, float]], list[list[Rec]]]:
    n_cmt = draw(st.sampled_from([1, 2]))
    absorption = draw(st.sampled_from([Absorption.FIRST_ORDER, Absorption.ZERO_ORDER]))
    has_lag = draw(st.booleans())
    structure = Structure(n_cmt, absorption, has_lag)
    n_patients = draw(st.integers(1, 3))
    params, rows = [], []
    for _ in range(n_patients):
        params.append(_base(draw, n_cmt, absorption, has_lag))
        n_doses = draw(st.integers(1, 6))
        gaps = draw(st.lists(st.floats(0.5, 36.0), min_size=n_doses, max_size=n_doses))
        dose_times = np.cumsum(gaps) - gaps[0]
        records = []
        for t in dose_times:
            route = draw(st.sampled_from([ORAL, ORAL, BOLUS, INFUSION]))
            amount = draw(st.sampled_from([0.0, 100.0, 400.0, 600.0]))
            rate = draw(st.floats(10.0, 400.0)) if route == INFUSION else 0.0
            records.append(Rec(float(t), DOSE, amount, route, rate))
        horizon = float(dose_times[-1]) + 48.0
        obs = draw(st.lists(st.floats(0.0, horizon), min_size=1, max_size=8))
        obs += [float(dose_times[0]), float(dose_times[-1])]  # samples at dose times
        records += [Rec(t) for t in obs]
        # doses first at equal times (the order superposition assumes)
        records.sort(key=lambda rec: (rec.time, rec.kind != DOSE))
        rows.append(records)
    return structure, params, rows


def superposition(
    structure: Structure, params: list[dict[str, float]], rows: list[list[Rec]], table: EventTable
) -> np.ndarray:
    pk = PKParameters.create(**{k: [p[k] for p in params] for k in params[0]})
    dose = table.kind == DOSE
    doses = DoseMatrix(
        times_h=table.time_h,
        amounts_mg=np.where(dose, table.amount_mg, 0.0),
        route=table.route,
        rate_mg_per_h=table.rate_mg_per_h,
    )
    expected = predict_dose_matrix(structure, pk, doses, table.time_h)
    expected[table.kind == RecordKind.PAD] = np.nan
    return expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=constant_designs())
def test_constant_parameters_equal_superposition(design: Any) -> None:
    structure, params, rows = design
    table = make_table(rows)
    rp = record_params(
        [[p] * len(row) for p, row in zip(params, rows, strict=True)], table.n_records
    )
    actual = predict_event_table(structure, rp, table)
    expected = superposition(structure, params, rows, table)
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    close(actual, expected, 1e-10)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=constant_designs())
def test_constant_oral_equals_predict_concentrations(design: Any) -> None:
    structure, params, rows = design
    rows = [[Rec(r.time, r.kind, r.amount) for r in row] for row in rows]  # all oral
    table = make_table(rows)
    rp = record_params(
        [[p] * len(row) for p, row in zip(params, rows, strict=True)], table.n_records
    )
    actual = predict_event_table(structure, rp, table)
    for i, (par, row) in enumerate(zip(params, rows, strict=True)):
        doses = [r for r in row if r.kind == DOSE]
        history = DoseHistory.create([r.time for r in doses], [r.amount for r in doses])
        expected = predict_concentrations(
            structure, PKParameters.create(**par), history, [r.time for r in row]
        )
        close(actual[i, : len(row)], expected[0], 1e-10)


# --------------------------------------------------------------------------------------------
# time-varying parameters: ODE reference

ONE_FO = {"cl_l_per_h": 12.0, "v_l": 250.0, "bioavailability_frac": 0.9, "ka_per_h": 0.7}
TWO_FO = {**ONE_FO, "q_l_per_h": 8.0, "v2_l": 120.0}


def _scenario(name: str) -> tuple[Structure, list[dict[str, float]], list[Rec]]:
    if name in ("clearance_change_1cmt", "clearance_change_2cmt"):
        base = ONE_FO if name.endswith("1cmt") else TWO_FO
        structure = Structure(1 if name.endswith("1cmt") else 2, Absorption.FIRST_ORDER)
        records = [
            Rec(0.0, DOSE, 400.0),
            Rec(6.0),
            Rec(12.0, DOSE, 400.0),
            Rec(18.0, OTHER),  # covariate change between doses
            Rec(20.0),
            Rec(24.0, DOSE, 400.0),
            Rec(30.0),
            Rec(48.0),
        ]
        params = [base] * 3 + [{**base, "cl_l_per_h": 25.0}] * 5
        return structure, params, records
    if name == "occasion_change":
        structure = Structure(2, Absorption.FIRST_ORDER)
        occ2 = {
            **TWO_FO,
            "cl_l_per_h": 9.0,
            "v_l": 300.0,
            "ka_per_h": 1.4,
            "bioavailability_frac": 0.7,
            "q_l_per_h": 11.0,
        }
        records = [Rec(0.0, DOSE, 600.0), Rec(3.0), Rec(24.0), Rec(24.0, DOSE, 600.0)]
        records += [Rec(26.0), Rec(48.0, DOSE, 400.0), Rec(60.0)]
        params = [TWO_FO] * 3 + [occ2] * 4  # occasion 2 starts at the second dose
        return structure, params, records
    if name == "lag_zero_order_crossing":
        structure = Structure(2, Absorption.ZERO_ORDER, has_lag=True)
        base = {
            "cl_l_per_h": 12.0,
            "v_l": 250.0,
            "bioavailability_frac": 0.9,
            "d1_h": 4.0,
            "tlag_h": 1.5,
            "q_l_per_h": 8.0,
            "v2_l": 120.0,
        }
        changed = {**base, "cl_l_per_h": 20.0, "v2_l": 90.0, "d1_h": 2.0, "tlag_h": 0.5}
        records = [
            Rec(0.0, DOSE, 400.0),  # lag ends at 1.5, input until 5.5
            Rec(1.0, OTHER),  # change inside the lag
            Rec(3.0, OTHER),  # change during the input
            Rec(4.0),
            Rec(10.0, DOSE, 400.0),  # D1 2, lag 0.5 of this record
            Rec(10.2, OTHER),
            Rec(11.0),
            Rec(16.0),
        ]
        params = [base, base, changed, changed, changed, base, base, base]
        return structure, params, records
    if name == "lag_first_order_crossing":
        structure = Structure(1, Absorption.FIRST_ORDER, has_lag=True)
        base = {**ONE_FO, "tlag_h": 1.5}
        changed = {**base, "ka_per_h": 2.0, "cl_l_per_h": 6.0}
        records = [Rec(0.0, DOSE, 400.0), Rec(1.0, OTHER), Rec(2.0), Rec(12.0, DOSE, 400.0)]
        records += [Rec(12.0, OTHER), Rec(13.0), Rec(20.0)]
        params = [base, changed, changed, changed, base, base, base]
        return structure, params, records
    if name == "infusion_spanning_change":
        structure = Structure(2, Absorption.FIRST_ORDER)
        records = [
            Rec(0.0, DOSE, 600.0, INFUSION, 100.0),  # runs 0-6 h
            Rec(1.0),
            Rec(2.0, OTHER),
            Rec(4.0),
            Rec(5.0, DOSE, 200.0, BOLUS),
            Rec(8.0),
            Rec(24.0),
        ]
        changed = {**TWO_FO, "cl_l_per_h": 30.0, "v_l": 200.0}
        params = [TWO_FO, TWO_FO, changed, changed, changed, changed, TWO_FO]
        return structure, params, records
    raise AssertionError(name)


SCENARIOS = [
    "clearance_change_1cmt",
    "clearance_change_2cmt",
    "occasion_change",
    "lag_zero_order_crossing",
    "lag_first_order_crossing",
    "infusion_spanning_change",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_time_varying_against_ode(name: str) -> None:
    structure, params, records = _scenario(name)
    table = make_table([records])
    actual = predict_event_table(structure, record_params([params], table.n_records), table)
    expected = ode_reference(structure, params, records)
    close(actual[0], expected, 1e-7)
    # the change must matter: constant parameters give something else
    constant = record_params([[params[0]] * len(params)], table.n_records)
    assert not np.allclose(predict_event_table(structure, constant, table)[0], expected)


@st.composite
def varying_designs(draw: st.DrawFn) -> tuple[Structure, list[dict[str, float]], list[Rec]]:
    n_cmt = draw(st.sampled_from([1, 2]))
    absorption = draw(st.sampled_from([Absorption.FIRST_ORDER, Absorption.ZERO_ORDER]))
    has_lag = draw(st.booleans())
    structure = Structure(n_cmt, absorption, has_lag)
    times = sorted(draw(st.lists(st.floats(0.0, 60.0), min_size=2, max_size=8)))
    records, params = [], []
    for i, t in enumerate([0.0, *times]):
        kind = DOSE if i == 0 else draw(st.sampled_from([DOSE, OBS, OTHER]))
        route = draw(st.sampled_from([ORAL, ORAL, BOLUS, INFUSION])) if kind == DOSE else ORAL
        rate = draw(st.floats(20.0, 300.0)) if route == INFUSION else 0.0
        records.append(Rec(t, kind, 300.0 if kind == DOSE else 0.0, route, rate))
        params.append(_base(draw, n_cmt, absorption, has_lag))
    records.append(Rec(times[-1] + 12.0))
    params.append(params[-1])
    return structure, params, records


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=varying_designs())
def test_random_time_varying_against_ode(design: Any) -> None:
    structure, params, records = design
    table = make_table([records])
    actual = predict_event_table(structure, record_params([params], table.n_records), table)
    close(actual[0], ode_reference(structure, params, records), 1e-7)


def test_concentration_uses_volume_of_the_record() -> None:
    structure = Structure(1, Absorption.FIRST_ORDER)
    records = [Rec(0.0, DOSE, 100.0, BOLUS), Rec(5.0), Rec(5.0, OTHER)]
    base = {**ONE_FO, "cl_l_per_h": 10.0, "v_l": 100.0}
    params = [base, base, {**base, "v_l": 200.0}]
    table = make_table([records])
    c = predict_event_table(structure, record_params([params], 3), table)[0]
    assert c[1] == pytest.approx(np.exp(-0.5), rel=1e-14)
    assert c[2] == pytest.approx(np.exp(-0.5) / 2.0, rel=1e-14)  # same amount, new volume


# --------------------------------------------------------------------------------------------
# steady state


SS_CASES = {
    "fo_1cmt": (Structure(1, Absorption.FIRST_ORDER), ONE_FO, ORAL, 0.0),
    "fo_2cmt_lag": (
        Structure(2, Absorption.FIRST_ORDER, True),
        {**TWO_FO, "tlag_h": 2.0},
        ORAL,
        0.0,
    ),
    "fo_lag_beyond_interval": (
        Structure(2, Absorption.FIRST_ORDER, True),
        {**TWO_FO, "tlag_h": 27.0},
        ORAL,
        0.0,
    ),
    "fo_lag_two_intervals": (
        Structure(1, Absorption.FIRST_ORDER, True),
        {**ONE_FO, "tlag_h": 24.0},
        ORAL,
        0.0,
    ),
    "zo_2cmt_lag": (
        Structure(2, Absorption.ZERO_ORDER, True),
        {k: v for k, v in {**TWO_FO, "d1_h": 3.0, "tlag_h": 1.0}.items() if k != "ka_per_h"},
        ORAL,
        0.0,
    ),
    "bolus_2cmt": (Structure(2, Absorption.FIRST_ORDER), TWO_FO, BOLUS, 0.0),
    "infusion_2cmt": (Structure(2, Absorption.FIRST_ORDER), TWO_FO, INFUSION, 100.0),
    "infusion_full_interval": (Structure(1, Absorption.FIRST_ORDER), ONE_FO, INFUSION, 400.0 / 12),
}


@pytest.mark.parametrize("name", list(SS_CASES))
def test_ss1_equals_end_of_long_regimen(name: str) -> None:
    structure, par, route, rate = SS_CASES[name]
    tau, n_long = 12.0, 150  # e^{-beta·1800 h} < 1e-20 for these rates
    start = n_long * tau
    after = [Rec(start + s) for s in (0.0, 0.5, 1.0, 2.5, 6.0, 11.9, 12.0, 30.0, 40.0)]
    ss_dose = Rec(start, DOSE, 400.0, route, rate, ss=1, ii=tau)
    # earlier doses are wiped out by the reset (one still infusing, one still in its lag)
    earlier = [
        Rec(start - 0.5, DOSE, 800.0, route, rate),
        Rec(start - 0.1, DOSE, 300.0, route, rate),
    ]
    with_ss = [*earlier, ss_dose, *after]
    explicit = [Rec(j * tau, DOSE, 400.0, route, rate) for j in range(n_long + 1)] + after
    table = make_table([with_ss, explicit])
    rp = record_params([[par] * len(with_ss), [par] * len(explicit)], table.n_records)
    c = predict_event_table(structure, rp, table)
    close(c[0, len(earlier) :][: len(after) + 1], c[1, n_long:][: len(after) + 1], 1e-10)


@pytest.mark.parametrize("name", list(SS_CASES))
def test_ss2_equals_superposition(name: str) -> None:
    structure, par, route, rate = SS_CASES[name]
    tau, n_long = 12.0, 150
    start = n_long * tau
    earlier = [
        Rec(start - 30.0, DOSE, 800.0, route, rate),
        Rec(start - 5.0, DOSE, 300.0, route, rate),
    ]
    after = [Rec(start + s) for s in (0.0, 0.5, 1.0, 2.5, 6.0, 12.0, 30.0)]
    with_ss = [*earlier, Rec(start, DOSE, 400.0, route, rate, ss=2, ii=tau), *after]
    table = make_table([with_ss])
    c = predict_event_table(
        structure, record_params([[par] * len(with_ss)], table.n_records), table
    )
    virtual = [Rec(j * tau, DOSE, 400.0, route, rate) for j in range(n_long)]
    plain = [*virtual, *earlier, Rec(start, DOSE, 400.0, route, rate), *after]
    plain.sort(key=lambda rec: (rec.time, rec.kind != DOSE))
    plain_table = make_table([plain])
    expected = superposition(structure, [par], [plain], plain_table)[0, -len(after) :]
    close(c[0, -len(after) :], expected, 1e-10)


def test_ss_zero_order_needs_lag_plus_duration_within_interval() -> None:
    structure = Structure(1, Absorption.ZERO_ORDER, True)
    par = {"cl_l_per_h": 10.0, "v_l": 100.0, "bioavailability_frac": 1.0, "d1_h": 11.0}
    records = [Rec(0.0, DOSE, 400.0, ss=1, ii=12.0), Rec(3.0)]
    table = make_table([records])
    ok = predict_event_table(structure, record_params([[{**par, "tlag_h": 1.0}] * 2], 2), table)
    assert np.all(np.isfinite(ok))
    with pytest.raises(ModelDefinitionError, match="lag \\+ duration"):
        predict_event_table(structure, record_params([[{**par, "tlag_h": 1.5}] * 2], 2), table)
    infusion = make_table([[Rec(0.0, DOSE, 400.0, INFUSION, 30.0, ss=1, ii=12.0), Rec(3.0)]])
    with pytest.raises(ModelDefinitionError, match="lag \\+ duration"):
        predict_event_table(
            Structure(1, Absorption.FIRST_ORDER), record_params([[ONE_FO] * 2], 2), infusion
        )


# --------------------------------------------------------------------------------------------
# textbook formulas, ordering, padding, batches, transit


def test_textbook_bolus_and_infusion() -> None:
    structure = Structure(1, Absorption.FIRST_ORDER)
    par = {**ONE_FO, "cl_l_per_h": 7.0, "v_l": 140.0}
    k = 7.0 / 140.0
    times = np.array([0.0, 0.5, 3.0, 10.0, 50.0, 200.0])
    bolus = [Rec(0.0, DOSE, 500.0, BOLUS), *[Rec(t) for t in times]]
    infusion = [Rec(0.0, DOSE, 250.0 * 8.0, INFUSION, 250.0), *[Rec(t) for t in times]]
    table = make_table([bolus, infusion])
    c = predict_event_table(structure, record_params([[par] * 7] * 2, 7), table)
    np.testing.assert_allclose(c[0, 1:], 500.0 / 140.0 * np.exp(-k * times), rtol=1e-13)
    during = 250.0 / 7.0 * -np.expm1(-k * np.minimum(times, 8.0))
    expected = during * np.exp(-k * np.maximum(times - 8.0, 0.0))
    close(c[1, 1:], expected, 1e-13)
    assert c[0, 0] == pytest.approx(500.0 / 140.0, rel=1e-15)  # dose record: after the bolus


def test_record_order_decides_at_equal_times() -> None:
    structure = Structure(1, Absorption.FIRST_ORDER)
    records = [Rec(0.0, DOSE, 100.0, BOLUS), Rec(4.0), Rec(4.0, DOSE, 100.0, BOLUS), Rec(4.0)]
    c = predict_event_table(structure, record_params([[ONE_FO] * 4], 4), make_table([records]))[0]
    assert c[3] - c[1] == pytest.approx(100.0 / ONE_FO["v_l"], rel=1e-13)
    assert c[2] == c[3]


def test_padding_and_batches_match_one_at_a_time() -> None:
    structure = Structure(2, Absorption.FIRST_ORDER, True)
    rows = [
        [Rec(0.0, DOSE, 400.0), Rec(2.0), Rec(12.0, DOSE, 400.0, ss=2, ii=12.0), Rec(14.0)],
        [Rec(0.0, DOSE, 300.0, INFUSION, 150.0), Rec(1.0), Rec(3.0)],
        [
            Rec(0.0, DOSE, 200.0, BOLUS),
            Rec(5.0),
            Rec(6.0, OTHER),
            Rec(8.0, DOSE, 600.0),
            Rec(9.0),
            Rec(9.5),
            Rec(30.0),
        ],
    ]
    rng = np.random.default_rng(3)
    params = [
        [{**TWO_FO, "tlag_h": 0.7, "cl_l_per_h": float(rng.uniform(5, 20))} for _ in row]
        for row in rows
    ]
    table = make_table(rows)
    batch = predict_event_table(structure, record_params(params, table.n_records), table)
    for i, (row, par) in enumerate(zip(rows, params, strict=True)):
        assert np.all(np.isnan(batch[i, len(row) :]))
        single = predict_event_table(structure, record_params([par], len(row)), make_table([row]))
        np.testing.assert_array_equal(batch[i, : len(row)], single[0])
        taken = predict_event_table(
            structure,
            record_params(params, table.n_records).take(np.array([i])),
            table.take(np.array([i])),
        )
        np.testing.assert_array_equal(taken[0], batch[i])


def test_constant_helper_and_shape_checks() -> None:
    structure = Structure(1, Absorption.FIRST_ORDER)
    table = make_table([[Rec(0.0, DOSE, 400.0), Rec(12.0)]])
    pk = PKParameters.create(**ONE_FO)
    c = predict_event_table(structure, RecordParameters.constant(pk, 2), table)
    expected = predict_concentrations(
        structure, pk, DoseHistory.create([0.0], [400.0]), [0.0, 12.0]
    )
    close(c, expected, 1e-13)
    bad = RecordParameters.constant(pk, 3)
    with pytest.raises(ModelDefinitionError, match="shape"):
        predict_event_table(structure, bad, table)
    with pytest.raises(ModelDefinitionError, match="ka_per_h"):
        predict_event_table(
            structure,
            RecordParameters(
                cl_l_per_h=bad.cl_l_per_h[:, :2],
                v_l=bad.v_l[:, :2],
                bioavailability_frac=bad.bioavailability_frac[:, :2],
            ),
            table,
        )


TRANSIT = {
    "cl_l_per_h": 12.0,
    "v_l": 250.0,
    "bioavailability_frac": 0.9,
    "ka_per_h": 0.7,
    "ktr_per_h": 5.0,
    "n_transit": 3.0,
}


def test_transit_constant_delegates_and_varying_raises() -> None:
    structure = Structure(1, Absorption.TRANSIT)
    rows = [
        [
            Rec(0.0, DOSE, 400.0),
            Rec(1.0),
            Rec(4.0),
            Rec(4.0, DOSE, 100.0, BOLUS),
            Rec(4.0),
            Rec(24.0, DOSE, 400.0),
            Rec(30.0),
        ],
        [Rec(0.0, DOSE, 400.0), Rec(8.0)],
    ]
    table = make_table(rows)
    params = [[TRANSIT] * 7, [{**TRANSIT, "cl_l_per_h": 20.0}] * 2]
    c = predict_event_table(structure, record_params(params, 7), table)
    expected = superposition(structure, [TRANSIT, params[1][0]], rows, table)
    # the sample listed before the bolus at t = 4 does not see it
    expected[0, 2] -= 100.0 / TRANSIT["v_l"]
    close(c, expected, 1e-12)
    assert np.all(np.isnan(c[1, 2:]))
    varying = [[TRANSIT] * 3 + [{**TRANSIT, "cl_l_per_h": 20.0}] * 4, params[1]]
    with pytest.raises(
        ModelDefinitionError, match="transit absorption is handled by superposition"
    ):
        predict_event_table(structure, record_params(varying, 7), table)
