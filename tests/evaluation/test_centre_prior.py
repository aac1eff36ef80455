"""The centre prior over models: EM mixture proportions, cross-fitting, fallback, JSON output."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imatinib_tdm.evaluation import (
    AVERAGING_CENTRE_ID,
    AVERAGING_ID,
    SELECTION_CENTRE_ID,
    SELECTION_ID,
    centre_model_prior,
    combine_models,
    estimate_centre_prior,
    evaluate_dataset,
    evaluate_model,
    likelihood_weights,
    mixture_proportions,
    render_evaluation_html,
)
from imatinib_tdm.pk import EventTable, RecordKind
from imatinib_tdm.pk.library import get_model

from .conftest import simulated, stack


def test_em_recovers_known_proportions() -> None:
    rng = np.random.default_rng(5)
    truth = np.array([0.6, 0.3, 0.1])
    labels = rng.choice(3, size=4000, p=truth)
    # a true mixture: patient data x ~ N(mu_k, 1) from model k; -2 log density (x - mu_j)²
    means = np.array([0.0, 2.0, 4.0])
    x = rng.normal(means[labels], 1.0)
    criteria = (x[:, None] - means[None, :]) ** 2
    pi = mixture_proportions(criteria, pseudo_count=0.0)
    assert pi == pytest.approx(truth, abs=0.03)
    assert pi.sum() == pytest.approx(1.0)


def test_pseudo_count_keeps_every_model_above_zero() -> None:
    criteria = np.array([[0.0, 400.0, np.nan]] * 40)  # model 1 hopeless, model 2 not evaluable
    pi = mixture_proportions(criteria, pseudo_count=1.0)
    assert (pi > 0).all()
    assert pi[1] == pytest.approx(1.0 / 43.0, rel=1e-6)  # a / (N + M·a)
    assert mixture_proportions(criteria, pseudo_count=0.0)[1] < 1e-12


def test_prior_multiplies_the_likelihood_weights() -> None:
    crit = np.array([[0.0, 0.0], [0.0, 2 * np.log(4.0)]])
    w = likelihood_weights(crit, np.array([0.2, 0.8]))
    assert w[0].tolist() == pytest.approx([0.2, 0.8])
    assert w[1].tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="finite and >= 0"):
        likelihood_weights(crit, np.array([-0.1, 1.1]))


def test_too_few_patients_fall_back_to_the_uniform_prior() -> None:
    prior = centre_model_prior(["a", "b"], [f"p{i}" for i in range(19)], np.zeros((19, 2)))
    assert prior.fallback is not None and "19 patients" in prior.fallback
    assert prior.proportions.tolist() == [0.5, 0.5]
    assert (prior.patient_prior == 0.5).all()
    assert "uniform prior" in prior.describe()


def _with_level_changed(table: EventTable, patient: int, factor: float) -> EventTable:
    dv = table.dv_mg_per_l.copy()
    obs = table.kind[patient] == RecordKind.OBSERVATION
    dv[patient, obs] = dv[patient, obs] * factor
    return dataclasses.replace(table, dv_mg_per_l=dv)


def test_a_patients_own_levels_never_inform_their_prior() -> None:
    """Cross-fitting: patient 7's prior comes from the other folds only."""
    table = stack(simulated("widmer2006_base", 20, 3, "A"), simulated("yamakawa2011", 20, 53, "B"))
    models = [get_model("widmer2006_base"), get_model("yamakawa2011")]
    base = estimate_centre_prior([evaluate_model(m, table, n_replicates=0) for m in models])
    changed_table = _with_level_changed(table, 7, 3.0)
    changed = estimate_centre_prior(
        [evaluate_model(m, changed_table, n_replicates=0) for m in models]
    )
    assert base is not None and changed is not None and base.fallback is None
    fold = base.folds[7]
    same_fold = base.folds == fold
    # the patient (and its fold) keep exactly the same prior ...
    np.testing.assert_allclose(changed.patient_prior[same_fold], base.patient_prior[same_fold])
    # ... while the other folds, which learn from patient 7, see a different one
    assert np.abs(changed.patient_prior[~same_fold] - base.patient_prior[~same_fold]).max() > 1e-6
    assert not np.allclose(changed.proportions, base.proportions)


def test_folds_interleave_patients_in_data_order() -> None:
    prior = centre_model_prior(["a", "b"], [f"p{i}" for i in range(30)], np.zeros((30, 2)))
    assert prior.folds.tolist()[:7] == [0, 1, 2, 3, 4, 0, 1]
    assert prior.fallback is None


def test_study_has_four_combined_rows_and_the_centre_prior() -> None:
    table = stack(simulated("widmer2006_base", 15, 8, "A"), simulated("yamakawa2011", 15, 58, "B"))
    study = evaluate_dataset(
        table, [get_model("widmer2006_base"), get_model("yamakawa2011")], n_replicates=0
    )
    ids = {row.model_id for row in study.ranking}
    assert {AVERAGING_ID, SELECTION_ID, AVERAGING_CENTRE_ID, SELECTION_CENTRE_ID} <= ids
    payload = study.to_dict()
    prior = payload["centre_model_prior"]
    assert set(prior) == {"widmer2006_base", "yamakawa2011"}
    assert sum(prior.values()) == pytest.approx(1.0)
    assert payload["centre_model_prior_method"]["n_folds"] == 5
    assert payload["centre_model_prior_method"]["fallback"] is None
    label = next(r.label for r in study.ranking if r.model_id == AVERAGING_CENTRE_ID)
    assert "centre prior" in label and "cross-fitted over 5 folds" in label
    page = render_evaluation_html(study, plots=False)
    assert AVERAGING_CENTRE_ID in page and SELECTION_CENTRE_ID in page
    assert "Centre prior: estimated share" in page


def test_small_study_states_the_fallback() -> None:
    table = simulated("widmer2006_base", 8, seed=4)
    study = evaluate_dataset(
        table, [get_model("widmer2006_base"), get_model("yamakawa2011")], n_replicates=0
    )
    payload = study.to_dict()
    assert payload["centre_model_prior"] is None
    assert "fewer than the 20" in payload["centre_model_prior_method"]["fallback"]
    row = next(r for r in study.ranking if r.model_id == SELECTION_CENTRE_ID)
    assert "uniform prior" in row.label
    # with the uniform fallback, the centre rows are the uniform rows
    by_id = {e.model_id: e for e in study.evaluations}
    np.testing.assert_array_equal(
        by_id[AVERAGING_CENTRE_ID].predictions.forecast_mg_per_l,  # type: ignore[union-attr]
        by_id[AVERAGING_ID].predictions.forecast_mg_per_l,  # type: ignore[union-attr]
    )


def test_combine_refuses_a_prior_over_other_models() -> None:
    table = simulated("widmer2006_base", 25, seed=9)
    evaluations = [
        evaluate_model(get_model(m), table, n_replicates=0)
        for m in ("widmer2006_base", "yamakawa2011")
    ]
    prior = estimate_centre_prior(evaluations)
    assert prior is not None
    with pytest.raises(ValueError, match="other models"):
        combine_models(evaluations[:1] + evaluations, prior=prior)
