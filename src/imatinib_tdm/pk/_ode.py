"""Reference solution by numerical integration of the model's differential equations.

This path shares no formula with the closed forms (only the model definition), which is what
makes it a useful check: tests compare the two on randomised parameters and dose histories.
It also serves the rare individuals whose transit-model rate constants coincide (see
:mod:`._transit`). It is slow (a Python loop over individuals and SciPy's DOP853 integrator);
use :func:`imatinib_tdm.pk.predict_concentrations` for real work.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy.integrate import solve_ivp

from imatinib_tdm.pk._structures import Absorption, DoseHistory, PKParameters, Structure

FloatArray = NDArray[np.float64]

__all__ = ["integrate_ode"]


def _per_dose(value: FloatArray | None, row: int, n_doses: int) -> FloatArray:
    assert value is not None
    v = value[row]
    return np.full(n_doses, float(v)) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64)


def integrate_ode(
    structure: Structure,
    params: PKParameters,
    doses: DoseHistory,
    times_h: ArrayLike,
    *,
    rtol: float = 1e-12,
    atol: float = 1e-14,
    transit_as_chain: bool = False,
) -> FloatArray:
    """Concentrations (mg/L) by integrating the ODE system, shape ``(n_patients, n_times)``.

    Parameters
    ----------
    structure, params, doses
        As for :func:`imatinib_tdm.pk.predict_concentrations`.
    times_h : array-like of shape (n_times,)
        Times (h) on the dose-history clock.
    rtol, atol : float
        Integrator tolerances (atol in mg).
    transit_as_chain : bool, default False
        For transit absorption with integer ``n_transit``, integrate the explicit chain of
        ``n_transit + 1`` compartments instead of the Savic input function (an independent
        check of the analytical transit formula).

    Notes
    -----
    Every dose has its own depot, so per-dose ka and F are exact superposition, the same
    semantics as the closed forms.
    """
    params.check_structure(structure)
    times = np.atleast_1d(np.asarray(times_h, dtype=np.float64))
    n_patients, n_doses = params.n_patients, doses.n_doses
    amounts = doses.amounts_for(n_patients)
    out = np.zeros((n_patients, times.size))
    # the integrator wants strictly increasing output times
    unique_times, position = np.unique(times, return_inverse=True)
    for row in range(n_patients):
        out[row] = _integrate_one(
            structure,
            params,
            row,
            doses.times_h,
            amounts[row],
            unique_times,
            rtol,
            atol,
            transit_as_chain,
        )[position]
    del n_doses
    return out


def _integrate_one(
    structure: Structure,
    params: PKParameters,
    row: int,
    dose_times: FloatArray,
    amounts: FloatArray,
    times: FloatArray,
    rtol: float,
    atol: float,
    transit_as_chain: bool,
) -> FloatArray:
    n_doses = dose_times.size
    f = _per_dose(params.bioavailability_frac, row, n_doses)
    given = amounts * f
    cl, v = float(params.cl_l_per_h[row]), float(params.v_l[row])
    k10 = cl / v
    two = structure.n_compartments == 2
    k12 = float(params.q_l_per_h[row]) / v if two and params.q_l_per_h is not None else 0.0
    k21 = (
        float(params.q_l_per_h[row]) / float(params.v2_l[row])
        if two and params.q_l_per_h is not None and params.v2_l is not None
        else 0.0
    )
    absorption = structure.absorption
    lag = float(params.tlag_h[row]) if params.tlag_h is not None else 0.0
    ka = (
        _per_dose(params.ka_per_h, row, n_doses)
        if absorption is not Absorption.ZERO_ORDER
        else np.zeros(n_doses)
    )
    d1 = float(params.d1_h[row]) if params.d1_h is not None else 0.0
    ktr = float(params.ktr_per_h[row]) if params.ktr_per_h is not None else 0.0
    n_tr = float(params.n_transit[row]) if params.n_transit is not None else 0.0
    chain = absorption is Absorption.TRANSIT and transit_as_chain
    if chain and abs(n_tr - round(n_tr)) > 1e-12:
        raise ValueError("transit_as_chain needs an integer n_transit")
    n_chain = round(n_tr) + 1 if chain else 0

    # layout: [depots (n_doses), central, peripheral, chain (n_doses * n_chain)]
    i_c, i_p = n_doses, n_doses + 1
    size = n_doses + 2 + n_doses * n_chain
    starts = dose_times + lag

    # Input functions switch on only within the segment that starts at their dose, so that no
    # integration step sees a jump at its end point.
    segment_start = [-np.inf]

    def rhs(t: float, y: FloatArray) -> FloatArray:
        dy = np.zeros_like(y)
        depots = y[:n_doses]
        dy[:n_doses] = -ka * depots
        c, p = y[i_c], y[i_p]
        dy[i_c] = float(np.dot(ka, depots)) - (k10 + k12) * c + k21 * p
        dy[i_p] = k12 * c - k21 * p
        if absorption is Absorption.ZERO_ORDER:
            active = (starts <= segment_start[0]) & (starts + d1 > segment_start[0])
            dy[i_c] += float(np.sum(given[active])) / d1
        elif absorption is Absorption.TRANSIT:
            if chain:
                ch = y[n_doses + 2 :].reshape(n_doses, n_chain)
                dch = -ktr * ch
                dch[:, 1:] += ktr * ch[:, :-1]
                dy[n_doses + 2 :] = dch.ravel()
                dy[:n_doses] += ktr * ch[:, -1]
            else:
                s = t - dose_times
                # s >= 0 (not > 0): a segment starts at its dose, and for n = 0 the input
                # rate jumps to ktr·dose there; the jump must be inside the first stage.
                on = (s >= 0) & (dose_times <= segment_start[0])
                rate = np.zeros(n_doses)
                rate[on] = (
                    ktr
                    * np.power(ktr * s[on], n_tr)
                    * np.exp(-ktr * s[on] - special.gammaln(n_tr + 1.0))
                )
                dy[:n_doses] += given * rate
        return dy

    breaks = set(starts.tolist())
    if absorption is Absorption.ZERO_ORDER:
        breaks |= set((starts + d1).tolist())
    grid = sorted(b for b in breaks if b <= times.max())
    result = np.zeros(times.size)
    if not grid:
        return result
    y = np.zeros(size)
    segment_ends = [*grid[1:], max(times.max(), grid[-1])]
    for start, end in zip(grid, segment_ends, strict=True):
        segment_start[0] = start
        for d in np.flatnonzero(starts == start):
            if absorption is Absorption.FIRST_ORDER:
                y[d] += given[d]
            elif chain:
                y[n_doses + 2 + d * n_chain] += given[d]
        last = end == segment_ends[-1]
        mask = (times >= start) & ((times <= end) if last else (times < end))
        if end > start:
            sol = solve_ivp(
                rhs,
                (start, end),
                y,
                method="DOP853",
                rtol=rtol,
                atol=atol,
                t_eval=times[mask] if np.any(mask) else None,
            )
            if not sol.success:
                raise RuntimeError(f"ODE integration failed: {sol.message}")
            if np.any(mask):
                result[mask] = sol.y[i_c] / v
            y = (
                sol.y[:, -1]
                if not np.any(mask) or sol.t[-1] == end
                else _advance(rhs, sol.y[:, -1], sol.t[-1], end, rtol, atol)
            )
        elif np.any(mask):
            result[mask] = y[i_c] / v
    return result


def _advance(
    rhs: object, y: FloatArray, t0: float, t1: float, rtol: float, atol: float
) -> FloatArray:
    if t1 <= t0:
        return y
    sol = solve_ivp(rhs, (t0, t1), y, method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"ODE integration failed: {sol.message}")
    return np.asarray(sol.y[:, -1], dtype=np.float64)
