"""When to re-sample after starting or changing a regimen, and the trough expected then.

:func:`predict_time_to_steady_state` combines the model (individual terminal half-life and the
time to reach a fraction of the new steady state, over draws) with laboratory practice
(``sampling_arup_days`` in ``data/trough_correction.yaml``: >= 29 days on therapy, >= 8 days after
a change) and predicts the trough at the re-sampling time.

Imports pk (public API), the knowledge loader and its tdm siblings; never report, store or service.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.pk import (
    Absorption,
    DoseHistory,
    PKParameters,
    PopPKModel,
    Structure,
    predict_concentrations,
    predict_steady_state_trough,
)
from imatinib_tdm.pk._disposition import decay, input_response, make_disposition, solve_periodic
from imatinib_tdm.pk._kernels import one_minus_exp
from imatinib_tdm.tdm._dosing import (
    MG_PER_L_TO_NG_PER_ML,
    FloatArray,
    _check_constant_parameters,
    _normalised_weights,
    _pct,
    _quantiles,
)
from imatinib_tdm.tdm._knowledge import TroughCorrectionRules, load_trough_correction
from imatinib_tdm.tdm._regimens import HOURS_PER_DAY, Regimen
from imatinib_tdm.tdm._trough import Caveat, CaveatSeverity

__all__ = ["SteadyStateTiming", "predict_time_to_steady_state"]


@dataclass(frozen=True)
class SteadyStateTiming:
    """When to re-sample after starting or changing a regimen (result of
    :func:`predict_time_to_steady_state`).

    Attributes
    ----------
    regimen, previous_regimen : Regimen, Regimen or None
    fraction_of_steady_state : float
        The model criterion (default 0.9 of the change to the new steady-state trough).
    terminal_half_life_median_h, terminal_half_life_p5_h, terminal_half_life_p95_h : float
        Individual terminal half-life over the draws (h).
    five_half_lives_median_h : float
    time_to_fraction_median_h, time_to_fraction_p5_h, time_to_fraction_p95_h : float
        Time (h, on the trough grid of the new regimen) until the trough has covered
        ``fraction_of_steady_state`` of the way to the new steady state.
    lab_rule_id, lab_rule_verification, lab_rule_applied : str
        Laboratory practice (``sampling_arup_days``): ``min_days_on_therapy`` for a new therapy,
        ``min_days_after_dose_change`` after a change.
    lab_minimum_h : float
    resample_after_h, resample_after_days : float
        Later of the model's p95 time and the laboratory minimum, rounded up to a trough of the
        new regimen.
    steady_state_trough_median_ng_per_ml : float
    predicted_trough_at_resampling_median_ng_per_ml, ..._p5_..., ..._p95_... : float
        Trough predicted at ``resample_after_h`` (previous regimen at steady state before the
        change, when given).
    caveats : tuple of Caveat
    model_id : str
    """

    regimen: Regimen
    previous_regimen: Regimen | None
    fraction_of_steady_state: float
    terminal_half_life_median_h: float
    terminal_half_life_p5_h: float
    terminal_half_life_p95_h: float
    five_half_lives_median_h: float
    time_to_fraction_median_h: float
    time_to_fraction_p5_h: float
    time_to_fraction_p95_h: float
    lab_rule_id: str
    lab_rule_verification: str
    lab_rule_applied: str
    lab_minimum_h: float
    resample_after_h: float
    resample_after_days: float
    steady_state_trough_median_ng_per_ml: float
    predicted_trough_at_resampling_median_ng_per_ml: float
    predicted_trough_at_resampling_p5_ng_per_ml: float
    predicted_trough_at_resampling_p95_ng_per_ml: float
    caveats: tuple[Caveat, ...]
    model_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (units in the key names)."""
        out = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("regimen", "previous_regimen", "caveats")
        }
        out["regimen"] = self.regimen.to_dict()
        out["previous_regimen"] = (
            None if self.previous_regimen is None else self.previous_regimen.to_dict()
        )
        out["caveats"] = [c.to_dict() for c in self.caveats]
        return out


def _terminal_rate_per_h(structure_absorption: Absorption, params: PKParameters) -> FloatArray:
    """Slowest rate constant of the system (1/h): disposition beta, or ka when slower."""
    k10 = params.cl_l_per_h / params.v_l
    if params.q_l_per_h is not None and params.v2_l is not None:
        k12 = params.q_l_per_h / params.v_l
        k21 = params.q_l_per_h / params.v2_l
        s = k10 + k12 + k21
        beta = 0.5 * (s - np.sqrt(s * s - 4.0 * k10 * k21))  # two-compartment hybrid constant
    else:
        beta = k10
    if structure_absorption is Absorption.FIRST_ORDER and params.ka_per_h is not None:
        beta = np.minimum(beta, params.ka_per_h)  # flip-flop kinetics
    return np.asarray(beta, dtype=np.float64)


