"""Run sums of regular doses (closed-form geometric series) equal the dose-by-dose superposition
to a relative 1e-9, including dose changes, irregular doses, samples between doses, flip-flop
kinetics and ka ≈ k (where the superposition is used instead); and the MAP objective, the
posterior draws and the individual estimate are unchanged on the demo case."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.pk import Absorption
from imatinib_tdm.pk._dose_matrix import predict_oral_one_compartment
from imatinib_tdm.pk._dose_runs import dose_runs, predict_oral_runs_one_compartment
from imatinib_tdm.pk._map import MapProblem, _prepared, estimate_map, objective
from imatinib_tdm.pk._posterior import sample_posterior
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm._individual import _fit

RTOL = 1e-9


def _history() -> tuple[np.ndarray, np.ndarray]:
    """Two weeks of 400 mg daily, one week of 300 mg twice daily, three irregular doses, padding."""
    times = [24.0 * i for i in range(14)]
    times += [336.0 + 12.0 * i for i in range(14)]
    times += [510.0, 531.5, 560.0, 0.0, 0.0]
    amounts = [400.0] * 14 + [300.0] * 14 + [400.0, 600.0, 400.0, 0.0, 0.0]
    return np.array(times), np.array(amounts)


def _both(cl, v, f, ka, times, amounts, obs):  # type: ignore[no-untyped-def]
    since = obs[None, None, :] - times[None, :, None]  # (1, n_doses, n_times)
    amounts3 = amounts[None, :, None]
    exact = predict_oral_one_compartment(
        Absorption.FIRST_ORDER, cl, v, f, ka, None, None, amounts3[:, None], since[:, None]
    )
    runs = dose_runs(since, amounts3)
    fast, unreliable = predict_oral_runs_one_compartment(
        cl,
        v,
        f,
        ka,
        runs.amounts_mg[:, None],
        runs.since_last_h[:, None],
        runs.interval_h[:, None],
        runs.count[:, None],
    )
    return exact, np.broadcast_to(fast, exact.shape), np.broadcast_to(unreliable, cl.shape), runs


def test_runs_group_regular_doses() -> None:
    times, amounts = _history()
    obs = np.array([600.0])
    runs = dose_runs(obs[None, None, :] - times[None, :, None], amounts[None, :, None])
    real = runs.amounts_mg[0, :, 0] > 0
    # most recent first: 3 irregular single doses, then the 12-hourly and the daily run
    assert runs.count[0, real, 0].tolist() == [1.0, 1.0, 1.0, 14.0, 14.0]
    assert runs.interval_h[0, real, 0].tolist()[3:] == [12.0, 24.0]


@pytest.mark.parametrize(
    "obs",
    [
        [600.0],  # after everything
        [0.5, 23.9, 24.0, 24.5],  # within the first run, on a dose time, just after one
        [300.0, 340.0, 515.0, 531.5, 700.0],  # across runs and irregular doses
    ],
)
def test_run_sums_match_superposition(obs: list[float]) -> None:
    rng = np.random.default_rng(7)
    times, amounts = _history()
    n = 200
    cl = rng.uniform(2.0, 40.0, (1, n))
    v = rng.uniform(50.0, 600.0, (1, n))
    f = rng.uniform(0.5, 1.0, (1, n))
    ka = rng.uniform(0.02, 3.0, (1, n))  # includes flip-flop (ka < CL/V)
    exact, fast, unreliable, _ = _both(cl, v, f, ka, times, amounts, np.array(obs))
    ok = ~unreliable[..., None] & (exact > 0)
    assert ok.sum() > 0.9 * exact.size
    np.testing.assert_allclose(fast[ok], exact[ok], rtol=RTOL, atol=0.0)
    np.testing.assert_array_equal(fast[exact == 0], 0.0)  # before the first dose


def test_near_equal_rates_are_flagged() -> None:
    times, amounts = _history()
    cl = np.array([[10.0, 10.0, 10.0]])
    v = np.array([[200.0, 200.0, 200.0]])
    ka = np.array([[0.05, 0.05 * (1 + 1e-9), 0.6]])  # k = 0.05 exactly, nearly, far
    f = np.ones((1, 3))
    _, _, unreliable, _ = _both(cl, v, f, ka, times, amounts, np.array([600.0]))
    assert unreliable[0].tolist() == [True, True, False]


def _without_runs(problem: MapProblem) -> MapProblem:
    """The same problem predicting dose by dose (the kernel used before the run sums)."""
    copy = dataclasses.replace(problem)
    copy._cache.clear()
    copy._cache["prepared"] = dataclasses.replace(_prepared(problem), runs=None)
    return copy


@pytest.fixture(scope="module")
def demo_problem() -> MapProblem:
    case = load_demo_case("demo-001")
    fit = _fit(case, get_model("widmer2006_covariate"), n_draws=10, n_proposals=10, seed=1)
    assert _prepared(fit.problem).runs is not None
    return fit.problem


def test_objective_matches_superposition(demo_problem: MapProblem) -> None:
    old = _without_runs(demo_problem)
    assert _prepared(old).runs is None
    effects = np.random.default_rng(3).standard_normal((500, len(demo_problem.effect_names)))
    new_ofv = objective(demo_problem, effects)
    old_ofv = objective(old, effects)
    finite = np.isfinite(old_ofv)
    np.testing.assert_array_equal(np.isfinite(new_ofv), finite)
    np.testing.assert_allclose(new_ofv[finite], old_ofv[finite], rtol=RTOL, atol=1e-9)


def test_map_and_posterior_match_superposition(demo_problem: MapProblem) -> None:
    old = _without_runs(demo_problem)
    new_map, old_map = estimate_map(demo_problem), estimate_map(old)
    np.testing.assert_allclose(new_map.etas, old_map.etas, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(new_map.ofv, old_map.ofv, rtol=1e-9)
    new_post = sample_posterior(demo_problem, new_map, n_draws=1000, n_proposals=4000, seed=11)
    old_post = sample_posterior(old, old_map, n_draws=1000, n_proposals=4000, seed=11)
    # The draws are the MAP plus scaled proposals, so they inherit the MAP's differences (up to
    # 1e-6 relative, ~1e-8 absolute for etas of order 0.5): near eta = 0 a relative bound alone
    # fails (numpy 2.4 / scipy 1.17: 2e-8 absolute on draws of 0.004), hence the absolute 1e-7
    # (in eta units, 1e-7 is a relative change of a parameter of 1e-7)
    np.testing.assert_allclose(new_post.draws, old_post.draws, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        new_post.effective_sample_size, old_post.effective_sample_size, rtol=1e-6
    )


def test_flagged_points_fall_back_to_superposition(
    demo_problem: MapProblem, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imatinib_tdm.pk import _dose_runs

    monkeypatch.setattr(_dose_runs, "_CANCELLATION", 2.0)  # every point counts as cancelling
    effects = np.random.default_rng(4).standard_normal((50, len(demo_problem.effect_names)))
    np.testing.assert_array_equal(
        objective(demo_problem, effects), objective(_without_runs(demo_problem), effects)
    )
