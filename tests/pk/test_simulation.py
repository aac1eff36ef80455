"""Tests of population Monte Carlo simulation (pk._simulation)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("imatinib_tdm.pk._closed_form")
pytest.importorskip("imatinib_tdm.pk._steady_state")

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk import _simulation
from imatinib_tdm.pk._closed_form import predict_concentrations
from imatinib_tdm.pk._covariates import resolve_covariates
from imatinib_tdm.pk._individual import individual_parameters
from imatinib_tdm.pk._model import DomainWarningKind, PopPKModel
from imatinib_tdm.pk._model_spec import create_model
from imatinib_tdm.pk._simulation import (
    simulate_population,
    simulate_steady_state_troughs,
    simulate_typical,
)
from imatinib_tdm.pk._steady_state import predict_steady_state_trough
from imatinib_tdm.pk._structures import DoseHistory
from imatinib_tdm.pk.library import get_model

TIMES_H = np.array([0.5, 2.0, 6.0, 12.0, 24.0, 30.0, 47.5, 72.0])


@pytest.fixture(scope="module")
def widmer() -> PopPKModel:
    return get_model("widmer2006_base")


def _one_compartment_first_order(
    dose_mg: float, times_h: np.ndarray, dose_times_h: np.ndarray, cl: float, v: float, ka: float
) -> np.ndarray:
    """Hand-written superposition of C(t) = D·ka/(V(ka-k))·(e^{-k t} - e^{-ka t})."""
    k = cl / v
    conc = np.zeros_like(times_h)
    for t0 in dose_times_h:
        dt = times_h - t0
        after = dt > 0
        conc[after] += (
            dose_mg * ka / (v * (ka - k)) * (np.exp(-k * dt[after]) - np.exp(-ka * dt[after]))
        )
    return conc


def test_typical_widmer_matches_hand_computed_one_compartment(widmer: PopPKModel) -> None:
    single = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=1)
    got = simulate_typical(widmer, {}, single, TIMES_H)
    assert got.shape == (1, TIMES_H.size)
    expected = _one_compartment_first_order(400, TIMES_H, np.array([0.0]), 14.3, 347.0, 0.61)
    np.testing.assert_allclose(got[0], expected, rtol=1e-10)

    repeated = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=3)
    got = simulate_typical(widmer, {}, repeated, TIMES_H)
    expected = _one_compartment_first_order(
        400, TIMES_H, np.array([0.0, 24.0, 48.0]), 14.3, 347.0, 0.61
    )
    np.testing.assert_allclose(got[0], expected, rtol=1e-10)


def test_population_simulation_is_reproducible_with_a_seed(widmer: PopPKModel) -> None:
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=3)
    a = simulate_population(widmer, {}, doses, TIMES_H, n_individuals=200, seed=42)
    b = simulate_population(widmer, {}, doses, TIMES_H, n_individuals=200, seed=42)
    c = simulate_population(widmer, {}, doses, TIMES_H, n_individuals=200, seed=43)
    np.testing.assert_array_equal(a.concentrations_mg_per_l, b.concentrations_mg_per_l)
    assert not np.array_equal(a.concentrations_mg_per_l, c.concentrations_mg_per_l)
    assert a.concentrations_mg_per_l.shape == (200, TIMES_H.size)
    assert (a.model_id, a.seed, a.n_individuals) == ("widmer2006_base", 42, 200)
    assert a.residual_error and not a.inter_occasion_variability
    assert sorted(a.percentiles_mg_per_l) == [5.0, 25.0, 50.0, 75.0, 95.0]
    np.testing.assert_allclose(
        a.percentiles_mg_per_l[95.0], np.percentile(a.concentrations_mg_per_l, 95, axis=0)
    )
    assert np.all(a.percentiles_mg_per_l[5.0] <= a.percentiles_mg_per_l[95.0])


def test_without_residual_error_profiles_are_the_individual_predictions(
    widmer: PopPKModel,
) -> None:
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=2)
    sim = simulate_population(
        widmer, {}, doses, TIMES_H, n_individuals=50, seed=1, residual_error=False
    )
    params = individual_parameters(widmer, {}, sim.etas)
    expected = predict_concentrations(widmer.structure, params, doses, TIMES_H)
    np.testing.assert_allclose(sim.concentrations_mg_per_l, expected, rtol=1e-12)
    # the same seed with residual error draws the same individuals, then adds noise
    noisy = simulate_population(widmer, {}, doses, TIMES_H, n_individuals=50, seed=1)
    np.testing.assert_array_equal(noisy.etas, sim.etas)
    ratio = noisy.concentrations_mg_per_l / sim.concentrations_mg_per_l
    assert 0.2 < ratio.std() < 0.45  # proportional 31%


def test_chunking_does_not_change_results(
    widmer: PopPKModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=3)
    whole = simulate_population(widmer, {}, doses, TIMES_H, n_individuals=37, seed=5)
    monkeypatch.setattr(_simulation, "_CHUNK_ELEMENTS", 50)
    chunked = simulate_population(widmer, {}, doses, TIMES_H, n_individuals=37, seed=5)
    np.testing.assert_allclose(chunked.concentrations_mg_per_l, whole.concentrations_mg_per_l)


def test_etas_have_the_model_covariance(widmer: PopPKModel) -> None:
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=1)
    sim = simulate_population(widmer, {}, doses, [24.0], n_individuals=40_000, seed=3)
    np.testing.assert_allclose(np.cov(sim.etas, rowvar=False), widmer.etas.omega, atol=0.01)


def _model_with_missing_rule() -> PopPKModel:
    return create_model(
        {
            "id": "simtest2024",
            "name": "simulation test model",
            "citation": "none: test fixture",
            "test_only": True,
            "population": {"description": "synthetic"},
            "structure": {"compartments": 1, "absorption": "first_order"},
            "covariates": [
                {
                    "name": "sex_male",
                    "unit": "1 = male",
                    "description": "sex",
                    "domain": {"min": 0, "max": 1, "kind": "hard"},
                    "when_missing": {"value": 0.5, "note": "0.5 = unknown (test convention)"},
                },
                {
                    "name": "weight_kg",
                    "unit": "kg",
                    "description": "weight",
                    "domain": {"min": 40, "max": 120, "kind": "soft", "source": "test range"},
                },
            ],
            "thetas": [
                {"name": "TVCL", "value": 12, "unit": "L/h"},
                {"name": "TVV", "value": 300, "unit": "L"},
            ],
            "etas": {"names": ["ETA_CL"], "omega": [[0.09]]},
            "iov": {"names": ["KAPPA_CL"], "omega": [[0.04]]},
            "parameters": {
                "cl_l_per_h": "TVCL * (1 + 0.2*sex_male) * (weight_kg/70)**0.75"
                " * exp(ETA_CL + KAPPA_CL)",
                "v_l": "TVV",
                "ka_per_h": "0.6",
            },
            "residual_error": {
                "model": "additive",
                "additive_sd_mg_per_l": 0.3,
                "eta_on_residual_sd": 0.3,
            },
            "concentration": {"analyte": "imatinib", "basis": "total", "unit": "mg/L"},
            "verification": {"grade": "D", "note": "synthetic"},
        }
    )


def test_substitutions_and_soft_domain_travel_with_the_result() -> None:
    model = _model_with_missing_rule()
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=1)
    sim = simulate_population(
        model, {"weight_kg": 130.0}, doses, TIMES_H, n_individuals=500, seed=0
    )
    kinds = sorted(w.kind.value for w in sim.covariate_warnings)
    assert kinds == [
        DomainWarningKind.MISSING_SUBSTITUTED.value,
        DomainWarningKind.OUTSIDE_SOFT_DOMAIN.value,
    ]
    assert sim.inter_occasion_variability
    # additive error: negative simulated concentrations are kept, not censored
    assert (sim.concentrations_mg_per_l < 0).any()
    with pytest.raises(Exception, match="resolve_covariates"):
        simulate_typical(model, {"weight_kg": 70.0}, doses, TIMES_H)
    resolved = resolve_covariates(model, {"weight_kg": 70.0})
    assert simulate_typical(model, resolved, doses, TIMES_H).shape == (1, TIMES_H.size)


def test_virtual_population_covariates() -> None:
    model = _model_with_missing_rule()
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=1)
    weights = np.linspace(50, 110, 20)
    sim = simulate_population(
        model,
        {"weight_kg": weights, "sex_male": 1},
        doses,
        TIMES_H,
        n_individuals=20,
        seed=0,
        residual_error=False,
        inter_occasion_variability=False,
    )
    assert not sim.inter_occasion_variability
    assert sim.concentrations_mg_per_l.shape == (20, TIMES_H.size)
    with pytest.raises(ValueError, match="n_individuals"):
        simulate_population(model, {"weight_kg": weights}, doses, TIMES_H, n_individuals=5, seed=0)


def test_steady_state_troughs(widmer: PopPKModel) -> None:
    sim = simulate_steady_state_troughs(
        widmer, {}, dose_mg=400, interval_h=24, n_individuals=300, seed=11, residual_error=False
    )
    params = individual_parameters(widmer, {}, sim.etas)
    expected = predict_steady_state_trough(widmer.structure, params, dose_mg=400, interval_h=24)
    np.testing.assert_allclose(sim.troughs_mg_per_l, np.ravel(expected), rtol=1e-12)
    assert sim.troughs_mg_per_l.shape == (300,)
    assert sim.percentiles_mg_per_l[50.0] == pytest.approx(np.median(sim.troughs_mg_per_l))
    again = simulate_steady_state_troughs(
        widmer, {}, dose_mg=400, interval_h=24, n_individuals=300, seed=11, residual_error=False
    )
    np.testing.assert_array_equal(again.troughs_mg_per_l, sim.troughs_mg_per_l)


def test_typical_steady_state_trough_matches_closed_form(widmer: PopPKModel) -> None:
    sim = simulate_steady_state_troughs(
        widmer, {}, dose_mg=400, interval_h=24, n_individuals=1, seed=0, residual_error=False
    )
    k, ka, tau = 14.3 / 347.0, 0.61, 24.0
    typical = (
        400
        * ka
        / (347.0 * (ka - k))
        * (np.exp(-k * tau) / (1 - np.exp(-k * tau)) - np.exp(-ka * tau) / (1 - np.exp(-ka * tau)))
    )
    params = individual_parameters(widmer, {}, np.zeros((1, 2)))
    got = predict_steady_state_trough(widmer.structure, params, dose_mg=400, interval_h=24)
    np.testing.assert_allclose(np.ravel(got), [typical], rtol=1e-9)
    assert sim.troughs_mg_per_l.shape == (1,)


def test_time_varying_models_have_no_steady_state() -> None:
    model = get_model("eechoute2012")
    assert model.time_varying_parameters
    with pytest.raises(ModelDefinitionError, match="no steady state"):
        simulate_steady_state_troughs(
            model,
            {name: 0.0 for name in model.covariate_names},
            dose_mg=400,
            interval_h=24,
            n_individuals=10,
            seed=0,
        )


def test_invalid_options_are_refused(widmer: PopPKModel) -> None:
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=1)
    with pytest.raises(ValueError, match="percentiles"):
        simulate_population(widmer, {}, doses, TIMES_H, n_individuals=5, seed=0, percentiles=[101])
    with pytest.raises(ValueError, match="n_individuals"):
        simulate_population(widmer, {}, doses, TIMES_H, n_individuals=0, seed=0)
    with pytest.raises(ValueError, match="dose_mg"):
        simulate_steady_state_troughs(widmer, {}, dose_mg=0, interval_h=24, n_individuals=5, seed=0)