def predict_time_to_steady_state(
    model: PopPKModel,
    params: PKParameters,
    regimen: Regimen,
    *,
    previous_regimen: Regimen | None = None,
    fraction: float = 0.9,
    weights: ArrayLike | None = None,
    max_days: float = 90.0,
    rules: TroughCorrectionRules | None = None,
) -> SteadyStateTiming:
    """Time to (near) steady state and the trough expected when re-sampling.

    Parameters
    ----------
    model : PopPKModel
        Gives the structure; must have constant parameters.
    params : PKParameters
        Individual parameters for ``n_draws`` draws (``individual_parameters(model, covariates,
        eta_draws)``) or one individual.
    regimen : Regimen
        The new (or first) regimen.
    previous_regimen : Regimen, optional
        The regimen before the change, assumed at steady state; None for a new therapy.
    fraction : float, default 0.9
        Fraction of the change to the new steady-state trough that counts as reached.
    weights : array-like of shape (n_draws,), optional
        Importance weights of the draws.
    max_days : float, default 90
        Horizon of the calculation (days).
    rules : TroughCorrectionRules, optional
        Sampling rules; default :func:`load_trough_correction`.

    Returns
    -------
    SteadyStateTiming

    Raises
    ------
    ModelDomainError
        Time-varying model.
    ValueError
        ``fraction`` outside (0, 1), bad weights or horizon.

    Notes
    -----
    The model is linear, so the fraction of the way from the old to the new steady state after
    ``k`` intervals equals the fraction reached from zero, ``Σ_{j≤k} c₁(jτ) / Σ_{j≥1} c₁(jτ)``
    with ``c₁`` the single-dose curve; it is evaluated on the troughs of the new regimen.
    Re-sampling time = max(p95 of that time over the draws, laboratory minimum), rounded up to a
    trough. Laboratory practice: ≥ 29 days on therapy, ≥ 8 days after a change (ARUP,
    secondhand; ``sampling_arup_days``).
    """
    _check_constant_parameters(model)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if not (math.isfinite(max_days) and max_days > 0):
        raise ValueError(f"max_days must be > 0, got {max_days!r}")
    rules = load_trough_correction() if rules is None else rules
    lab = rules.sampling_days
    n = params.n_patients
    w = _normalised_weights(weights, n)
    tau = regimen.interval_h
    n_intervals = math.ceil(max_days * HOURS_PER_DAY / tau)
    grid = tau * np.arange(1, n_intervals + 1, dtype=np.float64)

    ss = predict_steady_state_trough(
        model.structure, params, dose_mg=regimen.dose_mg, interval_h=tau
    )
    washout = _steady_state_washout(model.structure, params, regimen.dose_mg, tau)
    if washout is None:
        k_first, never = _first_interval_by_superposition(
            model.structure, params, regimen, ss, fraction, n_intervals
        )
    else:
        k_first, never = _first_interval_by_washout(washout, ss, fraction, tau, n_intervals)
    times = grid[k_first]
    caveats: list[Caveat] = []
    if never.any():
        caveats.append(
            Caveat(
                "steady_state_beyond_horizon",
                CaveatSeverity.WARNING,
                f"{_pct(float(never.mean()))} of the draws do not reach {_pct(fraction)} of steady "
                f"state within {max_days:g} days; their time is capped at the horizon.",
            )
        )
    half_lives = math.log(2.0) / _terminal_rate_per_h(model.structure.absorption, params)
    t_lo, t_med, t_hi = _quantiles(times, w)
    h_lo, h_med, h_hi = _quantiles(half_lives, w)

    if previous_regimen is None:
        lab_applied, lab_days = "min_days_on_therapy", lab.min_days_on_therapy
    else:
        lab_applied, lab_days = "min_days_after_dose_change", lab.min_days_after_dose_change
    lab_h = lab_days * HOURS_PER_DAY
    resample_h = math.ceil(max(t_hi, lab_h) / tau - 1e-9) * tau

    # Trough at re-sampling: the new regimen from time 0, plus the old one before 0.
    n_new = round(resample_h / tau)
    n_old = 0
    if previous_regimen is not None:
        n_old = math.ceil(max_days * HOURS_PER_DAY / previous_regimen.interval_h)
        caveats.append(
            Caveat(
                "previous_regimen_at_steady_state",
                CaveatSeverity.INFO,
                f"The previous regimen ({previous_regimen.label}) is assumed taken for "
                f"{max_days:g} days (steady state) up to the change.",
            )
        )
    at_resample = _trough_at_resampling(
        model.structure, params, regimen, ss, washout, n_new, previous_regimen, n_old
    )
    r_lo, r_med, r_hi = _quantiles(at_resample, w)
    _, ss_med, _ = _quantiles(ss * MG_PER_L_TO_NG_PER_ML, w)
    if lab.verification.value != "verified":
        caveats.append(
            Caveat(
                "sampling_rule_secondhand",
                CaveatSeverity.INFO,
                f"Laboratory rule {lab.id} ({lab.min_days_on_therapy:g} days on therapy, "
                f"{lab.min_days_after_dose_change:g} days after a change) is graded "
                f"{lab.verification.value}.",
                lab.id,
            )
        )
    return SteadyStateTiming(
        regimen=regimen,
        previous_regimen=previous_regimen,
        fraction_of_steady_state=fraction,
        terminal_half_life_median_h=h_med,
        terminal_half_life_p5_h=h_lo,
        terminal_half_life_p95_h=h_hi,
        five_half_lives_median_h=5.0 * h_med,
        time_to_fraction_median_h=t_med,
        time_to_fraction_p5_h=t_lo,
        time_to_fraction_p95_h=t_hi,
        lab_rule_id=lab.id,
        lab_rule_verification=lab.verification.value,
        lab_rule_applied=lab_applied,
        lab_minimum_h=lab_h,
        resample_after_h=float(resample_h),
        resample_after_days=float(resample_h / HOURS_PER_DAY),
        steady_state_trough_median_ng_per_ml=ss_med,
        predicted_trough_at_resampling_median_ng_per_ml=r_med,
        predicted_trough_at_resampling_p5_ng_per_ml=r_lo,
        predicted_trough_at_resampling_p95_ng_per_ml=r_hi,
        caveats=tuple(caveats),
        model_id=model.id,
    )


