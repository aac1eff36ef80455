"""Tests of tdm/_regimens.py, _dosing.py and _resampling.py (candidates, advice, re-sampling)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from imatinib_tdm.errors import CaseError
from imatinib_tdm.pk import (
    DoseHistory,
    PopPKModel,
    individual_parameters,
    predict_concentrations,
    predict_steady_state_trough,
    sample_etas,
)
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm._dosing import (
    AdviceStatus,
    RegimenTable,
    evaluate_regimens,
    recommend_regimen,
)
from imatinib_tdm.tdm._knowledge import Indication, load_targets
from imatinib_tdm.tdm._regimens import Regimen, candidate_regimens, compute_body_surface_area
from imatinib_tdm.tdm._resampling import predict_time_to_steady_state

N_DRAWS = 2000


@pytest.fixture(scope="module")
def model() -> PopPKModel:
    return get_model("widmer2006_base")


@pytest.fixture(scope="module")
def etas(model: PopPKModel) -> np.ndarray:
    return sample_etas(model, N_DRAWS, np.random.default_rng(20261126))


def _table(
    model: PopPKModel, etas: np.ndarray, indication: Indication, **kw: object
) -> RegimenTable:
    targets = load_targets()
    return evaluate_regimens(
        model,
        {"age_years": 55.0},
        etas,
        candidate_regimens(age_years=55.0),
        target=targets.default_target(indication),
        alert=targets.default_alert(indication),
        **kw,  # type: ignore[arg-type]
    )


# --- candidates -------------------------------------------------------------------------------


def test_adult_candidates() -> None:
    regimens = candidate_regimens(age_years=45.0)
    assert [(r.dose_mg, r.interval_h) for r in regimens] == [
        (300, 24),
        (400, 24),
        (500, 24),
        (600, 24),
        (700, 24),
        (400, 12),
    ]
    assert regimens[-1].daily_dose_mg == 800
    assert regimens[-1].rule_id == "adult_400_bid"
    five = regimens[2]
    assert five.basis == "tdm_practice"
    assert {(t.strength_mg, t.count) for t in five.tablets} == {(400, 1), (100, 1)}


def test_adult_candidates_label_only() -> None:
    regimens = candidate_regimens(age_years=45.0, include_tdm_practice=False)
    assert [r.daily_dose_mg for r in regimens] == [300, 400, 600, 800]
    assert all(r.basis == "label" for r in regimens)


def test_bsa_mosteller() -> None:
    assert compute_body_surface_area(height_cm=180.0, weight_kg=80.0) == pytest.approx(
        math.sqrt(180 * 80 / 3600)
    )


def test_child_candidates_rounded_to_100_mg() -> None:
    # BSA = sqrt(135 * 30 / 3600) = 1.0607 m2: 340 -> 360.6 -> 400 mg; 260 -> 275.8 -> 300 mg;
    # 200 -> 212.1 -> 200 mg.
    regimens = candidate_regimens(age_years=10.0, weight_kg=30.0, height_cm=135.0)
    assert [r.dose_mg for r in regimens] == [200, 300, 400]
    assert all(r.interval_h == 24 and r.basis == "paediatric_bsa" for r in regimens)
    standard = regimens[-1]
    assert standard.rule_id == "paediatric_340_mg_per_m2"
    assert standard.bsa_m2 == pytest.approx(1.0607, abs=1e-4)
    assert all(r.dose_mg % 100 == 0 for r in regimens)


def test_large_adolescent_capped_at_adult_maximum() -> None:
    regimens = candidate_regimens(age_years=17.0, weight_kg=140.0, height_cm=200.0)
    assert max(r.daily_dose_mg for r in regimens) <= 800


def test_small_child_at_least_one_tablet() -> None:
    regimens = candidate_regimens(age_years=1.0, weight_kg=5.0, height_cm=55.0)
    assert min(r.dose_mg for r in regimens) == 100


def test_child_needs_weight_and_height() -> None:
    with pytest.raises(CaseError, match="height_cm"):
        candidate_regimens(age_years=8.0, weight_kg=25.0)


# --- evaluation -------------------------------------------------------------------------------


def test_probabilities_monotone_in_dose(model: PopPKModel, etas: np.ndarray) -> None:
    table = _table(model, etas, Indication.GIST)
    rows = sorted(table.rows, key=lambda r: r.regimen.daily_dose_mg)
    p_target = [r.probability_target_attained for r in rows]
    p_alert = [r.probability_above_alert for r in rows]
    medians = [r.trough_median_ng_per_ml for r in rows]
    assert p_target == sorted(p_target)
    assert p_alert == sorted(p_alert)  # type: ignore[type-var]
    assert medians == sorted(medians)
    for r in rows:
        assert r.trough_p5_ng_per_ml < r.trough_median_ng_per_ml < r.trough_p95_ng_per_ml
        assert 0.0 <= r.probability_target_attained <= 1.0
    assert table.target_id == "gist_trough_demetri2009"
    assert table.alert_id == "gist_alert_myelosuppression_zhuang2018"


def test_twice_daily_uses_12_h_interval(model: PopPKModel, etas: np.ndarray) -> None:
    table = _table(model, etas, Indication.CML)
    bid = next(r for r in table.rows if r.regimen.rule_id == "adult_400_bid")
    params = individual_parameters(model, {}, etas)
    troughs = 1000 * predict_steady_state_trough(
        model.structure, params, dose_mg=400.0, interval_h=12.0
    )
    assert bid.trough_median_ng_per_ml == pytest.approx(float(np.median(troughs)))
    assert bid.probability_target_attained == pytest.approx(float(np.mean(troughs >= 1000.0)))
    # twice daily gives a higher trough than the same daily dose would once daily
    once = 1000 * predict_steady_state_trough(model.structure, params, dose_mg=800.0, interval_h=24)
    assert np.median(troughs) > np.median(once)


def test_weights_change_the_answer(model: PopPKModel, etas: np.ndarray) -> None:
    # weight only draws with low clearance: attainment must rise
    weights = (etas[:, 0] < 0).astype(float)
    plain = _table(model, etas, Indication.CML)
    weighted = _table(model, etas, Indication.CML, weights=weights)
    assert weighted.weighted
    assert weighted.effective_n_draws == pytest.approx(weights.sum())
    for a, b in zip(plain.rows, weighted.rows, strict=True):
        assert b.probability_target_attained >= a.probability_target_attained


def test_wrong_threshold_kind_refused(model: PopPKModel, etas: np.ndarray) -> None:
    targets = load_targets()
    alert = targets.default_alert(Indication.GIST)
    assert alert is not None
    with pytest.raises(ValueError, match="efficacy target"):
        evaluate_regimens(
            model, {}, etas, candidate_regimens(age_years=50), target=alert, alert=None
        )


def test_bad_eta_shape(model: PopPKModel) -> None:
    targets = load_targets()
    with pytest.raises(ValueError, match="eta_draws"):
        evaluate_regimens(
            model,
            {},
            np.zeros((10, 5)),
            candidate_regimens(age_years=50),
            target=targets.default_target(Indication.CML),
            alert=None,
        )


# --- recommendation ---------------------------------------------------------------------------


def test_recommends_lowest_qualifying_dose(model: PopPKModel, etas: np.ndarray) -> None:
    # A patient with clearance about half the typical value: 400 mg should be enough for CML.
    low_cl = etas.copy()
    low_cl[:, 0] = np.log(0.5) + 0.1 * etas[:, 0]
    table = _table(model, low_cl, Indication.CML)
    advice = recommend_regimen(table, probability=0.8)
    assert advice.status is AdviceStatus.RECOMMENDED
    assert advice.recommended is not None
    chosen = advice.recommended
    assert chosen.probability_target_attained >= 0.8
    assert chosen.probability_above_alert is not None and chosen.probability_above_alert <= 0.5
    lower = [r for r in table.rows if r.regimen.daily_dose_mg < chosen.regimen.daily_dose_mg]
    assert all(r.probability_target_attained < 0.8 for r in lower)
    assert "lowest daily dose" in advice.reason


def test_very_high_clearance_no_regimen_qualifies(model: PopPKModel, etas: np.ndarray) -> None:
    high_cl = etas.copy()
    high_cl[:, 0] += 2.0  # CL x 7.4
    advice = recommend_regimen(_table(model, high_cl, Indication.GIST))
    assert advice.status is AdviceStatus.NO_REGIMEN_QUALIFIES
    assert advice.recommended is None
    assert advice.best_available is not None
    assert advice.best_available.regimen.daily_dose_mg == 800  # the closest to the target
    assert "No candidate regimen reaches 1100 ng/mL" in advice.reason
    assert "Best available" in advice.reason


def test_alert_excludes_regimens(model: PopPKModel, etas: np.ndarray) -> None:
    low_cl = etas.copy()
    low_cl[:, 0] -= 1.5  # CL x 0.22: every dose likely above the GIST alert
    advice = recommend_regimen(_table(model, low_cl, Indication.GIST))
    assert advice.status is AdviceStatus.NO_REGIMEN_QUALIFIES
    assert advice.best_available is not None
    assert advice.best_available.regimen.daily_dose_mg == 300
    assert "likely above the alert" in advice.reason


def test_recommendation_rule_is_configurable(model: PopPKModel, etas: np.ndarray) -> None:
    table = _table(model, etas, Indication.GIST)
    strict = recommend_regimen(table, probability=0.99)
    lenient = recommend_regimen(table, probability=0.2, max_alert_probability=1.0)
    assert strict.status is AdviceStatus.NO_REGIMEN_QUALIFIES
    assert lenient.status is AdviceStatus.RECOMMENDED
    with pytest.raises(ValueError, match="probability"):
        recommend_regimen(table, probability=0.0)


def test_advice_json_serialisable(model: PopPKModel, etas: np.ndarray) -> None:
    advice = recommend_regimen(_table(model, etas, Indication.CML))
    data = json.loads(json.dumps(advice.to_dict()))
    assert data["status"] in {"recommended", "no_regimen_qualifies"}
    assert data["table"]["rows"][0]["regimen"]["daily_dose_mg"] == 300


# --- steady state -----------------------------------------------------------------------------


def test_time_to_steady_state_one_compartment(model: PopPKModel) -> None:
    params = individual_parameters(model, {}, np.zeros((1, 2)))
    regimen = candidate_regimens(age_years=50)[1]  # 400 mg qd
    timing = predict_time_to_steady_state(model, params, regimen)
    half_life = math.log(2) * 347.0 / 14.3  # V/CL of the typical patient (ka faster)
    assert timing.terminal_half_life_median_h == pytest.approx(half_life)
    assert timing.five_half_lives_median_h == pytest.approx(5 * half_life)
    # 90% of steady state within ~3.3 half-lives, on the 24-h trough grid
    assert 24.0 <= timing.time_to_fraction_median_h <= 4 * half_life + 24.0
    assert timing.time_to_fraction_median_h % 24.0 == 0.0
    # new therapy: the laboratory rule (29 days) dominates
    assert timing.lab_rule_applied == "min_days_on_therapy"
    assert timing.resample_after_days == 29.0
    assert timing.predicted_trough_at_resampling_median_ng_per_ml == pytest.approx(
        timing.steady_state_trough_median_ng_per_ml, rel=1e-6
    )
    json.dumps(timing.to_dict())


def test_dose_change_trough_at_resampling(model: PopPKModel, etas: np.ndarray) -> None:
    params = individual_parameters(model, {}, etas[:200])
    regimens = {r.rule_id: r for r in candidate_regimens(age_years=50)}
    new, old = regimens["adult_400_bid"], regimens["adult_400_qd"]
    timing = predict_time_to_steady_state(model, params, new, previous_regimen=old)
    assert timing.lab_rule_applied == "min_days_after_dose_change"
    assert timing.resample_after_h >= 8 * 24
    assert timing.resample_after_h >= timing.time_to_fraction_p95_h
    assert timing.resample_after_h % 12.0 == 0.0
    # reference: explicit dose history, old regimen for 90 days then the new one
    t_s = timing.resample_after_h
    old_times = -24.0 * np.arange(90, 0, -1)
    new_times = 12.0 * np.arange(int(t_s / 12))
    history = DoseHistory.create(
        np.concatenate([old_times, new_times]),
        np.concatenate([np.full(90, 400.0), np.full(new_times.size, 400.0)]),
    )
    ref = 1000 * predict_concentrations(model.structure, params, history, [t_s])[:, 0]
    assert timing.predicted_trough_at_resampling_median_ng_per_ml == pytest.approx(
        float(np.median(ref)), rel=1e-9
    )
    # most of the change is done, not all for slow eliminators
    assert timing.predicted_trough_at_resampling_median_ng_per_ml <= (
        timing.steady_state_trough_median_ng_per_ml * 1.0001
    )


def test_regimen_is_frozen() -> None:
    regimen = candidate_regimens(age_years=50)[0]
    assert isinstance(regimen, Regimen)
    with pytest.raises(AttributeError):
        regimen.dose_mg = 1.0  # type: ignore[misc]
