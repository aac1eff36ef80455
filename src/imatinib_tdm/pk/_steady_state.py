"""Closed-form steady state under a regular regimen (same dose every ``interval_h``).

First- and zero-order input: the periodic state is the solution of ``x = M(τ)·x + v`` (see
:func:`._disposition.solve_periodic`), exact and O(n_patients). Transit input: the infinite sum
over past doses splits into a geometric series (closed form) and a remainder carried by the
upper incomplete gamma function, which vanishes within a few intervals; that remainder is summed
until it is below 1e-17 of the total.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from imatinib_tdm.errors import CaseError, ModelDefinitionError
from imatinib_tdm.pk._disposition import (
    Disposition,
    decay,
    input_response,
    make_disposition,
    solve_periodic,
)
from imatinib_tdm.pk._kernels import one_minus_exp
from imatinib_tdm.pk._structures import Absorption, PKParameters, Structure
from imatinib_tdm.pk._transit import (
    central_exponentials,
    gamma_exp_convolution,
    has_coincident_rates,
)

FloatArray = NDArray[np.float64]

__all__ = ["predict_steady_state", "predict_steady_state_trough"]

# Transit remainder: past doses whose incomplete-gamma tail exceeds this are summed explicitly.
_TAIL_TOLERANCE = 1e-17


def predict_steady_state(
    structure: Structure,
    params: PKParameters,
    *,
    dose_mg: ArrayLike,
    interval_h: float,
    times_after_dose_h: ArrayLike,
) -> FloatArray:
    """Steady-state concentrations (mg/L) at times after a dose of a regular regimen.

    Parameters
    ----------
    structure : Structure
    params : PKParameters
        ``n_patients`` rows; F and ka must not vary by dose (steady state needs constant
        parameters — evaluate time-dependent ones at the time of interest first).
    dose_mg : float or array of shape (n_patients,)
        Amount of every dose (mg).
    interval_h : float
        Dosing interval τ (h), > 0.
    times_after_dose_h : array-like of shape (n_times,)
        Times after the (nominal) dose, 0 <= t <= τ; t = τ is the trough just before the next.

    Returns
    -------
    ndarray of shape (n_patients, n_times), mg/L.

    Examples
    --------
    >>> from imatinib_tdm.pk import Absorption, PKParameters, Structure
    >>> s = Structure(1, Absorption.FIRST_ORDER)
    >>> p = PKParameters.create(cl_l_per_h=14.3, v_l=347.0, ka_per_h=0.61)
    >>> round(float(predict_steady_state(s, p, dose_mg=400, interval_h=24,
    ...                                  times_after_dose_h=[24.0])[0, 0]), 4)
    0.7321
    """
    params.check_structure(structure)
    if params.has_per_dose_values():
        raise ModelDefinitionError(
            "steady state needs parameters that do not vary by dose; evaluate F and ka at the "
            "time of interest"
        )
    tau = float(interval_h)
    if not np.isfinite(tau) or tau <= 0:
        raise CaseError(f"interval_h must be > 0 h, got {interval_h!r}", field="interval_h")
    times = np.atleast_1d(np.asarray(times_after_dose_h, dtype=np.float64))
    if (
        times.ndim != 1
        or np.any(times < 0)
        or np.any(times > tau)
        or not np.all(np.isfinite(times))
    ):
        raise CaseError(
            f"times_after_dose_h must lie within the dosing interval [0, {tau:g}] h",
            field="times_after_dose_h",
        )
    n_patients = params.n_patients
    dose = np.broadcast_to(np.asarray(dose_mg, dtype=np.float64), (n_patients,))
    if np.any(dose < 0) or not np.all(np.isfinite(dose)):
        raise CaseError("dose_mg must be a finite amount >= 0 mg", field="dose_mg")
    given = (dose * params.bioavailability_frac)[:, None]
    disp = make_disposition(structure.n_compartments, params).reshape((n_patients, 1))
    lag = params.tlag_h[:, None] if params.tlag_h is not None else 0.0
    # The profile is periodic: time since the effective (lagged) dose, wrapped into [0, τ).
    since = np.mod(times[None, :] - lag, tau)
    # For oral input the central amount is continuous at dosing, so t = τ equals t = 0 wrapped.
    if structure.absorption is Absorption.FIRST_ORDER:
        assert params.ka_per_h is not None
        amount = _first_order(disp, params.ka_per_h[:, None], given, tau, since)
    elif structure.absorption is Absorption.ZERO_ORDER:
        assert params.d1_h is not None
        amount = _zero_order(disp, params.d1_h[:, None], given, tau, since)
    else:
        amount = _transit(structure, params, disp, given, tau, since)
    return np.asarray(amount / disp.v_l, dtype=np.float64)


def predict_steady_state_trough(
    structure: Structure, params: PKParameters, *, dose_mg: ArrayLike, interval_h: float
) -> FloatArray:
    """Steady-state trough (mg/L) just before the next dose, shape ``(n_patients,)``.

    See :func:`predict_steady_state`.
    """
    return predict_steady_state(
        structure, params, dose_mg=dose_mg, interval_h=interval_h, times_after_dose_h=[interval_h]
    )[:, 0]


def _first_order(
    disp: Disposition, ka: FloatArray, given: FloatArray, tau: float, since: FloatArray
) -> FloatArray:
    depot_after_dose = given / one_minus_exp(ka * tau)
    rc, rp = input_response(disp, ka, np.full(ka.shape, tau))
    c0, p0 = solve_periodic(disp, depot_after_dose * ka * rc, depot_after_dose * ka * rp, tau)
    if not np.any(since):  # troughs without lag: the periodic state itself (the common case)
        return np.broadcast_to(c0, np.broadcast_shapes(c0.shape, since.shape))
    c_t, _ = decay(disp, c0, p0, since)
    rc_t, _ = input_response(disp, ka, since)
    return c_t + depot_after_dose * ka * rc_t


def _zero_order(
    disp: Disposition, d1: FloatArray, given: FloatArray, tau: float, since: FloatArray
) -> FloatArray:
    rate = given / d1
    kick_c, kick_p = input_response(disp, np.zeros_like(d1), d1)
    per_c, per_p = solve_periodic(disp, rate * kick_c, rate * kick_p, tau)
    # Doses j = 0, 1, ... intervals ago; those with since + jτ < D1 are still infusing.
    n_running = np.maximum(np.ceil((d1 - since) / tau), 0.0)
    elapsed = since + n_running * tau - d1
    total, _ = decay(disp, per_c, per_p, np.maximum(elapsed, 0.0))
    j = 0
    while np.any(j < n_running):
        running = j < n_running
        t_j = np.where(running, since + j * tau, 0.0)
        rc, _ = input_response(disp, np.zeros_like(t_j), t_j)
        total = total + np.where(running, rate * rc, 0.0)
        j += 1
    return np.asarray(total, dtype=np.float64)


def _transit(
    structure: Structure,
    params: PKParameters,
    disp: Disposition,
    given: FloatArray,
    tau: float,
    since: FloatArray,
) -> FloatArray:
    assert params.ka_per_h is not None and params.ktr_per_h is not None
    assert params.n_transit is not None
    ka, ktr, n = params.ka_per_h[:, None], params.ktr_per_h[:, None], params.n_transit[:, None]
    total = np.zeros(np.broadcast(since, ka).shape)
    # Coincident rates give inf/nan in the partial fractions; those rows are replaced below.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rates, coefficients = central_exponentials(disp, ka)
        for x, coefficient in zip(rates, coefficients, strict=True):
            total = total + coefficient * _periodic_gamma_exp(x, ktr, n, tau, since)
    result = given * total
    coincident = has_coincident_rates(disp, ka)[:, 0]
    if np.any(coincident):
        result[coincident] = _transit_by_summing_ode(
            structure, params, np.flatnonzero(coincident), given[coincident, 0], tau, since
        )
    return result


def _periodic_gamma_exp(
    x: FloatArray, ktr: FloatArray, n: FloatArray, tau: float, since: FloatArray
) -> FloatArray:
    """Σ_{j>=0} gamma_exp_convolution(x, ktr, n, since + jτ).

    Where x is well below ktr, the terms of the doses whose transit input is complete (tail
    Q(n+1, (ktr-x)t) < 1e-17) are K·exp(-x t) to that precision and are summed as a geometric
    series; the few more recent ones are evaluated exactly. No cancellation between the two
    parts. Elsewhere the terms are summed until they are negligible.
    """
    x, ktr, n, since = np.broadcast_arrays(x, ktr, n, since)
    split = x < _GEOMETRIC_BELOW * ktr
    gap = np.where(split, ktr - x, 1.0)
    settle = special.gammainccinv(n + 1.0, _TAIL_TOLERANCE) / gap
    n_exact = np.where(split, np.maximum(np.ceil((settle - since) / tau), 0.0), np.inf)
    first_geometric = np.where(split, since + np.where(split, n_exact, 0.0) * tau, 0.0)
    log_k = np.where(split, (n + 1.0) * np.log(ktr / gap), 0.0)
    total = np.where(split, np.exp(log_k - x * first_geometric) / one_minus_exp(x * tau), 0.0)
    j = 0
    while True:
        active = j < n_exact
        if not np.any(active):
            return np.asarray(total, dtype=np.float64)
        term = np.where(active, gamma_exp_convolution(x, ktr, n, since + j * tau), 0.0)
        total = total + term
        # non-finite terms come from coincident rates, whose rows the caller recomputes
        negligible = (np.abs(term) <= _TAIL_TOLERANCE * np.abs(total)) | ~np.isfinite(term)
        n_exact = np.where(~split & negligible & (j > 0), 0.0, n_exact)
        j += 1
        if j > 100_000:  # pragma: no cover - would need ktr·τ absurdly small
            raise ModelDefinitionError("transit steady state did not converge")


# Rates below this fraction of ktr are summed as geometric series (see _periodic_gamma_exp).
_GEOMETRIC_BELOW = 0.9


def _transit_by_summing_ode(
    structure: Structure,
    params: PKParameters,
    rows: NDArray[np.intp],
    given: FloatArray,
    tau: float,
    since: FloatArray,
) -> FloatArray:
    """Steady state as the sum of single-dose ODE responses (coincident rates only)."""
    from imatinib_tdm.pk._ode import integrate_ode
    from imatinib_tdm.pk._structures import DoseHistory

    out = np.zeros((rows.size, since.shape[1]))
    for k, row in enumerate(rows):
        sub = params.take(np.array([row]))
        slowest = float(np.min([sub.cl_l_per_h[0] / sub.v_l[0], sub.ka_per_h[0]]))  # type: ignore[index]
        if sub.q_l_per_h is not None and sub.v2_l is not None:
            disp = make_disposition(2, sub)
            slowest = min(slowest, float(disp.beta[0]))
        n_past = int(np.ceil(40.0 / (slowest * tau))) + 2  # e^{-40}: below 1e-17
        times = (since[row][None, :] + tau * np.arange(n_past)[:, None]).ravel()
        single = integrate_ode(structure, sub, DoseHistory.create([0.0], [1.0]), times)
        out[k] = (
            given[k] * single.reshape(n_past, -1).sum(axis=0) / float(sub.bioavailability_frac[0])
        )
    # integrate_ode returns concentration; convert back to amount for the caller.
    return out * make_disposition(structure.n_compartments, params.take(rows)).v_l[:, None]
