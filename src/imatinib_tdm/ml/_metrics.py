"""Classification metrics, written out so each can be checked against a closed form.

Probabilities are for the positive class (trough below threshold). Intervals elsewhere come from
bootstrapping these functions; the functions themselves are deterministic.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

__all__ = [
    "auroc",
    "average_precision",
    "brier_score",
    "calibration_intercept_slope",
    "net_benefit",
    "roc_curve_points",
    "sensitivity_specificity",
]

_EPS = 1e-6


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    p_arr = np.asarray(p, dtype=np.float64).ravel()
    if y_arr.shape != p_arr.shape or y_arr.size == 0:
        raise ValueError(
            f"y and p must be non-empty and of equal length ({y_arr.size}, {p_arr.size})"
        )
    return y_arr, p_arr


def auroc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney form, ties count 1/2); NaN with one class."""
    y_arr, p_arr = _arrays(y, p)
    positive, negative = p_arr[y_arr == 1], p_arr[y_arr == 0]
    if positive.size == 0 or negative.size == 0:
        return float("nan")
    order = np.argsort(np.concatenate([positive, negative]), kind="mergesort")
    ranks = np.empty(order.size)
    values = np.concatenate([positive, negative])[order]
    # average ranks over ties
    _, first, counts = np.unique(values, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    rank_sum = ranks[: positive.size].sum()
    return float(
        (rank_sum - positive.size * (positive.size + 1) / 2) / (positive.size * negative.size)
    )


def average_precision(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision: sum over thresholds of
    (recall_k - recall_{k-1}) x precision_k (scikit-learn's definition, no interpolation)."""
    y_arr, p_arr = _arrays(y, p)
    n_positive = y_arr.sum()
    if n_positive == 0:
        return float("nan")
    order = np.argsort(-p_arr, kind="mergesort")
    y_sorted, p_sorted = y_arr[order], p_arr[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(p_sorted)), y_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    predicted = last_of_tie + 1.0
    precision = tp / predicted
    recall = tp / n_positive
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier_score(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared difference between probability and outcome (0 best)."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def _logistic_fit(
    y: NDArray[np.float64], x: NDArray[np.float64] | None, offset: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Maximum-likelihood logistic regression by Newton's method: intercept (+ slope on x)."""
    design = np.ones((y.size, 1)) if x is None else np.column_stack([np.ones(y.size), x])
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        mu = expit(offset + design @ beta)
        gradient = design.T @ (y - mu)
        hessian = design.T @ (design * (mu * (1 - mu))[:, None])
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return np.asarray(beta, dtype=np.float64)


def calibration_intercept_slope(y: ArrayLike, p: ArrayLike) -> tuple[float, float]:
    """Calibration intercept (calibration-in-the-large) and slope on the logit scale.

    The slope is b in logit P(y=1) = a + b logit(p); the intercept is a' in
    logit P(y=1) = a' + logit(p) (slope fixed at 1, the usual definition). Perfect calibration
    gives (0, 1); a slope below 1 means predictions are too extreme. Probabilities are clipped
    to [1e-6, 1 - 1e-6].
    """
    y_arr, p_arr = _arrays(y, p)
    lp = logit(np.clip(p_arr, _EPS, 1 - _EPS))
    intercept = _logistic_fit(y_arr, None, lp)[0]
    slope = _logistic_fit(y_arr, lp, np.zeros_like(lp))[1]
    return float(intercept), float(slope)


def sensitivity_specificity(
    y: ArrayLike, p: ArrayLike, operating_point: float
) -> tuple[float, float]:
    """Sensitivity and specificity when patients with ``p >= operating_point`` are flagged."""
    y_arr, p_arr = _arrays(y, p)
    flagged = p_arr >= operating_point
    positive, negative = y_arr == 1, y_arr == 0
    sensitivity = flagged[positive].mean() if positive.any() else float("nan")
    specificity = (~flagged[negative]).mean() if negative.any() else float("nan")
    return float(sensitivity), float(specificity)


def net_benefit(y: ArrayLike, p: ArrayLike, threshold_probability: float) -> float:
    """Decision-curve net benefit of flagging ``p >= pt``: TP/n - FP/n x pt / (1 - pt)."""
    if not 0 < threshold_probability < 1:
        raise ValueError(f"threshold_probability must be in (0, 1), got {threshold_probability}")
    y_arr, p_arr = _arrays(y, p)
    flagged = p_arr >= threshold_probability
    n = y_arr.size
    tp = float(np.sum(flagged & (y_arr == 1)))
    fp = float(np.sum(flagged & (y_arr == 0)))
    return tp / n - fp / n * threshold_probability / (1 - threshold_probability)


def roc_curve_points(y: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """False- and true-positive rates over all thresholds, from (0, 0) to (1, 1)."""
    y_arr, p_arr = _arrays(y, p)
    order = np.argsort(-p_arr, kind="mergesort")
    y_sorted, p_sorted = y_arr[order], p_arr[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(p_sorted)), y_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    tpr = np.r_[0.0, tp / max(y_arr.sum(), 1)]
    fpr = np.r_[0.0, fp / max((1 - y_arr).sum(), 1)]
    return fpr, tpr