# --- time to a fraction of steady state -------------------------------------------------------
#
# The model is linear and time-invariant, so with c1 the single-dose curve the trough after k
# doses is T_k = sum_{j=1..k} c1(j tau) and the steady-state trough T_ss = sum_{j>=1} c1(j tau).
# Their difference is the "washout" of the steady state, W(t) = sum_{j>=1} c1(t + j tau) at
# t = k tau: the concentration t hours after a steady-state trough when dosing stops. Where the
# system has a finite state at that trough (first-order input; zero-order input whose infusions
# have ended by then), W is that state's free evolution, in closed form with the stable kernels
# of pk. The fraction reached after k doses is then 1 - W(k tau) / T_ss, and the first k reaching
# it is found by bisection (W decreases with t), without the single-dose curve over the whole
# horizon. Other structures (transit input, per-dose parameters, a lag or infusion longer than
# the interval) keep the superposition below.

Washout = Callable[[FloatArray], FloatArray]


def _steady_state_washout(
    structure: Structure, params: PKParameters, dose_mg: float, tau: float
) -> Washout | None:
    """W(t) (mg/L) for t >= 0 hours after a steady-state trough, or None (no closed form here).

    The returned function takes times of shape ``(n_patients,)`` or ``(n_patients, n_times)``
    and returns the same shape.
    """
    if params.has_per_dose_values() or structure.absorption is Absorption.TRANSIT:
        return None
    n = params.n_patients
    lag = np.zeros(n) if params.tlag_h is None else params.tlag_h
    disp = make_disposition(structure.n_compartments, params)
    given = dose_mg * params.bioavailability_frac
    if structure.absorption is Absorption.FIRST_ORDER:
        assert params.ka_per_h is not None
        if np.any(lag > tau):
            return None
        ka = params.ka_per_h
        # periodic state just after a dose enters the depot (as in pk's steady state)
        depot = given / one_minus_exp(ka * tau)
        rc, rp = input_response(disp, ka, np.full(n, tau))
        c0, p0 = solve_periodic(disp, depot * ka * rc, depot * ka * rp, tau)
        start = tau - lag  # the last dose (at -tau) entered the depot tau - lag before the trough

        def first_order(t: FloatArray) -> FloatArray:
            col = _column_shape(t)
            d2 = disp.reshape(col)
            ka2 = ka.reshape(col)
            u = t + start.reshape(col)
            c_u, _ = decay(d2, c0.reshape(col), p0.reshape(col), u)
            rc_u, _ = input_response(d2, ka2, u)
            return np.asarray((c_u + depot.reshape(col) * ka2 * rc_u) / d2.v_l, dtype=np.float64)

        return first_order
    assert params.d1_h is not None
    d1 = params.d1_h
    if np.any(lag + d1 > tau):
        return None  # an infusion still running at the trough: no finite state there
    rate = given / d1
    kick_c, kick_p = input_response(disp, np.zeros(n), d1)
    end_c, end_p = solve_periodic(disp, rate * kick_c, rate * kick_p, tau)
    start = tau - lag - d1  # the last infusion (dose at -tau) ended this long before the trough

    def zero_order(t: FloatArray) -> FloatArray:
        col = _column_shape(t)
        d2 = disp.reshape(col)
        c_u, _ = decay(d2, end_c.reshape(col), end_p.reshape(col), t + start.reshape(col))
        return np.asarray(c_u / d2.v_l, dtype=np.float64)

    return zero_order


