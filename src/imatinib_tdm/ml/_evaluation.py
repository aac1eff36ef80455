"""Nested cross-validation of the candidate classifiers, with bootstrap 95% intervals.

Outer stratified K-fold gives out-of-fold probabilities for every patient; inside each outer
training fold an inner stratified K-fold grid search (scoring AUROC) picks the hyper-parameters,
then the candidate is refitted on the whole outer training fold. Metrics are computed on the
pooled out-of-fold probabilities; their 95% intervals are percentile intervals from a bootstrap
over patients of those pooled predictions (it reflects sampling of patients, not the variability
of refitting, so it is somewhat narrow). Per-fold AUROCs are kept as a second view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from imatinib_tdm.errors import TrainingDataError
from imatinib_tdm.ml._candidates import CandidateName, build_candidate
from imatinib_tdm.ml._data import TrainingData
from imatinib_tdm.ml._metrics import (
    auroc,
    average_precision,
    brier_score,
    calibration_intercept_slope,
    net_benefit,
    sensitivity_specificity,
)

__all__ = [
    "CLASS_WEIGHTING",
    "CandidateEvaluation",
    "EvaluationResult",
    "MetricEstimate",
    "compute_metrics",
    "fit_candidate",
    "nested_cross_validate",
]

CLASS_WEIGHTING = (
    "classes weighted inversely to their frequency in each training fold (class_weight='balanced'; "
    "XGBoost scale_pos_weight = n_negative / n_positive); the popPK baseline is not trained"
)
DECISION_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2))


@dataclass(frozen=True)
class MetricEstimate:
    """A metric on the pooled out-of-fold predictions with its bootstrap 95% interval."""

    value: float
    low: float
    high: float

    def covers(self, target: float) -> bool:
        """Whether ``target`` lies inside the interval (bounds included)."""
        return self.low <= target <= self.high


@dataclass(frozen=True, eq=False)
class CandidateEvaluation:
    """Outer-CV results of one candidate.

    Attributes
    ----------
    name : str
    probability : ndarray of shape (n_patients,)
        Out-of-fold probability of a trough below threshold.
    metrics : dict of str to MetricEstimate
        auroc, aupr, brier, calibration_intercept, calibration_slope, sensitivity, specificity,
        net_benefit (at the operating point).
    fold_auroc : tuple of float
    chosen_parameters : tuple of dict
        Hyper-parameters picked by the inner CV in each outer fold.
    net_benefit_curve : tuple of float
        Net benefit at each of ``EvaluationResult.decision_thresholds``.
    """

    name: str
    probability: NDArray[np.float64] = field(repr=False)
    metrics: dict[str, MetricEstimate]
    fold_auroc: tuple[float, ...]
    chosen_parameters: tuple[dict[str, Any], ...]
    net_benefit_curve: tuple[float, ...] = field(repr=False)


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Nested-CV comparison of candidates on one data set."""

    candidates: dict[str, CandidateEvaluation]
    y: NDArray[np.int64] = field(repr=False)
    threshold_ng_per_ml: float
    outer_folds: int
    inner_folds: int
    seed: int
    n_bootstrap: int
    operating_point: float
    class_weighting: str
    synthetic: bool
    data_sha256: str
    decision_thresholds: tuple[float, ...] = DECISION_THRESHOLDS

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return int(self.y.size)

    @property
    def n_below(self) -> int:
        """Patients below threshold (positive class)."""
        return int(self.y.sum())

    def best(self, among: Sequence[str] | None = None) -> str:
        """Candidate with the highest pooled out-of-fold AUROC (optionally among some names)."""
        names = [n for n in self.candidates if among is None or n in among]
        if not names:
            raise ValueError(f"none of {list(among or [])} was evaluated")
        return max(names, key=lambda n: self.candidates[n].metrics["auroc"].value)

    def treat_all_net_benefit(self) -> tuple[float, ...]:
        """Net benefit of testing everybody, at each decision threshold."""
        prevalence = self.n_below / self.n_patients
        return tuple(prevalence - (1 - prevalence) * t / (1 - t) for t in self.decision_thresholds)


def compute_metrics(
    y: NDArray[np.int64], p: NDArray[np.float64], operating_point: float
) -> dict[str, float]:
    """Point values of every reported metric for probabilities ``p`` and labels ``y``."""
    intercept, slope = calibration_intercept_slope(y, p)
    sensitivity, specificity = sensitivity_specificity(y, p, operating_point)
    return {
        "auroc": auroc(y, p),
        "aupr": average_precision(y, p),
        "brier": brier_score(y, p),
        "calibration_intercept": intercept,
        "calibration_slope": slope,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "net_benefit": net_benefit(y, p, operating_point),
    }


