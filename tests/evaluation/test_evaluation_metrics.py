"""Metric definitions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imatinib_tdm.evaluation import likelihood_weights, prediction_metrics, relative_errors


def test_relative_errors_are_pred_minus_obs_over_obs() -> None:
    assert relative_errors([1.5, 0.5, 2.0], [1.0, 1.0, 0.0]).tolist()[:2] == [50.0, -50.0]
    assert math.isnan(relative_errors([2.0], [0.0])[0])  # obs 0: undefined, not inf


def test_metrics_equal_hand_computation() -> None:
    obs = [1.0, 2.0, 4.0, 0.5, 1.0]
    pred = [1.1, 1.5, 4.4, 0.8, 1.0]
    # PE = +10, -25, +10, +60, 0 (%)
    m = prediction_metrics(pred, obs, lower=[0.9, 2.1, 3.0, 0.1, 0.5], upper=[1.2] * 5)
    assert m.n == 5
    assert m.mpe == pytest.approx((10 - 25 + 10 + 60 + 0) / 5)
    assert m.mdpe == pytest.approx(10.0)
    assert m.mape == pytest.approx((10 + 25 + 10 + 60 + 0) / 5)
    assert m.mdape == pytest.approx(10.0)
    assert m.relative_rmse == pytest.approx(math.sqrt((100 + 625 + 100 + 3600) / 5))
    sq = [0.01, 0.25, 0.16, 0.09, 0.0]
    assert m.rmse_mg_per_l == pytest.approx(math.sqrt(sum(sq) / 5))
    assert m.f20 == pytest.approx(60.0)  # 10, 10, 0
    assert m.f30 == pytest.approx(80.0)  # and 25
    # inside [lower, upper]: obs 1 (0.9-1.2), obs 4 (0.1-1.2), obs 5 (0.5-1.2); not 2, 3
    assert m.pi90 == pytest.approx(60.0)


def test_missing_and_censored_pairs_are_left_out() -> None:
    m = prediction_metrics([1.0, np.nan, 2.0], [1.0, 1.0, np.nan])
    assert m.n == 1 and m.mpe == 0.0
    assert prediction_metrics([np.nan], [1.0]).n == 0


def test_likelihood_weights_are_normalised_exp_minus_half_delta() -> None:
    w = likelihood_weights(np.array([[10.0, 10.0 + 2 * math.log(3.0), np.inf], [np.nan] * 3]))
    assert w[0].tolist() == pytest.approx([0.75, 0.25, 0.0])
    assert np.isnan(w[1]).all()
