"""When to re-sample after starting or changing a regimen, and the trough expected then.

:func:`predict_time_to_steady_state` combines the model (individual terminal half-life and the
time to reach a fraction of the new steady state, over draws) with laboratory practice
(``sampling_arup_days`` in ``data/trough_correction.yaml``: >= 29 days on therapy, >= 8 days after
a change) and predicts the trough at the re-sampling time.

Imports pk (public API), the knowledge loader and its tdm siblings; never report, store or service.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from imatinib_tdm.pk import (
    Absorption,
    DoseHistory,
    PKParameters,
    PopPKModel,
    predict_concentrations,
    predict_steady_state_trough,
)
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

    single = predict_concentrations(
        model.structure,
        params,
        DoseHistory.regular(amount_mg=regimen.dose_mg, interval_h=tau, n_doses=1),
        grid,
    )
    ss = predict_steady_state_trough(
        model.structure, params, dose_mg=regimen.dose_mg, interval_h=tau
    )
    reached = np.cumsum(single, axis=1) / ss[:, None]
    caveats: list[Caveat] = []
    hit = reached >= fraction
    never = ~hit.any(axis=1)
    k_first = np.where(never, n_intervals - 1, np.argmax(hit, axis=1))
    times = grid[k_first]
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
    doses_t = [tau * np.arange(n_new, dtype=np.float64)]
    doses_a = [np.full(n_new, regimen.dose_mg)]
    if previous_regimen is not None:
        tau_old = previous_regimen.interval_h
        n_old = math.ceil(max_days * HOURS_PER_DAY / tau_old)
        doses_t.insert(0, -tau_old * np.arange(n_old, 0, -1, dtype=np.float64))
        doses_a.insert(0, np.full(n_old, previous_regimen.dose_mg))
        caveats.append(
            Caveat(
                "previous_regimen_at_steady_state",
                CaveatSeverity.INFO,
                f"The previous regimen ({previous_regimen.label}) is assumed taken for "
                f"{max_days:g} days (steady state) up to the change.",
            )
        )
    history = DoseHistory.create(np.concatenate(doses_t), np.concatenate(doses_a))
    at_resample = (
        predict_concentrations(model.structure, params, history, [resample_h])[:, 0]
        * MG_PER_L_TO_NG_PER_ML
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
