"""Predictions, forecasting and ranking on data simulated from a known model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imatinib_tdm.evaluation import (
    concatenate_predictions,
    evaluate_dataset,
    observation_layout,
    predict_model,
)
from imatinib_tdm.pk.library import get_model

from .conftest import simulated

CANDIDATES = ["widmer2006_base", "yamakawa2011", "wang2019"]


def _singles(study):  # type: ignore[no-untyped-def]
    return [row for row in study.ranking if row.model_id in CANDIDATES]


@pytest.mark.parametrize("true_model", ["widmer2006_base", "yamakawa2011"])
def test_the_generating_model_ranks_first_with_small_bias(true_model: str) -> None:
    # 50 patients x 3 trough occasions = 100 forecasts; the other candidates differ in CL/F
    # (14.3, 8.7, 9.25 L/h), so a ranking that ignored the data would fail here
    table = simulated(true_model, 50, seed=1)
    study = evaluate_dataset(table, [get_model(m) for m in CANDIDATES], n_replicates=0)
    singles = _singles(study)
    assert singles[0].model_id == true_model
    forecast = singles[0].metrics["forecast"]
    assert forecast.n >= 95  # censored (below 50 ng/mL) observations are not scored
    # tolerance: |MDPE| <= 12% (the true model's MAP forecasts are median-unbiased up to the
    # MAP-versus-mean shrinkage effect, about -5 to -8% for widmer2006_base in 1000 forecasts,
    # plus sampling noise of a median of 100 values, SD about 4%)
    assert abs(forecast.mdpe) <= 12.0
    # and every other candidate is clearly worse on precision or bias
    for row in singles[1:]:
        m = row.metrics["forecast"]
        assert m.mdape > forecast.mdape or abs(m.mdpe) > abs(forecast.mdpe) + 5.0


@pytest.mark.slow
@pytest.mark.parametrize("true_model", ["widmer2006_base", "yamakawa2011"])
@pytest.mark.parametrize("seed", [2, 3])
def test_the_generating_model_ranks_first_on_larger_data(true_model: str, seed: int) -> None:
    table = simulated(true_model, 300, seed=seed)
    study = evaluate_dataset(table, [get_model(m) for m in CANDIDATES], n_replicates=0)
    singles = _singles(study)
    assert singles[0].model_id == true_model
    assert abs(singles[0].metrics["forecast"].mdpe) <= 10.0


def test_forecast_uses_only_earlier_occasions() -> None:
    table = simulated("widmer2006_base", 6, seed=4)
    model = get_model("widmer2006_base")
    before = predict_model(model, table)
    # change the last observation of every patient: forecasts of occasions 0-1 must not move,
    # the forecast of occasion 2 (fitted on 0-1) must not move either; IPRED moves
    dv = table.dv_mg_per_l.copy()
    obs = np.flatnonzero(table.kind[0] == 0)
    dv[:, obs[-1]] *= 3.0
    after = predict_model(model, dataclasses.replace(table, dv_mg_per_l=dv))
    np.testing.assert_allclose(after.forecast_mg_per_l, before.forecast_mg_per_l, equal_nan=True)
    assert np.isnan(before.forecast_mg_per_l[before.occasion == 0]).all()
    assert np.isfinite(before.forecast_mg_per_l[before.occasion > 0]).all()
    assert not np.allclose(after.individual_mg_per_l, before.individual_mg_per_l)
    # changing the first observation moves the forecasts of later occasions
    dv = table.dv_mg_per_l.copy()
    dv[:, obs[0]] *= 3.0
    moved = predict_model(model, dataclasses.replace(table, dv_mg_per_l=dv))
    later = before.occasion > 0
    assert np.all(moved.forecast_mg_per_l[later] > before.forecast_mg_per_l[later])


def test_chunks_concatenate_to_the_whole() -> None:
    table = simulated("widmer2006_base", 8, seed=5)
    model = get_model("widmer2006_base")
    whole = predict_model(model, table)
    parts = [predict_model(model, table.take(np.arange(a, b))) for a, b in ((0, 3), (3, 8))]
    joined = concatenate_predictions(parts)
    np.testing.assert_array_equal(joined.patient_id, whole.patient_id)
    for name in ("population_mg_per_l", "individual_mg_per_l", "forecast_mg_per_l"):
        np.testing.assert_allclose(getattr(joined, name), getattr(whole, name), rtol=1e-6)


def test_occasions_from_time_gaps() -> None:
    table = simulated("widmer2006_base", 2, seed=6)
    layout = observation_layout(table)
    assert layout.occasion[0].tolist() == [0, 1, 2]
    # a gap rule longer than the 15-day spacing makes one occasion: no forecast possible
    assert observation_layout(table, occasion_gap_h=24 * 20).n_occasions.tolist() == [1, 1]


def test_a_model_that_cannot_be_evaluated_is_ranked_with_its_reason() -> None:
    table = simulated("widmer2006_base", 5, seed=7)
    study = evaluate_dataset(
        table, [get_model("widmer2006_base"), get_model("gotta2014")], n_replicates=0
    )
    gotta = next(row for row in study.ranking if row.model_id == "gotta2014")
    assert gotta.rank is None
    assert gotta.error is not None and "sex_male" in gotta.error and "age_years" in gotta.error
    assert study.ranking[0].rank == 1
    # averaging needs two evaluable models: reported, not raised
    averaging = next(row for row in study.ranking if row.model_id == "model_averaging")
    assert averaging.error is not None and "two evaluable" in averaging.error


def test_models_spread_over_processes_give_the_same_study() -> None:
    table = simulated("widmer2006_base", 8, seed=8)
    models = [get_model("widmer2006_base"), get_model("yamakawa2011")]
    one = evaluate_dataset(table, models, n_replicates=20)
    two = evaluate_dataset(table, models, n_replicates=20, workers=2)
    assert one.to_dict() == two.to_dict()
