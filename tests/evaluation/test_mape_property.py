"""MAPE rewards under-prediction: even the per-patient oracle does not beat a biased model on it.

The oracle forecasts each patient with the model that generated the patient's data (the best
any model choice or average could do by picking the right model). On a population mixed from
widmer2006_base and yamakawa2011 (three troughs per patient, two forecasting steps) the oracle
is clearly more precise than the best single model by the median (MDAPE), but not by the mean
(MAPE). Why: a forecast f of an observation y with a wide spread of log(f/y) (here SD about
0.44: forecast uncertainty plus residual error) that is right on the median (median f/y near 1)
has E[f/y] > 1 (about exp(SD²/2)), and MAPE = mean |f/y − 1| is minimised by a forecast scaled
*below* the median; a model that under-predicts (widmer2006_base forecasts yamakawa2011's
patients with MDPE about −18%) therefore gains on MAPE what it loses on MDAPE. So the issue's
MAPE bar ("at least as precise as the best single model") is not attainable by any combination
of correct median forecasts; it is a property of the metric, not of averaging.

Measured (oracle minus best single model, percentage points; docs/evaluation.md):
60 + 60 patients, seeds 12-16: MDAPE −2.1 to −4.6, MAPE −0.4 to +3.3;
200 + 200 patients, seeds 21-25: MDAPE −2.7 to −4.3, MAPE −0.1 to +3.5.
The oracle's mean f/y was 1.10-1.20 while its median f/y was 0.95-0.99, and scaling its
forecasts by 0.84-0.89 lowered its MAPE by 1.6-3.2 points.
"""

from __future__ import annotations

import numpy as np
import pytest

from imatinib_tdm.evaluation import predict_model, prediction_metrics
from imatinib_tdm.pk.library import get_model

from .conftest import simulated, stack


def _oracle(n: int, seed: int):  # type: ignore[no-untyped-def]
    table = stack(
        simulated("widmer2006_base", n, seed, "A"), simulated("yamakawa2011", n, seed + 50, "B")
    )
    a, b = (predict_model(get_model(m), table) for m in ("widmer2006_base", "yamakawa2011"))
    from_a = np.char.startswith(a.patient_id.astype(str), "A")
    oracle = np.where(from_a, a.forecast_mg_per_l, b.forecast_mg_per_l)
    y = a.observed_mg_per_l
    singles = [prediction_metrics(p.forecast_mg_per_l, y) for p in (a, b)]
    return oracle, y, singles


def _check(n: int, seed: int) -> None:
    oracle, y, singles = _oracle(n, seed)
    o = prediction_metrics(oracle, y)
    best_mdape = min(m.mdape for m in singles)
    best_mape = min(m.mape for m in singles)
    # the oracle wins on the median by at least 1.5 points (measured 2.1-4.6) ...
    assert o.mdape <= best_mdape - 1.5
    # ... but does not beat the best single model on the mean by more than 1 point (measured:
    # from 0.4 better to 3.5 worse)
    assert o.mape >= best_mape - 1.0
    ok = np.isfinite(oracle) & np.isfinite(y) & (y > 0)
    ratio = oracle[ok] / y[ok]
    assert 0.9 <= np.median(ratio) <= 1.03  # right on the median ...
    assert np.mean(ratio) >= 1.07  # ... yet above 1 on average (measured 1.10-1.20)
    scaled = prediction_metrics(0.86 * oracle, y)
    assert scaled.mape < o.mape - 1.0  # under-predicting by 14% improves MAPE


def test_oracle_beats_the_best_single_model_on_mdape_not_on_mape() -> None:
    _check(60, 12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25])
def test_oracle_mape_property_on_larger_mixtures(seed: int) -> None:
    _check(200, seed)
