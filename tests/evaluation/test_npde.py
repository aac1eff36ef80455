"""NPDE, prediction intervals and pcVPC of data simulated from the evaluated model."""

from __future__ import annotations

import numpy as np
import pytest

from imatinib_tdm.evaluation import evaluate_model, npde, pcvpc
from imatinib_tdm.pk.library import get_model

from .conftest import simulated


@pytest.mark.parametrize("model_id", ["widmer2006_base", "gotta2014"])
def test_npde_of_the_true_model_is_standard_normal(model_id: str) -> None:
    from imatinib_tdm.evaluation import simulate_dataset

    model = get_model(model_id)
    table = simulate_dataset(
        model,
        n_patients=150,
        covariates={"sex_male": 1.0, "age_years": 50.0},
        dose_mg=400.0,
        interval_h=24.0,
        n_doses=40,
        sample_times_h=[2.0, 24 * 29 + 23.5, 24 * 39 + 3.0],
        seed=11,
    )
    result = evaluate_model(model, table, n_replicates=300, seed=12, forecasting=False)
    assert result.npde is not None
    values = result.npde[np.isfinite(result.npde)]
    assert values.size >= 400
    # bounds: about 4 standard errors for ~450 independent N(0,1) values (SE mean 0.047,
    # SE variance 0.067), widened for the discreteness of 300 replicates
    assert abs(values.mean()) < 0.2
    assert 0.75 < values.var() < 1.25
    assert 82.0 <= result.metrics["population"].pi90 <= 97.0


def test_npde_detects_the_wrong_model() -> None:
    # the same check must fail when the data come from a model with 40% lower CL/F
    table = simulated("yamakawa2011", 150, seed=13)
    result = evaluate_model(
        get_model("widmer2006_base"), table, n_replicates=200, forecasting=False
    )
    assert result.npde is not None
    assert np.nanmean(result.npde) > 0.5


def test_npde_decorrelates_within_patient() -> None:
    rng = np.random.default_rng(0)
    # replicates with strongly correlated pairs; observations drawn from the same law
    k, n = 2000, 300
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    reps = rng.multivariate_normal([0, 0], cov, size=(k, n))
    obs = rng.multivariate_normal([0, 0], cov, size=n)
    values = npde(reps, obs, np.ones((n, 2), bool))
    # after decorrelation the two npde of a patient are uncorrelated
    assert abs(np.corrcoef(values[:, 0], values[:, 1])[0, 1]) < 0.2
    assert abs(values.mean()) < 0.15


def test_pcvpc_bins_and_percentiles() -> None:
    rng = np.random.default_rng(1)
    tad = rng.uniform(0, 24, 600)
    pred = np.exp(-tad / 20)
    obs = pred * np.exp(0.3 * rng.standard_normal(600))
    reps = pred[None] * np.exp(0.3 * rng.standard_normal((100, 600)))
    vpc = pcvpc(tad, obs, pred, reps, n_bins=4)
    assert vpc.n_obs.sum() == 600 and vpc.observed.shape == (4, 3)
    inside = (vpc.observed >= vpc.simulated_low) & (vpc.observed <= vpc.simulated_high)
    assert inside.mean() >= 0.75
