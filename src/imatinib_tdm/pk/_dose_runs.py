"""Regular dose runs summed in closed form (geometric series), for long TDM dosing histories.

A TDM patient usually has weeks of the same dose at the same interval before a sample: fifty
or more dose columns in :func:`~imatinib_tdm.pk._dose_matrix.predict_oral_one_compartment`,
evaluated at thousands of posterior proposals. For a one-compartment model with first-order
absorption and no lag the single-dose response is
``F·A·ka/(V·(ka - k)) · (exp(-k·s) - exp(-ka·s))``, so ``n`` doses of ``A`` every ``tau`` hours,
the last ``s`` hours before the sample, sum to the same factor times
``exp(-x·s) · (1 - exp(-x·n·tau)) / (1 - exp(-x·tau))`` for ``x = k`` minus ``x = ka``: one
term per run of doses instead of one per dose. Exact in exact arithmetic; in floating point it
agrees with the superposition to a relative ~1e-13 unless ``ka`` and ``k`` nearly coincide,
where the difference of the two series cancels — such trial points are detected and computed
by the superposition instead (see ``_CANCELLATION``).

This module must not import case, tdm, report, store or service.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["DoseRuns", "dose_runs", "predict_oral_runs_one_compartment"]

# Two doses belong to one run when their spacing equals the run's interval to this relative
# precision (clock times in hours are exact binary fractions in practice; this only forgives
# the last bit of a computed time, which moves a prediction by far less than 1e-12).
_SPACING_RTOL = 1e-12
# A run sum is used only where exp-series of k and ka differ by at least this fraction of the
# larger one: the rounding error of the difference is then below ~1e-10 relative.
_CANCELLATION = 1e-5


@dataclass(frozen=True, eq=False)
class DoseRuns:
    """Doses before each evaluation time grouped into regular runs (zero-amount padding).

    Attributes, each of shape ``(n_patients, n_runs, n_times)``:
    amounts_mg : dose of the run (all doses of a run are equal)
    since_last_h : time from the run's last dose to the evaluation time (> 0)
    interval_h : spacing of the run (1.0 for a single dose: the series is then 1)
    count : number of doses in the run (float)
    """

    amounts_mg: FloatArray
    since_last_h: FloatArray
    interval_h: FloatArray
    count: FloatArray


def dose_runs(since_h: FloatArray, amounts_mg: FloatArray) -> DoseRuns:
    """Group the doses given before each evaluation time into runs of equal dose and spacing.

    Parameters
    ----------
    since_h : ndarray (n_patients, n_doses, n_times)
        Time from each dose to each evaluation time, hours (negative: dose after the time).
    amounts_mg : ndarray (n_patients, n_doses, 1)
        Dose amounts, zero for padding.

    Doses at or after the evaluation time contribute nothing (as in the superposition) and are
    left out; a dose with zero amount is left out.
    """
    n_p, _, n_t = since_h.shape
    runs: list[list[list[tuple[float, float, float, int]]]] = []
    most = 1
    for p in range(n_p):
        per_time = []
        for t in range(n_t):
            s = since_h[p, :, t]
            a = amounts_mg[p, :, 0]
            keep = (s > 0.0) & (a > 0.0)
            order = np.argsort(s[keep], kind="stable")
            s_sorted = s[keep][order].tolist()  # most recent dose first
            a_sorted = a[keep][order].tolist()
            found: list[tuple[float, float, float, int]] = []  # (amount, since_last, tau, n)
            for s_j, a_j in zip(s_sorted, a_sorted, strict=True):
                if found:
                    amount, first, tau, n = found[-1]
                    last_s = first + (n - 1) * tau if n > 1 else first
                    gap = s_j - last_s
                    if a_j == amount and gap > 0.0:
                        if n == 1:
                            found[-1] = (amount, first, gap, 2)
                            continue
                        if abs(gap - tau) <= _SPACING_RTOL * tau:
                            found[-1] = (amount, first, tau, n + 1)
                            continue
                found.append((a_j, s_j, 1.0, 1))
            most = max(most, len(found))
            per_time.append(found)
        runs.append(per_time)
    shape = (n_p, most, n_t)
    amounts = np.zeros(shape)
    since_last = np.ones(shape)
    interval = np.ones(shape)
    count = np.ones(shape)
    for p, per_time in enumerate(runs):
        for t, found in enumerate(per_time):
            for r, (amount, first, tau, n) in enumerate(found):
                amounts[p, r, t] = amount
                since_last[p, r, t] = first
                interval[p, r, t] = tau
                count[p, r, t] = n
    return DoseRuns(amounts, since_last, interval, count)


def predict_oral_runs_one_compartment(
    cl_l_per_h: FloatArray,
    v_l: FloatArray,
    bioavailability_frac: FloatArray,
    ka_per_h: FloatArray,
    amounts_mg: FloatArray,
    since_last_h: FloatArray,
    interval_h: FloatArray,
    count: FloatArray,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """One-compartment first-order oral concentrations (mg/L) from dose runs; unreliable points.

    Parameters
    ----------
    cl_l_per_h, v_l, bioavailability_frac, ka_per_h : ndarray
        Broadcastable to ``(m, n_points)``.
    amounts_mg, since_last_h, interval_h, count : ndarray (m, 1, n_runs, n_times)
        A :class:`DoseRuns` with an axis for the trial points.

    Returns
    -------
    concentrations : ndarray (m, n_points, n_times), or (m, 1, n_times)
    unreliable : bool ndarray broadcastable to (m, n_points)
        Points where ``ka`` and ``k`` nearly coincide and the run sums cancel: compute these
        by superposition.
    """
    k10 = np.asarray(cl_l_per_h / v_l)[..., None, None]
    ka = np.asarray(ka_per_h)[..., None, None]
    series_k = np.exp(-k10 * since_last_h) * (
        np.expm1(-k10 * count * interval_h) / np.expm1(-k10 * interval_h)
    )
    series_ka = np.exp(-ka * since_last_h) * (
        np.expm1(-ka * count * interval_h) / np.expm1(-ka * interval_h)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = series_k - series_ka
        larger = np.maximum(series_k, series_ka)
        cancels = (np.abs(difference) < _CANCELLATION * larger) & (amounts_mg > 0.0)
        unreliable = np.any(cancels, axis=(-2, -1))
        per_run = amounts_mg * difference
        total = per_run.sum(axis=-2)
        scale = np.asarray(bioavailability_frac * ka_per_h / ((ka_per_h - cl_l_per_h / v_l) * v_l))
        out = total * scale[..., None]
    return np.asarray(out, dtype=np.float64), unreliable
