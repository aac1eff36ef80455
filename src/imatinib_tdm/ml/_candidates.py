"""Candidate classifiers compared under the same nested cross-validation.

All candidates weight the classes inversely to their frequency (``class_weight="balanced"`` or,
for XGBoost, ``scale_pos_weight = n_negative / n_positive`` computed on each training fold).
Hyper-parameter grids are small on purpose (software choices, tuned by the inner CV).

The popPK baseline is not learned: it is P(trough < threshold) under a library model's
population distribution (inter-individual variability and residual error) for the patient's
daily dose and sex, with the model's other covariates at their reference values, indication GIST.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from xgboost import XGBClassifier

from imatinib_tdm.ml._data import DEFAULT_THRESHOLD_NG_PER_ML
from imatinib_tdm.ml._features import encoded_feature_names
from imatinib_tdm.pk import simulate_steady_state_troughs
from imatinib_tdm.pk.library import get_model

__all__ = [
    "BalancedXGBClassifier",
    "CandidateName",
    "PopPKBaselineClassifier",
    "build_candidate",
]


class CandidateName(enum.StrEnum):
    """The candidate model families."""

    LOGISTIC = "logistic"
    RANDOM_FOREST = "random_forest"
    XGBOOST = "xgboost"
    SVM = "svm"
    POPPK_BASELINE = "poppk_baseline"


class BalancedXGBClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """XGBoost gradient boosting with ``scale_pos_weight`` set from each training fold.

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, random_state
        Passed to :class:`xgboost.XGBClassifier` (``tree_method="hist"``, one thread).
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 2,
        learning_rate: float = 0.1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, x: NDArray[np.float64], y: NDArray[np.int64]) -> BalancedXGBClassifier:
        """Fit on ``x`` of shape (n_patients, n_features) and 0/1 labels ``y``."""
        y = np.asarray(y)
        n_positive = max(int(y.sum()), 1)
        self.scale_pos_weight_ = (len(y) - n_positive) / n_positive
        self.model_ = XGBClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            random_state=self.random_state,
            scale_pos_weight=self.scale_pos_weight_,
            tree_method="hist",
            n_jobs=1,
            eval_metric="logloss",
        )
        self.model_.fit(np.asarray(x, dtype=np.float64), y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probabilities of shape (n_patients, 2); column 1 = trough below threshold."""
        return np.asarray(self.model_.predict_proba(np.asarray(x, dtype=np.float64)))

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """Class at probability 0.5."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(np.int64)


class PopPKBaselineClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """P(trough < threshold) from a library popPK model for the patient's dose and sex.

    Nothing is learned from the data; ``fit`` only records the classes. Regimen: daily dose once
    a day, except 800 mg/day as 400 mg twice daily (label administration; clinical reference
    ``imatinib_clinical_kb.md`` section 5 [R52]).

    Parameters
    ----------
    model_id : str, default="widmer2006_covariate"
    threshold_ng_per_ml : float, default=1100
    n_draws : int, default=2000
        Monte Carlo individuals per distinct (dose, sex) pair.
    seed : int, default=0
    """

    def __init__(
        self,
        model_id: str = "widmer2006_covariate",
        threshold_ng_per_ml: float = DEFAULT_THRESHOLD_NG_PER_ML,
        n_draws: int = 2000,
        seed: int = 0,
    ) -> None:
        self.model_id = model_id
        self.threshold_ng_per_ml = threshold_ng_per_ml
        self.n_draws = n_draws
        self.seed = seed

    def fit(self, x: NDArray[np.float64], y: NDArray[np.int64]) -> PopPKBaselineClassifier:
        """Record the classes (the baseline has no fitted parameters)."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probabilities of shape (n_patients, 2) from population simulation."""
        names = encoded_feature_names()
        x = np.asarray(x, dtype=np.float64)
        dose = x[:, names.index("daily_dose_mg")]
        sex = x[:, names.index("sex_male")]
        model = get_model(self.model_id)
        covariate_names = {c.name for c in model.covariates}
        cache: dict[tuple[float, float], float] = {}
        below = np.empty(len(x))
        for i, key in enumerate(zip(dose.tolist(), sex.tolist(), strict=True)):
            if key not in cache:
                daily, male = key
                amount, interval = (daily / 2.0, 12.0) if daily >= 800.0 else (daily, 24.0)
                covariates: dict[str, Any] = {"sex_male": male, "indication_gist": 1.0}
                covariates.update(
                    {c.name: c.reference for c in model.covariates if c.name not in covariates}
                )
                simulation = simulate_steady_state_troughs(
                    model,
                    {k: v for k, v in covariates.items() if k in covariate_names},
                    dose_mg=amount,
                    interval_h=interval,
                    n_individuals=self.n_draws,
                    seed=self.seed,
                )
                troughs_ng_per_ml = simulation.troughs_mg_per_l * 1000.0  # unit definition
                cache[key] = float(np.mean(troughs_ng_per_ml < self.threshold_ng_per_ml))
            below[i] = cache[key]
        below = np.clip(below, 1e-4, 1 - 1e-4)  # keeps log-loss style metrics finite
        return np.column_stack([1.0 - below, below])

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """Class at probability 0.5."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(np.int64)


def build_candidate(
    name: CandidateName | str,
    *,
    seed: int = 0,
    threshold_ng_per_ml: float = DEFAULT_THRESHOLD_NG_PER_ML,
    fast: bool = False,
) -> tuple[Any, dict[str, list[Any]]]:
    """An unfitted estimator and its hyper-parameter grid for the inner CV.

    Parameters
    ----------
    name : CandidateName or str
    seed : int, default=0
    threshold_ng_per_ml : float, default=1100
        Used by the popPK baseline only.
    fast : bool, default=False
        Smaller forests/boosting and grids (tests and quick looks).

    Returns
    -------
    (estimator, grid)
        ``grid`` maps parameter names to candidate values (empty: nothing to tune).
    """
    kind = CandidateName(name)
    trees = 50 if fast else 300
    if kind is CandidateName.LOGISTIC:
        pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                ("model", LogisticRegression(class_weight="balanced", max_iter=2000)),
            ]
        )
        grid: dict[str, list[Any]] = {"model__C": [0.1, 1.0] if fast else [0.01, 0.1, 1.0, 10.0]}
        return pipeline, grid
    if kind is CandidateName.RANDOM_FOREST:
        forest = RandomForestClassifier(
            n_estimators=trees, class_weight="balanced", random_state=seed, n_jobs=1
        )
        return forest, {"min_samples_leaf": [5, 20] if fast else [2, 5, 10, 20]}
    if kind is CandidateName.XGBOOST:
        booster = BalancedXGBClassifier(n_estimators=trees // 2 if fast else 200, random_state=seed)
        return booster, {
            "max_depth": [2] if fast else [2, 3],
            "learning_rate": [0.1] if fast else [0.03, 0.1],
        }
    if kind is CandidateName.SVM:
        svm = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "model",
                    CalibratedClassifierCV(
                        SVC(kernel="rbf", class_weight="balanced", random_state=seed),
                        method="sigmoid",
                        cv=3,
                    ),
                ),
            ]
        )
        return svm, {"model__estimator__C": [1.0] if fast else [0.3, 1.0, 3.0]}
    baseline = PopPKBaselineClassifier(threshold_ng_per_ml=threshold_ng_per_ml, seed=seed)
    return baseline, {}
