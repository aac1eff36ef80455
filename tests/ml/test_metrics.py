"""Metric code against scikit-learn and hand-computed closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from imatinib_tdm.ml import (
    auroc,
    average_precision,
    brier_score,
    calibration_intercept_slope,
    net_benefit,
    sensitivity_specificity,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_aupr_brier_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)  # rounding creates ties, the tricky case
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_auroc_by_hand() -> None:
    # positives 0.8, 0.4; negatives 0.5, 0.1: pairs won 1 + 1 + 0 + 1 = 3 of 4
    assert auroc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)


def test_calibration_slope_and_intercept_by_hand() -> None:
    # Two predicted values with observed fractions 1/4 and 3/4: the saturated fit passes through
    # both points, slope = (logit 3/4 - logit 1/4) / (logit 0.8 - logit 0.2) = ln 9 / ln 16.
    p = np.array([0.2] * 4 + [0.8] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    intercept, slope = calibration_intercept_slope(y, p)
    assert slope == pytest.approx(np.log(9) / np.log(16), rel=1e-8)
    # one predicted value: the intercept is logit(observed) - logit(predicted)
    intercept, _ = calibration_intercept_slope([1, 0, 0, 0], [0.5] * 4)
    assert intercept == pytest.approx(np.log(1 / 3), rel=1e-8)


def test_net_benefit_and_operating_point_by_hand() -> None:
    y = [1, 1, 0, 0, 0]
    p = [0.9, 0.3, 0.6, 0.2, 0.1]
    # at pt 0.5: flagged 0.9 (TP) and 0.6 (FP): 1/5 - 1/5 * 1 = 0
    assert net_benefit(y, p, 0.5) == pytest.approx(0.0)
    # at pt 0.25: flagged 0.9, 0.3 (TP) and 0.6 (FP): 2/5 - 1/5 * (1/3)
    assert net_benefit(y, p, 0.25) == pytest.approx(0.4 - 0.2 / 3)
    assert sensitivity_specificity(y, p, 0.5) == pytest.approx((0.5, 2 / 3))