def _column_shape(t: FloatArray) -> tuple[int, ...]:
    return (-1,) if t.ndim == 1 else (-1, 1)


def _first_interval_by_washout(
    washout: Washout, ss: FloatArray, fraction: float, tau: float, n_intervals: int
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Grid index of the first trough reaching ``fraction`` of steady state, and the draws that
    do not reach it within ``n_intervals`` (index capped at the last)."""
    limit = (1.0 - fraction) * ss  # reached after k doses  <=>  W(k tau) <= limit

    def reached(k: NDArray[np.intp]) -> NDArray[np.bool_]:
        return np.asarray(washout(np.asarray(k * tau, dtype=np.float64)) <= limit)

    n = ss.shape[0]
    high = np.full(n, n_intervals, dtype=np.intp)
    never = ~reached(high)
    low = np.zeros(n, dtype=np.intp)  # W(0) = T_ss: never reached with no dose
    while True:
        open_ = high - low > 1
        if not open_.any():
            break
        mid = (low + high) // 2
        ok = reached(mid)
        high = np.where(open_ & ok, mid, high)
        low = np.where(open_ & ~ok, mid, low)
    k_first = np.where(never, n_intervals - 1, high - 1)
    return np.asarray(k_first, dtype=np.intp), never


def _first_interval_by_superposition(
    structure: Structure,
    params: PKParameters,
    regimen: Regimen,
    ss: FloatArray,
    fraction: float,
    n_intervals: int,
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """As :func:`_first_interval_by_washout`, from the single-dose curve on the trough grid."""
    tau = regimen.interval_h
    grid = tau * np.arange(1, n_intervals + 1, dtype=np.float64)
    single = predict_concentrations(
        structure,
        params,
        DoseHistory.regular(amount_mg=regimen.dose_mg, interval_h=tau, n_doses=1),
        grid,
    )
    hit = np.cumsum(single, axis=1) / ss[:, None] >= fraction
    never = np.asarray(~hit.any(axis=1), dtype=np.bool_)
    k_first = np.where(never, n_intervals - 1, np.argmax(hit, axis=1))
    return np.asarray(k_first, dtype=np.intp), never


def _trough_at_resampling(
    structure: Structure,
    params: PKParameters,
    regimen: Regimen,
    ss: FloatArray,
    washout: Washout | None,
    n_new: int,
    previous_regimen: Regimen | None,
    n_old: int,
) -> FloatArray:
    """Trough (ng/mL) just before dose ``n_new`` of ``regimen`` started at 0, after ``n_old``
    doses of ``previous_regimen`` up to 0 (one per interval, the last one interval before 0)."""
    tau = regimen.interval_h
    resample_h = n_new * tau
    old_washout = None
    if previous_regimen is not None:
        old_washout = _steady_state_washout(
            structure, params, previous_regimen.dose_mg, previous_regimen.interval_h
        )
    if washout is not None and (previous_regimen is None or old_washout is not None):
        n = ss.shape[0]
        # new doses: T_k = T_ss - W(k tau); old doses: the old washout from 0, less the part
        # of the doses before the first of the n_old (W again, n_old intervals later)
        total = ss - washout(np.full(n, resample_h))
        if previous_regimen is not None and old_washout is not None:
            span = n_old * previous_regimen.interval_h
            total = (
                total
                + old_washout(np.full(n, resample_h))
                - old_washout(np.full(n, resample_h + span))
            )
        return np.asarray(total * MG_PER_L_TO_NG_PER_ML, dtype=np.float64)
    return _trough_at_resampling_by_superposition(
        structure, params, regimen, n_new, previous_regimen, n_old
    )


def _trough_at_resampling_by_superposition(
    structure: Structure,
    params: PKParameters,
    regimen: Regimen,
    n_new: int,
    previous_regimen: Regimen | None,
    n_old: int,
) -> FloatArray:
    """As :func:`_trough_at_resampling`, through the dose-by-dose engine."""
    tau = regimen.interval_h
    doses_t = [tau * np.arange(n_new, dtype=np.float64)]
    doses_a = [np.full(n_new, regimen.dose_mg)]
    if previous_regimen is not None:
        tau_old = previous_regimen.interval_h
        doses_t.insert(0, -tau_old * np.arange(n_old, 0, -1, dtype=np.float64))
        doses_a.insert(0, np.full(n_old, previous_regimen.dose_mg))
    history = DoseHistory.create(np.concatenate(doses_t), np.concatenate(doses_a))
    return np.asarray(
        predict_concentrations(structure, params, history, [n_new * tau])[:, 0]
        * MG_PER_L_TO_NG_PER_ML,
        dtype=np.float64,
    )
