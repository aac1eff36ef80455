"""Closed-form concentrations after any oral dose history, vectorised over individuals.

Two exact algorithms, chosen automatically:

* **state recursion** (first-order or zero-order input, one ka per individual): the amounts in
  depot, central and peripheral compartments are carried from dose to dose with analytical
  propagators, then propagated from the last dose to every requested time. Cost is
  O(n_patients·(n_doses + n_times)) exponentials instead of the O(n_patients·n_doses·n_times)
  of naive superposition, with no loss of accuracy on long histories (each step is a
  contraction).
* **superposition** (transit absorption, or ka varying by dose): the analytical single-dose
  response summed over doses, O(n_patients·n_doses·n_times).

Lag time and zero-order duration shift every dose equally, so they are applied by shifting the
evaluation times (exact for a linear time-invariant system).

Concentrations are returned in mg/L (dose mg / volume L). This module must not import case,
tdm, report, store or service.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from imatinib_tdm.errors import CaseError
from imatinib_tdm.pk._disposition import (
    Disposition,
    decay,
    input_response,
    make_disposition,
)
from imatinib_tdm.pk._kernels import conv2, conv3
from imatinib_tdm.pk._structures import Absorption, DoseHistory, PKParameters, Structure
from imatinib_tdm.pk._transit import (
    central_exponentials,
    has_coincident_rates,
    transit_central_amount,
)

FloatArray = NDArray[np.float64]

__all__ = ["predict_concentrations"]


def predict_concentrations(
    structure: Structure,
    params: PKParameters,
    doses: DoseHistory,
    times_h: ArrayLike,
) -> FloatArray:
    """Plasma concentrations (mg/L) at ``times_h`` for every individual.

    Parameters
    ----------
    structure : Structure
        Compartments and absorption type.
    params : PKParameters
        Individual parameters, ``n_patients`` rows (F and ka may vary by dose).
    doses : DoseHistory
        Oral doses on the common time grid (h); zero amounts are missed doses.
    times_h : array-like of shape (n_times,) or (n_patients, n_times)
        Evaluation times (h) on the same clock as the doses. Times before the first dose give 0.

    Returns
    -------
    ndarray of shape (n_patients, n_times)
        Concentrations in mg/L (= µg/mL; multiply by 1000 for ng/mL).

    Examples
    --------
    >>> from imatinib_tdm.pk import Absorption, DoseHistory, PKParameters, Structure
    >>> s = Structure(1, Absorption.FIRST_ORDER)
    >>> p = PKParameters.create(cl_l_per_h=14.3, v_l=347.0, ka_per_h=0.61)
    >>> c = predict_concentrations(s, p, DoseHistory.regular(amount_mg=400, interval_h=24,
    ...                            n_doses=1), [2.0, 24.0])
    >>> [round(float(x), 4) for x in c[0]]
    [0.7735, 0.4598]
    """
    params.check_structure(structure)
    times = np.asarray(times_h, dtype=np.float64)
    if times.ndim == 0:
        times = times.reshape(1)
    if not np.all(np.isfinite(times)):
        raise CaseError("evaluation times must be finite numbers of hours", field="times_h")
    n_patients = params.n_patients
    times = np.broadcast_to(times, (n_patients, times.shape[-1])) if times.ndim == 1 else times
    if times.shape[0] != n_patients:
        raise CaseError(
            f"times_h has {times.shape[0]} rows for {n_patients} individuals", field="times_h"
        )
    amounts = doses.amounts_for(n_patients) * _per_dose(params.bioavailability_frac, doses)
    disp = make_disposition(structure.n_compartments, params)
    lag = params.tlag_h[:, None] if params.tlag_h is not None else 0.0
    shifted = times - lag

    if structure.absorption is Absorption.TRANSIT:
        return _superpose_transit(structure, params, disp, doses, amounts, shifted)
    if structure.absorption is Absorption.FIRST_ORDER:
        assert params.ka_per_h is not None
        if params.ka_per_h.ndim == 2:
            return _superpose_first_order(disp, params.ka_per_h, doses, amounts, shifted)
        return _recursive_first_order(disp, params.ka_per_h, doses, amounts, shifted)
    assert params.d1_h is not None
    return _recursive_zero_order(disp, params.d1_h, doses, amounts, shifted)


def _per_dose(value: FloatArray, doses: DoseHistory) -> FloatArray:
    return value if value.ndim == 2 else value[:, None] * np.ones(doses.n_doses)


def _last_dose_index(dose_times: FloatArray, times: FloatArray) -> NDArray[np.intp]:
    """Index of the last dose at or before each time (-1 when none)."""
    return np.asarray(np.searchsorted(dose_times, times, side="right") - 1, dtype=np.intp)


def _recursive_first_order(
    disp: Disposition,
    ka: FloatArray,
    doses: DoseHistory,
    amounts: FloatArray,
    times: FloatArray,
) -> FloatArray:
    n_patients, n_doses = amounts.shape
    depot = np.zeros((n_patients, n_doses))
    central = np.zeros((n_patients, n_doses))
    peripheral = np.zeros((n_patients, n_doses))
    d, c, p = amounts[:, 0].copy(), np.zeros(n_patients), np.zeros(n_patients)
    depot[:, 0] = d
    gaps = np.diff(doses.times_h)
    cache: dict[float, tuple[FloatArray, FloatArray, FloatArray]] = {}
    for j in range(1, n_doses):
        gap = float(gaps[j - 1])
        if gap not in cache:  # regular regimens reuse a handful of propagators
            rc, rp = input_response(disp, ka, np.full(n_patients, gap))
            cache[gap] = (np.exp(-ka * gap), ka * rc, ka * rp)
        e_ka, from_depot_c, from_depot_p = cache[gap]
        c, p = decay(disp, c, p, np.full(n_patients, gap))
        c, p = c + d * from_depot_c, p + d * from_depot_p
        d = d * e_ka + amounts[:, j]
        depot[:, j], central[:, j], peripheral[:, j] = d, c, p
    idx = _last_dose_index(doses.times_h, times)
    before_first = idx < 0
    idx = np.maximum(idx, 0)
    rows = np.arange(n_patients)[:, None]
    elapsed = np.where(before_first, 0.0, times - doses.times_h[idx])
    disp2 = disp.reshape((n_patients, 1))
    ka2 = ka[:, None]
    rc, _ = input_response(disp2, ka2, elapsed)
    c_t, _ = decay(disp2, central[rows, idx], peripheral[rows, idx], elapsed)
    amount = c_t + depot[rows, idx] * ka2 * rc
    return np.where(before_first, 0.0, amount / disp2.v_l)


def _recursive_zero_order(
    disp: Disposition,
    d1: FloatArray,
    doses: DoseHistory,
    amounts: FloatArray,
    times: FloatArray,
) -> FloatArray:
    """Zero-order input: finished infusions as state kicks, running ones added explicitly."""
    n_patients, n_doses = amounts.shape
    rate_per_mg = 1.0 / d1
    # State left by a finished infusion of 1 mg: the response to rate 1/D1 over D1 hours.
    kick_c, kick_p = input_response(disp, np.zeros(n_patients), d1)
    kick_c, kick_p = kick_c * rate_per_mg, kick_p * rate_per_mg
    # Kicks are applied at t_dose and read at (t - D1): exact by time-shift invariance.
    central = np.zeros((n_patients, n_doses))
    peripheral = np.zeros((n_patients, n_doses))
    c, p = amounts[:, 0] * kick_c, amounts[:, 0] * kick_p
    central[:, 0], peripheral[:, 0] = c, p
    gaps = np.diff(doses.times_h)
    for j in range(1, n_doses):
        c, p = decay(disp, c, p, np.full(n_patients, float(gaps[j - 1])))
        c, p = c + amounts[:, j] * kick_c, p + amounts[:, j] * kick_p
        central[:, j], peripheral[:, j] = c, p
    rows = np.arange(n_patients)[:, None]
    disp2 = disp.reshape((n_patients, 1))
    finished_times = times - d1[:, None]
    idx = _last_dose_index(doses.times_h, finished_times)
    none_finished = idx < 0
    idx_safe = np.maximum(idx, 0)
    elapsed = np.where(none_finished, 0.0, finished_times - doses.times_h[idx_safe])
    finished, _ = decay(disp2, central[rows, idx_safe], peripheral[rows, idx_safe], elapsed)
    total = np.where(none_finished, 0.0, finished)
    # Infusions still running at t: doses with 0 <= t - t_dose < D1 (usually at most one).
    last = _last_dose_index(doses.times_h, times)
    k = 0
    while True:
        dose_index = last - k
        valid = dose_index >= 0
        j_safe = np.maximum(dose_index, 0)
        since = times - doses.times_h[j_safe]
        running = valid & (since < d1[:, None])
        if not np.any(running):
            break
        since_safe = np.where(running, since, 0.0)
        rc, _ = input_response(disp2, np.zeros_like(since_safe), since_safe)
        total = total + np.where(running, amounts[rows, j_safe] * rate_per_mg[:, None] * rc, 0.0)
        k += 1
    return total / disp2.v_l


def _superpose_first_order(
    disp: Disposition,
    ka: FloatArray,
    doses: DoseHistory,
    amounts: FloatArray,
    times: FloatArray,
) -> FloatArray:
    n_patients = amounts.shape[0]
    disp2 = disp.reshape((n_patients, 1))
    total = np.zeros(times.shape)
    for j in range(doses.n_doses):
        since = times - doses.times_h[j]
        after = since > 0
        s = np.where(after, since, 0.0)
        ka_j = ka[:, j : j + 1]
        if disp.n_compartments == 1:
            rc = conv2(ka_j, disp2.alpha, s)
        else:
            rc = conv2(ka_j, disp2.alpha, s) + (disp2.k21 - disp2.beta) * conv3(
                ka_j, disp2.alpha, disp2.beta, s
            )
        total = total + np.where(after, amounts[:, j : j + 1] * ka_j * rc, 0.0)
    return total / disp2.v_l


def _superpose_transit(
    structure: Structure,
    params: PKParameters,
    disp: Disposition,
    doses: DoseHistory,
    amounts: FloatArray,
    times: FloatArray,
) -> FloatArray:
    assert params.ka_per_h is not None and params.ktr_per_h is not None
    assert params.n_transit is not None
    n_patients = amounts.shape[0]
    ka = _per_dose(params.ka_per_h, doses)
    disp2 = disp.reshape((n_patients, 1))
    ktr, n = params.ktr_per_h[:, None], params.n_transit[:, None]
    # Coincident rates give inf/nan in the partial fractions; those rows are replaced below.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if params.ka_per_h.ndim == 1:
            result = _transit_recursive(
                disp, params.ka_per_h, params.ktr_per_h, params.n_transit, doses, amounts, times
            )
        else:
            result = _transit_direct(disp2, ka, ktr, n, doses, amounts, times)
    coincident = np.any(has_coincident_rates(disp2, ka), axis=1)
    if np.any(coincident):
        # Partial fractions are ill-conditioned there; integrate those individuals instead.
        from imatinib_tdm.pk._ode import integrate_ode

        for row in np.flatnonzero(coincident).tolist():
            result[row] = integrate_ode(
                structure,
                params.take(np.array([row])),
                _row_doses(doses, amounts, row),
                times[row],
            )[0]
    return result


def _transit_direct(
    disp2: Disposition,
    ka: FloatArray,
    ktr: FloatArray,
    n: FloatArray,
    doses: DoseHistory,
    amounts: FloatArray,
    times: FloatArray,
) -> FloatArray:
    """Plain superposition of the single-dose transit response (ka may vary by dose)."""
    total = np.zeros(times.shape)
    for j in range(doses.n_doses):
        since = times - doses.times_h[j]
        after = since > 0
        s = np.where(after, since, 0.0)
        response = transit_central_amount(disp2, ka[:, j : j + 1], ktr, n, s)
        total = total + np.where(after, amounts[:, j : j + 1] * response, 0.0)
    return np.asarray(total / disp2.v_l, dtype=np.float64)


def _transit_recursive(
    disp: Disposition,
    ka: FloatArray,
    ktr: FloatArray,
    n: FloatArray,
    doses: DoseHistory,
    amounts: FloatArray,
    times: FloatArray,
) -> FloatArray:
    """Transit input with one ka per individual: old doses by recursion, recent ones exactly.

    Once the transit input of a dose is complete (its incomplete-gamma tail Q(n+1, (ktr-x)s)
    below 1e-17), each term c_i·K_i·exp(-x_i s)·(1 - Q) is a pure exponential to that precision,
    so the doses older than that settle time are carried as exponential sums from dose to dose,
    as in the state recursion. Only the doses within the settle time (usually the last one) are
    evaluated with the incomplete-gamma closed form. Individuals for whom a rate is close to ktr
    (no geometric form) are computed by direct superposition.
    """
    n_patients, n_doses = amounts.shape
    rates, coefficients = central_exponentials(disp, ka)
    direct_rows = np.zeros(n_patients, dtype=bool)
    for x in rates:
        direct_rows |= ~(x < _GEOMETRIC_BELOW * ktr)
    safe = ~direct_rows
    settle = np.zeros(n_patients)
    weights = []
    for x, c in zip(rates, coefficients, strict=True):
        gap = np.where(safe, ktr - x, 1.0)
        settle = np.maximum(settle, special.gammainccinv(n + 1.0, _TAIL) / gap)
        weights.append(np.where(safe, c * np.exp((n + 1.0) * np.log(ktr / gap)), 0.0))
    # exponential sums over doses, per rate: S_i[j] = Σ_{d<=j} A_d exp(-x_i (t_j - t_d))
    sums = []
    gaps = np.diff(doses.times_h)
    for x in rates:
        s_i = np.zeros((n_patients, n_doses))
        s_i[:, 0] = amounts[:, 0]
        for j in range(1, n_doses):
            s_i[:, j] = s_i[:, j - 1] * np.exp(-x * gaps[j - 1]) + amounts[:, j]
        sums.append(s_i)
    rows = np.arange(n_patients)[:, None]
    old_times = times - settle[:, None]
    last_old = np.searchsorted(doses.times_h, old_times, side="right") - 1
    has_old = last_old >= 0
    idx = np.maximum(last_old, 0)
    elapsed = np.where(has_old, old_times + settle[:, None] - doses.times_h[idx], 0.0)
    total = np.zeros(times.shape)
    for x, w, s_i in zip(rates, weights, sums, strict=True):
        total = total + np.where(
            has_old, w[:, None] * s_i[rows, idx] * np.exp(-x[:, None] * elapsed), 0.0
        )
    # recent doses: after the last "old" dose and not after t; evaluated only where present
    disp2 = disp.reshape((n_patients, 1))
    last = np.searchsorted(doses.times_h, times, side="right") - 1
    k = 0
    while True:
        candidate = last - k
        recent = (candidate > last_old) & (candidate >= 0)
        if not np.any(recent):
            break
        patient, column = np.nonzero(recent)
        dose_index = candidate[patient, column]
        since = times[patient, column] - doses.times_h[dose_index]
        response = transit_central_amount(
            disp.take(patient), ka[patient], ktr[patient], n[patient], since
        )
        total[patient, column] += amounts[patient, dose_index] * response
        k += 1
    result = total / disp2.v_l
    if np.any(direct_rows):
        sub = np.flatnonzero(direct_rows)
        result[sub] = _transit_direct(
            disp.take(sub).reshape((sub.size, 1)),
            np.broadcast_to(ka[sub, None], (sub.size, n_doses)),
            ktr[sub, None],
            n[sub, None],
            doses,
            amounts[sub],
            times[sub],
        )
    return np.asarray(result, dtype=np.float64)


# Incomplete-gamma tail below which a dose's transit input counts as complete.
_TAIL = 1e-17
# Rates below this fraction of ktr have the geometric form; others go to direct superposition.
_GEOMETRIC_BELOW = 0.9


def _row_doses(doses: DoseHistory, amounts: FloatArray, row: int) -> DoseHistory:
    # amounts already include F; the ODE re-applies F, so pass the raw amounts back.
    raw = doses.amounts_for(amounts.shape[0])[row]
    return DoseHistory(times_h=doses.times_h, amounts_mg=np.asarray(raw, dtype=np.float64))
