"""Closed-form steady state against a long dose history and against exact mass balance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from imatinib_tdm.errors import CaseError, ModelDefinitionError
from imatinib_tdm.pk import (
    Absorption,
    DoseHistory,
    PKParameters,
    Structure,
    predict_concentrations,
    predict_steady_state,
    predict_steady_state_trough,
)
from imatinib_tdm.pk._disposition import make_disposition


@st.composite
def regimens(draw: st.DrawFn) -> tuple[Structure, PKParameters, float]:
    n_cmt = draw(st.sampled_from([1, 2]))
    absorption = draw(st.sampled_from(list(Absorption)))
    has_lag = absorption is not Absorption.TRANSIT and draw(st.booleans())
    kwargs: dict[str, float] = {
        "cl_l_per_h": draw(st.floats(3.0, 40.0)),
        "v_l": draw(st.floats(20.0, 600.0)),
        "bioavailability_frac": draw(st.floats(0.2, 1.0)),
    }
    if n_cmt == 2:
        kwargs.update(q_l_per_h=draw(st.floats(0.5, 40.0)), v2_l=draw(st.floats(10.0, 300.0)))
    if absorption is Absorption.FIRST_ORDER:
        kwargs["ka_per_h"] = draw(st.floats(0.05, 5.0))
    elif absorption is Absorption.ZERO_ORDER:
        kwargs["d1_h"] = draw(st.floats(0.2, 30.0))
    else:
        kwargs.update(
            ka_per_h=draw(st.floats(0.1, 5.0)),
            ktr_per_h=draw(st.floats(1.0, 30.0)),
            n_transit=draw(st.floats(0.0, 7.0)),
        )
    if has_lag:
        kwargs["tlag_h"] = draw(st.floats(0.0, 3.0))
    interval = draw(st.sampled_from([8.0, 12.0, 24.0, 48.0]))
    return Structure(n_cmt, absorption, has_lag), PKParameters.create(**kwargs), interval


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=regimens())
def test_steady_state_equals_end_of_long_regimen(case: tuple) -> None:  # type: ignore[type-arg]
    structure, params, tau = case
    disp = make_disposition(structure.n_compartments, params)
    slowest = float(min(disp.beta[0], disp.alpha[0], (params.ka_per_h or [np.inf])[0]))
    n_doses = int(np.ceil(40.0 / (slowest * tau))) + 3  # e^-40 of the first dose remains
    times_after = np.array([0.0, 0.25, 1.0, 2.0, tau / 2, tau - 0.1, tau])
    steady = predict_steady_state(
        structure, params, dose_mg=400, interval_h=tau, times_after_dose_h=times_after
    )
    history = DoseHistory.regular(amount_mg=400, interval_h=tau, n_doses=n_doses)
    reached = predict_concentrations(structure, params, history, (n_doses - 1) * tau + times_after)
    # absolute floor: 1e-12 of the peak (troughs far below the peak carry the rounding of
    # terms of the peak's size)
    np.testing.assert_allclose(steady, reached, rtol=1e-9, atol=1e-12 * float(np.max(reached)))


@settings(max_examples=25, deadline=None)
@given(case=regimens())
def test_steady_state_auc_is_f_dose_over_cl(case: tuple) -> None:  # type: ignore[type-arg]
    """AUC over one interval at steady state = F·Dose/CL, exactly (mass balance)."""
    structure, params, tau = case

    def conc(t: float) -> float:
        return float(
            predict_steady_state(
                structure, params, dose_mg=400, interval_h=tau, times_after_dose_h=[t]
            )[0, 0]
        )

    lag = float(params.tlag_h[0]) if params.tlag_h is not None else 0.0
    kinks = sorted(
        {lag % tau, (lag + float(params.d1_h[0])) % tau} if params.d1_h is not None else {lag % tau}
    )
    auc, _ = quad(conc, 0.0, tau, points=kinks, epsabs=0.0, epsrel=1e-11, limit=400)
    expected = 400.0 * float(params.bioavailability_frac[0]) / float(params.cl_l_per_h[0])
    assert auc == pytest.approx(expected, rel=1e-8)


def test_trough_is_the_end_of_interval_value() -> None:
    structure = Structure(1, Absorption.ZERO_ORDER)
    params = PKParameters.create(cl_l_per_h=[10.0, 14.0], v_l=[250.0, 300.0], d1_h=[1.5, 3.1])
    trough = predict_steady_state_trough(structure, params, dose_mg=400, interval_h=24)
    profile = predict_steady_state(
        structure, params, dose_mg=400, interval_h=24, times_after_dose_h=[24.0]
    )
    np.testing.assert_array_equal(trough, profile[:, 0])


def test_times_outside_interval_are_rejected() -> None:
    structure = Structure(1, Absorption.FIRST_ORDER)
    params = PKParameters.create(cl_l_per_h=10.0, v_l=250.0, ka_per_h=0.6)
    with pytest.raises(CaseError, match="within the dosing interval"):
        predict_steady_state(structure, params, dose_mg=400, interval_h=24, times_after_dose_h=[25])


def test_per_dose_parameters_are_refused_at_steady_state() -> None:
    structure = Structure(1, Absorption.FIRST_ORDER)
    params = PKParameters.create(cl_l_per_h=10.0, v_l=250.0, ka_per_h=np.full((1, 3), 0.6))
    with pytest.raises(ModelDefinitionError, match="do not vary by dose"):
        predict_steady_state_trough(structure, params, dose_mg=400, interval_h=24)


def test_transit_with_coincident_rates_falls_back_to_ode() -> None:
    """ka equal to the elimination rate: partial fractions break down, the ODE path takes over."""
    structure = Structure(1, Absorption.TRANSIT)
    k = 10.0 / 200.0
    params = PKParameters.create(
        cl_l_per_h=[10.0, 10.0],
        v_l=[200.0, 200.0],
        ka_per_h=[k, 0.6],
        ktr_per_h=8.0,
        n_transit=2.0,
    )
    steady = predict_steady_state(
        structure, params, dose_mg=400, interval_h=24, times_after_dose_h=[1.0, 24.0]
    )
    history = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=60)
    reached = predict_concentrations(structure, params, history, 59 * 24 + np.array([1.0, 24.0]))
    assert np.all(np.isfinite(steady))
    np.testing.assert_allclose(steady, reached, rtol=1e-7)
