"""Dose advice from posterior (or prior) draws: target attainment and the recommendation rule.

* :func:`evaluate_regimens` — for each candidate regimen (:func:`candidate_regimens`), the
  steady-state trough distribution over draws of the random effects (ng/mL), P(trough ≥ target)
  and P(trough > alert).
* :func:`recommend_regimen` — the lowest daily dose meeting a probability rule, or an explicit
  "no regimen qualifies" with the best available and why.

Imports pk (public API), the knowledge loader and errors; never report, store or service.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.errors import ModelDomainError
from imatinib_tdm.pk import (
    PKParameters,
    PopPKModel,
    individual_parameters,
    percentiles,
    predict_steady_state_trough,
    resolve_covariates,
)
from imatinib_tdm.tdm._knowledge import Threshold, ThresholdKind, Verification
from imatinib_tdm.tdm._regimens import Regimen
from imatinib_tdm.tdm._trough import Caveat, CaveatSeverity

__all__ = [
    "AdviceStatus",
    "DoseAdvice",
    "RegimenEvaluation",
    "RegimenTable",
    "evaluate_regimens",
    "recommend_regimen",
]

FloatArray = NDArray[np.float64]

MG_PER_L_TO_NG_PER_ML = 1000.0  # 1 mg/L = 1000 ng/mL (definition of the units)
# Covariate name under which models declare the daily dose (e.g. golabchifar2014, shriyan2022).
DAILY_DOSE_COVARIATE = "daily_dose_mg"
_INTERVAL_PERCENTILES = (5.0, 50.0, 95.0)  # 90% interval and median


@dataclass(frozen=True)
class RegimenEvaluation:
    """Predicted steady-state trough of one regimen over the draws (ng/mL).

    Attributes
    ----------
    regimen : Regimen
    trough_median_ng_per_ml, trough_p5_ng_per_ml, trough_p95_ng_per_ml : float
        Median and 90% interval (weighted when weights were given).
    probability_target_attained : float
        P(trough ≥ target).
    probability_above_alert : float or None
        P(trough > alert); None without an alert.
    caveats : tuple of Caveat
        Regimen-specific caveats (e.g. a daily dose outside the model's studied range).
    """

    regimen: Regimen
    trough_median_ng_per_ml: float
    trough_p5_ng_per_ml: float
    trough_p95_ng_per_ml: float
    probability_target_attained: float
    probability_above_alert: float | None
    caveats: tuple[Caveat, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "regimen": self.regimen.to_dict(),
            "trough_median_ng_per_ml": self.trough_median_ng_per_ml,
            "trough_p5_ng_per_ml": self.trough_p5_ng_per_ml,
            "trough_p95_ng_per_ml": self.trough_p95_ng_per_ml,
            "probability_target_attained": self.probability_target_attained,
            "probability_above_alert": self.probability_above_alert,
            "caveats": [c.to_dict() for c in self.caveats],
        }


@dataclass(frozen=True)
class RegimenTable:
    """Result of :func:`evaluate_regimens`; rows in the order of the regimens given."""

    rows: tuple[RegimenEvaluation, ...]
    model_id: str
    model_citation: str
    target_id: str
    target_ng_per_ml: float
    target_verification: str
    alert_id: str | None
    alert_ng_per_ml: float | None
    alert_verification: str | None
    n_draws: int
    effective_n_draws: float
    weighted: bool
    caveats: tuple[Caveat, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (units in the key names)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("rows", "caveats")}
        out["rows"] = [r.to_dict() for r in self.rows]
        out["caveats"] = [c.to_dict() for c in self.caveats]
        return out


def _normalised_weights(weights: ArrayLike | None, n_draws: int) -> FloatArray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_draws,):
        raise ValueError(f"weights must have shape ({n_draws},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0 and not all zero")
    return np.asarray(w / w.sum(), dtype=np.float64)


def _quantiles(values: FloatArray, weights: FloatArray | None) -> tuple[float, float, float]:
    """Weighted 5th, 50th, 95th percentiles (plain numpy percentiles without weights)."""
    if weights is None:
        lo, med, hi = percentiles(values, _INTERVAL_PERCENTILES)
        return float(lo), float(med), float(hi)
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = np.cumsum(w) - 0.5 * w  # mid-point plotting positions
    q = np.interp(np.asarray(_INTERVAL_PERCENTILES) / 100.0, cdf, v)
    return float(q[0]), float(q[1]), float(q[2])


def _probability(mask: NDArray[np.bool_], weights: FloatArray | None) -> float:
    return float(mask.mean()) if weights is None else float(weights[mask].sum())


def _check_constant_parameters(model: PopPKModel) -> None:
    if model.time_varying_parameters:
        raise ModelDomainError(
            f"model {model.id!r} has parameters that change with time on therapy "
            f"({', '.join(model.time_varying_parameters)}); a steady-state trough is not defined. "
            "Choose a model with constant parameters for dose advice.",
            model_id=model.id,
        )


def _eta_matrix(model: PopPKModel, eta_draws: ArrayLike) -> FloatArray:
    etas = np.asarray(eta_draws, dtype=np.float64)
    n_etas = len(model.eta_names)
    if etas.ndim != 2 or etas.shape[1] != n_etas or etas.shape[0] < 1:
        raise ValueError(
            f"eta_draws must have shape (n_draws, {n_etas}) for {model.eta_names}; got {etas.shape}"
        )
    return etas


def _warning_caveat(message: str) -> Caveat:
    return Caveat("model_applicability", CaveatSeverity.WARNING, message, None)


def evaluate_regimens(
    model: PopPKModel,
    covariates: Mapping[str, Any],
    eta_draws: ArrayLike,
    regimens: Sequence[Regimen],
    *,
    target: Threshold,
    alert: Threshold | None,
    weights: ArrayLike | None = None,
) -> RegimenTable:
    """Steady-state trough distribution and target attainment of each regimen.

    Parameters
    ----------
    model : PopPKModel
        A model with constant parameters (no time-varying ka/F).
    covariates : mapping of str to float
        One patient's covariates in the model's units. ``daily_dose_mg`` is set to each
        regimen's daily dose (models with dose as covariate, and the studied-dose check).
    eta_draws : array-like of shape (n_draws, n_etas)
        Draws of the random effects in ``model.eta_names`` order: posterior draws after a
        Bayesian update, or prior draws (:func:`imatinib_tdm.pk.sample_etas`) a priori.
    regimens : sequence of Regimen
        Usually :func:`candidate_regimens`.
    target : Threshold
        An efficacy target from :func:`load_targets`.
    alert : Threshold or None
        A high-level alert from :func:`load_targets`, or None.
    weights : array-like of shape (n_draws,), optional
        Importance weights of the draws (normalised here); default equal.

    Returns
    -------
    RegimenTable

    Raises
    ------
    ValueError
        Wrong kind of threshold, no regimen, wrong shapes or invalid weights.
    ModelDomainError
        Time-varying model, or covariates/effects outside the model's hard domain.
    MissingCovariateError
        Covariates the model needs are missing.

    Notes
    -----
    Troughs are ``predict_steady_state_trough`` at the end of each regimen's own interval
    (τ = 12 h for twice daily), converted from mg/L to ng/mL. IOV is not drawn: the prediction
    is for the individual's typical occasion.
    """
    if target.kind is not ThresholdKind.EFFICACY_TARGET:
        raise ValueError(f"target must be an efficacy target, got {target.id!r} ({target.kind})")
    if alert is not None and alert.kind is not ThresholdKind.ALERT:
        raise ValueError(f"alert must be an alert threshold, got {alert.id!r} ({alert.kind})")
    if not regimens:
        raise ValueError("regimens is empty; pass candidate_regimens(...)")
    _check_constant_parameters(model)
    etas = _eta_matrix(model, eta_draws)
    n_draws = etas.shape[0]
    w = _normalised_weights(weights, n_draws)
    ess = float(n_draws) if w is None else float(1.0 / np.sum(w**2))

    table_caveats: dict[str, Caveat] = {}
    rows: list[RegimenEvaluation] = []
    # Regimens usually differ only in dose, which few models carry as a covariate: the draws'
    # parameters are then the same for every regimen and are evaluated once per distinct
    # set of resolved covariate values.
    params_by_values: dict[tuple[tuple[str, bytes], ...], PKParameters] = {}
    # The models are linear in the dose (superposition), so with the same parameters and
    # interval the troughs of every dose are one set of troughs per mg times the dose (equal to
    # a separate prediction up to rounding, ~1e-16 relative); so are their percentiles (one
    # sort per parameter set and interval).
    per_mg: dict[
        tuple[tuple[tuple[str, bytes], ...], float], tuple[FloatArray, tuple[float, ...]]
    ] = {}
    for regimen in regimens:
        values = dict(covariates)
        values[DAILY_DOSE_COVARIATE] = regimen.daily_dose_mg
        resolved = resolve_covariates(model, values)
        row_caveats: list[Caveat] = []
        for warning in resolved.warnings:
            if warning.covariate == DAILY_DOSE_COVARIATE:
                row_caveats.append(_warning_caveat(warning.message))
            else:
                table_caveats.setdefault(warning.message, _warning_caveat(warning.message))
        key = tuple((name, value.tobytes()) for name, value in sorted(resolved.values.items()))
        params = params_by_values.get(key)
        if params is None:
            params = params_by_values[key] = individual_parameters(model, resolved, etas)
        cached = per_mg.get((key, regimen.interval_h))
        if cached is None:
            unit_troughs = (
                predict_steady_state_trough(
                    model.structure, params, dose_mg=1.0, interval_h=regimen.interval_h
                )
                * MG_PER_L_TO_NG_PER_ML
            )
            cached = per_mg[(key, regimen.interval_h)] = (
                unit_troughs,
                _quantiles(unit_troughs, w),
            )
        unit, unit_quantiles = cached
        troughs = unit * regimen.dose_mg
        lo, med, hi = (q * regimen.dose_mg for q in unit_quantiles)
        p_alert = None if alert is None else _probability(troughs > alert.value_ng_per_ml, w)
        rows.append(
            RegimenEvaluation(
                regimen=regimen,
                trough_median_ng_per_ml=med,
                trough_p5_ng_per_ml=lo,
                trough_p95_ng_per_ml=hi,
                probability_target_attained=_probability(troughs >= target.value_ng_per_ml, w),
                probability_above_alert=p_alert,
                caveats=tuple(row_caveats),
            )
        )
    for threshold in (target, alert):
        if threshold is not None and threshold.verification is not Verification.VERIFIED:
            table_caveats.setdefault(
                threshold.id,
                Caveat(
                    "threshold_not_verified",
                    CaveatSeverity.WARNING,
                    f"Threshold {threshold.id} ({threshold.value_ng_per_ml:g} ng/mL) is graded "
                    f"{threshold.verification.value}: not read in the primary source.",
                    threshold.id,
                ),
            )
    return RegimenTable(
        rows=tuple(rows),
        model_id=model.id,
        model_citation=" ".join(model.citation.split()),
        target_id=target.id,
        target_ng_per_ml=target.value_ng_per_ml,
        target_verification=target.verification.value,
        alert_id=None if alert is None else alert.id,
        alert_ng_per_ml=None if alert is None else alert.value_ng_per_ml,
        alert_verification=None if alert is None else alert.verification.value,
        n_draws=n_draws,
        effective_n_draws=ess,
        weighted=w is not None,
        caveats=tuple(table_caveats.values()),
    )


# --- recommendation ---------------------------------------------------------------------------


class AdviceStatus(enum.Enum):
    """Outcome of :func:`recommend_regimen`."""

    RECOMMENDED = "recommended"
    """A regimen meets the rule; it is the lowest such daily dose."""
    NO_REGIMEN_QUALIFIES = "no_regimen_qualifies"
    """No candidate meets the rule; ``best_available`` and ``reason`` say what comes closest."""


@dataclass(frozen=True)
class DoseAdvice:
    """Result of :func:`recommend_regimen`.

    Attributes
    ----------
    status : AdviceStatus
    recommended : RegimenEvaluation or None
        The chosen regimen (None when no regimen qualifies).
    best_available : RegimenEvaluation or None
        When none qualifies: the candidate closest to the rule.
    reason : str
        Why, in words, with the probabilities.
    required_probability : float
        Minimum P(trough ≥ target).
    max_alert_probability : float
        Maximum P(trough > alert) allowed.
    rule : str
        The decision rule in words.
    table : RegimenTable
    """

    status: AdviceStatus
    recommended: RegimenEvaluation | None
    best_available: RegimenEvaluation | None
    reason: str
    required_probability: float
    max_alert_probability: float
    rule: str
    table: RegimenTable

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "status": self.status.value,
            "recommended": None if self.recommended is None else self.recommended.to_dict(),
            "best_available": (
                None if self.best_available is None else self.best_available.to_dict()
            ),
            "reason": self.reason,
            "required_probability": self.required_probability,
            "max_alert_probability": self.max_alert_probability,
            "rule": self.rule,
            "table": self.table.to_dict(),
        }


def _pct(p: float) -> str:
    return f"{100.0 * p:.0f}%"


def recommend_regimen(
    table: RegimenTable, *, probability: float = 0.8, max_alert_probability: float = 0.5
) -> DoseAdvice:
    """Lowest daily dose that reaches the target with ``probability`` without a likely alert.

    Parameters
    ----------
    table : RegimenTable
        From :func:`evaluate_regimens`.
    probability : float, default 0.8
        Required P(trough ≥ target), in (0, 1].
    max_alert_probability : float, default 0.5
        A regimen is excluded when P(trough > alert) exceeds this (0.5: the predicted median
        trough is above the alert). Ignored when the table has no alert.

    Returns
    -------
    DoseAdvice
        ``RECOMMENDED`` with the regimen, or ``NO_REGIMEN_QUALIFIES`` with the best available and
        the reason. Never raises for an infeasible rule: the absence is stated.

    Raises
    ------
    ValueError
        ``probability`` or ``max_alert_probability`` out of range.

    Notes
    -----
    Qualifying: P(trough ≥ target) ≥ ``probability`` and P(trough > alert) ≤
    ``max_alert_probability``. Among those, the lowest daily dose; ties go to fewer
    administrations per day, then the higher attainment. When none qualifies, the best available
    is the alert-acceptable regimen with the highest attainment (then the highest median
    trough), or, when
    every regimen is likely above the alert, the one least likely above it.
    """
    if not 0.0 < probability <= 1.0:
        raise ValueError(f"probability must be in (0, 1], got {probability!r}")
    if not 0.0 <= max_alert_probability <= 1.0:
        raise ValueError(f"max_alert_probability must be in [0, 1], got {max_alert_probability!r}")
    target = f"{table.target_ng_per_ml:g} ng/mL ({table.target_id})"
    has_alert = table.alert_ng_per_ml is not None
    alert = f"{table.alert_ng_per_ml:g} ng/mL ({table.alert_id})" if has_alert else ""
    rule = f"lowest daily dose with P(trough >= {target}) >= {_pct(probability)}"
    if has_alert:
        rule += f" and P(trough > {alert}) <= {_pct(max_alert_probability)}"

    def alert_ok(row: RegimenEvaluation) -> bool:
        p = row.probability_above_alert
        return p is None or p <= max_alert_probability

    qualifying = [
        r for r in table.rows if r.probability_target_attained >= probability and alert_ok(r)
    ]

    def advice(
        status: AdviceStatus,
        chosen: RegimenEvaluation | None,
        best: RegimenEvaluation | None,
        reason: str,
    ) -> DoseAdvice:
        return DoseAdvice(
            status, chosen, best, reason, probability, max_alert_probability, rule, table
        )

    if qualifying:
        chosen = min(
            qualifying,
            key=lambda r: (
                r.regimen.daily_dose_mg,
                r.regimen.administrations_per_day,
                -r.probability_target_attained,
            ),
        )
        reason = (
            f"{chosen.regimen.label} is the lowest daily dose reaching {target} with probability "
            f"{_pct(chosen.probability_target_attained)} (required {_pct(probability)})"
        )
        if chosen.probability_above_alert is not None:
            reason += (
                f"; P(trough > {alert}) = {_pct(chosen.probability_above_alert)} "
                f"(allowed {_pct(max_alert_probability)})"
            )
        reason += (
            f". Predicted steady-state trough median {chosen.trough_median_ng_per_ml:.0f} ng/mL "
            f"(90% interval {chosen.trough_p5_ng_per_ml:.0f}-{chosen.trough_p95_ng_per_ml:.0f})."
        )
        return advice(AdviceStatus.RECOMMENDED, chosen, None, reason)

    acceptable = [r for r in table.rows if alert_ok(r)]
    if acceptable:
        best = max(
            acceptable,
            key=lambda r: (r.probability_target_attained, r.trough_median_ng_per_ml),
        )
        reason = (
            f"No candidate regimen reaches {target} with probability >= {_pct(probability)}. "
            f"Best available: {best.regimen.label}, P(trough >= target) = "
            f"{_pct(best.probability_target_attained)}, predicted trough median "
            f"{best.trough_median_ng_per_ml:.0f} ng/mL "
            f"(90% interval {best.trough_p5_ng_per_ml:.0f}-{best.trough_p95_ng_per_ml:.0f})."
        )
        excluded = [r for r in table.rows if not alert_ok(r)]
        if excluded:
            reason += (
                f" Excluded because P(trough > {alert}) > {_pct(max_alert_probability)}: "
                + ", ".join(
                    f"{r.regimen.label} ({_pct(r.probability_above_alert or 0.0)})"
                    for r in excluded
                )
                + "."
            )
        else:
            reason += " The highest allowed dose is not enough."
        reason += (
            " Review adherence, interacting drugs (CYP3A4 inducers) and sample timing before "
            "any change; the decision is clinical."
        )
    else:
        best = min(
            table.rows,
            key=lambda r: (r.probability_above_alert or 0.0, r.regimen.daily_dose_mg),
        )
        reason = (
            f"Every candidate regimen is likely above the alert {alert} (P > "
            f"{_pct(max_alert_probability)}). Least likely: {best.regimen.label}, P(trough > "
            f"alert) = {_pct(best.probability_above_alert or 0.0)}, predicted trough median "
            f"{best.trough_median_ng_per_ml:.0f} ng/mL. No candidate qualifies; the decision "
            "is clinical."
        )
    return advice(AdviceStatus.NO_REGIMEN_QUALIFIES, None, best, reason)