def _bootstrap(
    y: NDArray[np.int64],
    p: NDArray[np.float64],
    operating_point: float,
    n_bootstrap: int,
    seed: int,
) -> dict[str, MetricEstimate]:
    point = compute_metrics(y, p, operating_point)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(n_bootstrap):
        index = rng.integers(0, y.size, y.size)
        if y[index].min() == y[index].max():
            continue  # a resample with one class has no AUROC; skip it
        for name, value in compute_metrics(y[index], p[index], operating_point).items():
            draws[name].append(value)
    estimates = {}
    for name, value in point.items():
        values = np.asarray([v for v in draws[name] if np.isfinite(v)])
        low, high = np.percentile(values, [2.5, 97.5]) if values.size else (np.nan, np.nan)
        estimates[name] = MetricEstimate(value=value, low=float(low), high=float(high))
    return estimates


def fit_candidate(
    name: CandidateName | str,
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    *,
    inner_folds: int = 3,
    seed: int = 0,
    threshold_ng_per_ml: float = 1100.0,
    fast: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Tune by inner stratified CV (AUROC), refit on all of ``x``; returns (estimator, params)."""
    estimator, grid = build_candidate(
        name, seed=seed, threshold_ng_per_ml=threshold_ng_per_ml, fast=fast
    )
    if not grid or all(len(values) == 1 for values in grid.values()):
        chosen = {key: values[0] for key, values in grid.items()}
        return clone(estimator).set_params(**chosen).fit(x, y), chosen
    search = GridSearchCV(
        estimator,
        grid,
        scoring="roc_auc",
        cv=StratifiedKFold(inner_folds, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
    )
    search.fit(x, y)
    return search.best_estimator_, dict(search.best_params_)


def nested_cross_validate(
    data: TrainingData,
    *,
    candidates: Sequence[CandidateName | str] = tuple(CandidateName),
    outer_folds: int = 5,
    inner_folds: int = 3,
    seed: int = 0,
    n_bootstrap: int = 500,
    operating_point: float = 0.5,
    fast: bool = False,
) -> EvaluationResult:
    """Compare candidates under the same nested cross-validation.

    Parameters
    ----------
    data : TrainingData
    candidates : sequence of CandidateName, default=all five
    outer_folds, inner_folds : int, default=5, 3
    seed : int, default=0
        Fixes the folds, the models' randomness and the bootstrap.
    n_bootstrap : int, default=500
        Bootstrap resamples for the 95% intervals.
    operating_point : float, default=0.5
        Probability at or above which a patient is flagged (sensitivity, specificity, net benefit).
    fast : bool, default=False
        Smaller models and grids (tests).

    Raises
    ------
    TrainingDataError
        A class has fewer patients than ``outer_folds``.
    """
    y = np.asarray(data.y, dtype=np.int64)
    smallest = int(min(y.sum(), y.size - y.sum()))
    if smallest < outer_folds:
        raise TrainingDataError(
            f"only {smallest} patients in the smaller class; nested CV with {outer_folds} outer "
            "folds needs at least that many in each class",
            column="trough_ng_per_ml",
        )
    outer = StratifiedKFold(outer_folds, shuffle=True, random_state=seed)
    splits = list(outer.split(data.x, y))
    results: dict[str, CandidateEvaluation] = {}
    for raw_name in candidates:
        name = CandidateName(raw_name)
        probability = np.empty(y.size)
        fold_auroc: list[float] = []
        chosen: list[dict[str, Any]] = []
        for train, test in splits:
            model, params = fit_candidate(
                name,
                data.x[train],
                y[train],
                inner_folds=inner_folds,
                seed=seed,
                threshold_ng_per_ml=data.threshold_ng_per_ml,
                fast=fast,
            )
            probability[test] = model.predict_proba(data.x[test])[:, 1]
            fold_auroc.append(auroc(y[test], probability[test]))
            chosen.append(params)
        results[name.value] = CandidateEvaluation(
            name=name.value,
            probability=probability,
            metrics=_bootstrap(y, probability, operating_point, n_bootstrap, seed),
            fold_auroc=tuple(fold_auroc),
            chosen_parameters=tuple(chosen),
            net_benefit_curve=tuple(net_benefit(y, probability, t) for t in DECISION_THRESHOLDS),
        )
    return EvaluationResult(
        candidates=results,
        y=y,
        threshold_ng_per_ml=data.threshold_ng_per_ml,
        outer_folds=outer_folds,
        inner_folds=inner_folds,
        seed=seed,
        n_bootstrap=n_bootstrap,
        operating_point=operating_point,
        class_weighting=CLASS_WEIGHTING,
        synthetic=data.synthetic,
        data_sha256=data.sha256,
    )
