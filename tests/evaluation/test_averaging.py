"""Model averaging and selection on a population mixed from two models.

The bar of issue 7: at least as precise as the best single model on the same forecasts. What
these tests assert (and what was measured, see docs/evaluation.md): on MDAPE, averaging is at
least as precise as the best single model in the larger (slow) runs; on MAPE it stays within a
few percentage points of the best single model (a model with a wide prior is hard to beat on a
mean of relative errors dominated by a few very low observations; even the per-patient oracle
does not beat it, see test_mape_property.py). Tolerances are stated per assertion.

Both the uniform-prior rows (``model_averaging``, ``model_selection``) and the centre-prior rows
(``..._centre``) are checked. On these 50/50 mixtures of two models the centre prior estimates
proportions near 0.5 (measured 0.47-0.57), so both give nearly the same figures; the centre
prior matters with many candidates (test_library_centre_prior.py).
"""

from __future__ import annotations

import pytest

from imatinib_tdm.evaluation import (
    AVERAGING_CENTRE_ID,
    AVERAGING_ID,
    SELECTION_CENTRE_ID,
    SELECTION_ID,
    evaluate_dataset,
)
from imatinib_tdm.pk.library import get_model

from .conftest import simulated, stack

COMBINED = (AVERAGING_ID, SELECTION_ID, AVERAGING_CENTRE_ID, SELECTION_CENTRE_ID)


def _forecast_metrics(study):  # type: ignore[no-untyped-def]
    return {row.model_id: row.metrics["forecast"] for row in study.ranking if row.error is None}


def _mixed_study(other: str, n: int, seed: int):  # type: ignore[no-untyped-def]
    table = stack(simulated("widmer2006_base", n, seed, "A"), simulated(other, n, seed + 50, "B"))
    return evaluate_dataset(table, [get_model("widmer2006_base"), get_model(other)], n_replicates=0)


def test_averaging_and_selection_match_the_best_single_model() -> None:
    metrics = _forecast_metrics(_mixed_study("shriyan2022", 60, seed=12))
    singles = [m for k, m in metrics.items() if k not in COMBINED]
    best_mdape = min(m.mdape for m in singles)
    best_mape = min(m.mape for m in singles)
    worst_mdape = max(m.mdape for m in singles)
    averaging, selection = metrics[AVERAGING_ID], metrics[SELECTION_ID]
    assert averaging.n == selection.n == singles[0].n  # the same forecasts are scored
    # tolerances (percentage points) for 120 patients, ~235 forecasts
    assert averaging.mdape <= best_mdape + 1.0
    assert averaging.mape <= best_mape + 2.0
    assert selection.mdape <= best_mdape + 2.5
    assert averaging.mdape < worst_mdape and selection.mdape < worst_mdape
    assert abs(averaging.mdpe) < 10.0


@pytest.mark.slow
@pytest.mark.parametrize("other", ["shriyan2022", "yamakawa2011"])
def test_averaging_is_at_least_as_precise_as_the_best_single_model(other: str) -> None:
    metrics = _forecast_metrics(_mixed_study(other, 200, seed=21))
    singles = [m for k, m in metrics.items() if k not in COMBINED]
    best_mdape = min(m.mdape for m in singles)
    best_mape = min(m.mape for m in singles)
    assert metrics[AVERAGING_ID].mdape <= best_mdape
    assert metrics[SELECTION_ID].mdape <= best_mdape + 1.0
    assert metrics[AVERAGING_ID].mape <= best_mape + 4.0
    # centre prior (measured, shriyan2022 / yamakawa2011: averaging MDAPE 20.3 / 24.6 against
    # the best single 20.5 / 27.8; MAPE 29.9 / 38.1 against 29.0 / 36.1; selection MDAPE
    # 20.6 / 25.1, MAPE 30.6 / 37.7): at least as precise on MDAPE within half a point, not on
    # MAPE (within 4 points; see test_mape_property.py for why)
    assert metrics[AVERAGING_CENTRE_ID].mdape <= best_mdape + 0.5
    assert metrics[SELECTION_CENTRE_ID].mdape <= best_mdape + 1.0
    assert metrics[AVERAGING_CENTRE_ID].mape <= best_mape + 4.0
    assert metrics[SELECTION_CENTRE_ID].mape <= best_mape + 4.0


def test_patient_weights_pick_the_generating_model_for_most_patients() -> None:
    from imatinib_tdm.evaluation import patient_model_weights

    table = stack(simulated("widmer2006_base", 30, 31, "A"), simulated("yamakawa2011", 30, 81, "B"))
    models = [get_model("widmer2006_base"), get_model("yamakawa2011"), get_model("gotta2014")]
    weights = patient_model_weights(models, table)
    assert "gotta2014" in weights.errors and (weights.weights[:, 2] == 0).all()
    assert weights.weights[:, :2].sum(axis=1) == pytest.approx(1.0)
    chosen = weights.selected()
    right = sum(c == "widmer2006_base" for c in chosen[:30]) + sum(
        c == "yamakawa2011" for c in chosen[30:]
    )
    # three troughs per patient; CL/F 14.3 vs 8.7 L/h: most patients are told apart
    assert right >= 45
