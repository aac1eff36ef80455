"""MAP estimation: against an independent optimiser, hand-computed objectives, simulation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import special
from scipy.optimize import minimize

from imatinib_tdm.errors import EstimationError
from imatinib_tdm.pk import DoseHistory, individual_parameters, predict_concentrations, sample_etas
from imatinib_tdm.pk._events import EventTable, RecordKind
from imatinib_tdm.pk._map import estimate_map, objective, prepare_map_problem
from imatinib_tdm.pk._posterior import sample_posterior
from imatinib_tdm.pk.library import get_model


def make_table(
    dose_times: np.ndarray,
    amounts: np.ndarray,
    obs_times: np.ndarray,
    dv: np.ndarray,
    *,
    censored: np.ndarray | None = None,
    lloq: np.ndarray | None = None,
    covariates: dict[str, float] | None = None,
) -> EventTable:
    """One-occasion oral event table: same doses for everybody, per-individual observations."""
    n, n_obs = obs_times.shape
    n_rec = dose_times.size + n_obs
    time = np.zeros((n, n_rec))
    kind = np.zeros((n, n_rec), dtype=np.int64)
    amount = np.zeros((n, n_rec))
    dv_rec = np.full((n, n_rec), np.nan)
    cens = np.zeros((n, n_rec), dtype=bool)
    ll = np.full((n, n_rec), np.nan)
    for p in range(n):
        records = [
            (t, 0, RecordKind.DOSE, a, np.nan, False, np.nan)
            for t, a in zip(dose_times, amounts, strict=True)
        ]
        for j in range(n_obs):
            records.append(
                (
                    obs_times[p, j],
                    1,
                    RecordKind.OBSERVATION,
                    0.0,
                    dv[p, j],
                    bool(censored[p, j]) if censored is not None else False,
                    lloq[p, j] if lloq is not None else np.nan,
                )
            )
        records.sort(key=lambda r: (r[0], r[1]))
        for k, r in enumerate(records):
            time[p, k], kind[p, k], amount[p, k] = r[0], r[2], r[3]
            dv_rec[p, k], cens[p, k], ll[p, k] = r[4], r[5], r[6]
    zeros = np.zeros((n, n_rec))
    return EventTable(
        ids=tuple(f"ID{p + 1}" for p in range(n)),
        time_h=time,
        kind=kind,
        amount_mg=amount,
        route=np.zeros((n, n_rec), dtype=np.int64),
        rate_mg_per_h=zeros,
        steady_state=np.zeros((n, n_rec), dtype=np.int64),
        interval_h=zeros,
        dv_mg_per_l=dv_rec,
        censored=cens,
        lloq_mg_per_l=ll,
        occasion=np.zeros((n, n_rec), dtype=np.int64),
        covariates={k: np.full((n, n_rec), v) for k, v in (covariates or {}).items()},
    )


DOSES = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=30)
COVARIATES = {
    "schmidli2005": {
        "weight_kg": 70.0,
        "hemoglobin_g_per_dl": 12.0,
        "wbc_10e9_per_l": 7.0,
        "occasion_day29": 1.0,
    },
    "gotta2014": {"sex_male": 1.0, "age_years": 55.0},
    "menonandersen2009": {"weight_kg": 50.0},
    "eechoute2012": {"liver_metastasis_volume_cm3": 100.0},
}


def _simulate(model_id: str, n: int, seed: int, obs: list[float]) -> tuple:  # type: ignore[type-arg]
    model = get_model(model_id)
    rng = np.random.default_rng(seed)
    covariates = COVARIATES.get(model_id, {})
    true = sample_etas(model, n, rng)
    params = individual_parameters(model, covariates, true, dose_times_h=DOSES.times_h)
    times = np.array(obs)
    conc = np.vstack(
        [
            predict_concentrations(model.structure, params.take(np.array([i])), DOSES, times)[0]
            for i in range(n)
        ]
    )
    dv = model.residual_error.add_noise(conc, rng)
    dv = np.where(dv > 0, dv, conc)  # keep the test data positive
    table = make_table(
        DOSES.times_h, DOSES.amounts_mg, np.tile(times, (n, 1)), dv, covariates=covariates
    )
    return model, table, true, params


@pytest.mark.parametrize(
    "model_id",
    [
        "widmer2006_base",
        "schmidli2005",
        "gotta2014",
        "menonandersen2009",
        "chien2022",
        "golabchifar2014",
        # per-dose ka and F: one individual at a time, and Nelder-Mead needs thousands of calls
        pytest.param("eechoute2012", marks=pytest.mark.slow),
    ],
)
def test_map_matches_an_independent_optimiser(model_id: str) -> None:
    """Newton-FD batch optimiser vs scipy Nelder-Mead on the same objective, several models."""
    model, table, _, _ = _simulate(model_id, 3, seed=11, obs=[24 * 27 + 3.0, 24 * 29 + 23.0])
    problem = prepare_map_problem(model, table)
    result = estimate_map(problem)
    assert result.converged.all(), result.messages
    for p in range(table.n_patients):

        def f(e: np.ndarray, p: int = p) -> float:
            return float(objective(problem, e[None, :], np.array([p]))[0])

        ref = minimize(
            f,
            result.etas[p] + 0.05,
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
        )
        assert ref.fun >= result.ofv[p] - 1e-8
        np.testing.assert_allclose(result.etas[p], ref.x, atol=2e-5)


def test_no_observation_gives_the_typical_individual() -> None:
    model = get_model("widmer2006_base")
    table = make_table(DOSES.times_h, DOSES.amounts_mg, np.zeros((1, 0)), np.zeros((1, 0)))
    result = estimate_map(model, table)
    np.testing.assert_allclose(result.etas, 0.0, atol=1e-12)
    assert result.ofv[0] == pytest.approx(0.0, abs=1e-12)


def test_objective_equals_hand_computation() -> None:
    """One proportional-error observation and one censored one (M3), by hand."""
    model = get_model("widmer2006_base")
    obs = np.array([[24 * 29 + 23.0, 24 * 29 + 12.0]])
    table = make_table(
        DOSES.times_h,
        DOSES.amounts_mg,
        obs,
        np.array([[0.8, np.nan]]),
        censored=np.array([[False, True]]),
        lloq=np.array([[np.nan, 0.05]]),
    )
    problem = prepare_map_problem(model, table)
    eta = np.array([[0.2, -0.1]])
    params = individual_parameters(model, {}, eta)
    f = predict_concentrations(model.structure, params, DOSES, obs[0])[0]
    sd = model.residual_error.proportional_sd
    var = (sd * f) ** 2
    omega_inv = np.linalg.inv(model.etas.omega)
    expected = (
        (0.8 - f[0]) ** 2 / var[0]
        + np.log(var[0])
        - 2 * special.log_ndtr((0.05 - f[1]) / np.sqrt(var[1]))
        + float(eta[0] @ omega_inv @ eta[0])
    )
    assert objective(problem, eta)[0] == pytest.approx(expected, rel=1e-12)


def test_log_additive_model_uses_the_log_scale() -> None:
    model = get_model("menonandersen2009")
    obs = np.array([[24 * 29 + 23.0]])
    table = make_table(
        DOSES.times_h, DOSES.amounts_mg, obs, np.array([[1.1]]), covariates={"weight_kg": 50.0}
    )
    problem = prepare_map_problem(model, table)
    eta = np.zeros((1, len(problem.effect_names)))
    params = individual_parameters(model, {"weight_kg": 50.0}, eta[:, : len(model.eta_names)])
    f = predict_concentrations(model.structure, params, DOSES, obs[0])[0, 0]
    var = model.residual_error.log_sd**2
    expected = (np.log(1.1) - np.log(f)) ** 2 / var + np.log(var)
    assert objective(problem, eta)[0] == pytest.approx(expected, rel=1e-12)


def test_batch_recovers_clearance_without_large_bias() -> None:
    model, table, _, params = _simulate(
        "widmer2006_base", 300, seed=3, obs=[24 * 28 + 3.0, 24 * 29 + 23.0]
    )
    result = estimate_map(model, table)
    assert result.converged.all()
    log_error = np.log(result.individual_parameters.cl_l_per_h / params.cl_l_per_h)
    # MAP shrinks toward the typical value; with two samples the bias stays small
    assert abs(log_error.mean()) < 0.1
    assert log_error.std() < 0.3


def test_non_convergence_is_reported() -> None:
    model, table, _, _ = _simulate("widmer2006_base", 2, seed=5, obs=[24 * 29 + 23.0])
    result = estimate_map(model, table, max_iterations=1, n_starts=1)
    assert not result.converged.any()
    assert all("did not converge" in m for m in result.messages)


def test_observation_before_first_dose_is_refused() -> None:
    model = get_model("widmer2006_base")
    table = make_table(np.array([10.0]), np.array([400.0]), np.array([[5.0]]), np.array([[1.0]]))
    with pytest.raises(EstimationError, match="before their first dose"):
        estimate_map(model, table)


def test_zero_concentration_not_flagged_blq_is_refused() -> None:
    model = get_model("widmer2006_base")
    table = make_table(DOSES.times_h, DOSES.amounts_mg, np.array([[700.0]]), np.array([[0.0]]))
    with pytest.raises(EstimationError, match="censored"):
        estimate_map(model, table)


@pytest.mark.slow
def test_posterior_intervals_cover_the_true_values() -> None:
    """SIR 90% credible intervals of ETA_CL cover the simulated truth ~90% of the time."""
    model, table, true, _ = _simulate(
        "widmer2006_base", 200, seed=2026, obs=[24 * 28 + 3.0, 24 * 29 + 23.0]
    )
    problem = prepare_map_problem(model, table)
    result = estimate_map(problem)
    post = sample_posterior(problem, result, n_draws=1000, n_proposals=2000, seed=7)
    for i in range(2):
        lo, hi = np.percentile(post.draws[:, :, i], [5, 95], axis=1)
        coverage = np.mean((true[:, i] >= lo) & (true[:, i] <= hi))
        # binomial SD for 200 patients at 0.9 is 0.021: the band is about 3 SD
        assert 0.83 <= coverage <= 0.97, coverage


def _nelder_mead_agrees(problem, result, atol: float = 2e-5) -> None:  # type: ignore[no-untyped-def]
    """Independent check: scipy's optimiser on the same objective (Powell: derivative-free,
    fast in the 8 dimensions of two IOV occasions)."""
    for p in range(problem.n_patients):

        def f(e: np.ndarray, p: int = p) -> float:
            return float(objective(problem, e[None, :], np.array([p]))[0])

        ref = minimize(
            f,
            result.etas[p] + 0.05,
            method="Powell",
            options={"xtol": 1e-10, "ftol": 1e-14, "maxfev": 200000},
        )
        assert ref.fun >= result.ofv[p] - 1e-8
        np.testing.assert_allclose(result.etas[p], ref.x, atol=atol)


def test_record_engine_gives_the_same_estimates_as_superposition() -> None:
    model, table, _, _ = _simulate("schmidli2005", 3, seed=21, obs=[24 * 27 + 3.0, 24 * 29 + 23.0])
    fast = estimate_map(prepare_map_problem(model, table))
    records = estimate_map(prepare_map_problem(model, table, engine="records"))
    np.testing.assert_allclose(records.etas, fast.etas, atol=1e-9)
    np.testing.assert_allclose(records.ofv, fast.ofv, rtol=1e-10)


def test_time_varying_covariate_is_estimated_with_the_record_engine() -> None:
    """Weight changes between doses (Schmidli: weight on CL and V): record engine, exact mode."""
    model, table, _, _ = _simulate("schmidli2005", 2, seed=8, obs=[24 * 15 + 3.0, 24 * 29 + 23.0])
    weight = table.covariates["weight_kg"].copy()
    weight[:, table.time_h[0] > 24 * 20] = 55.0  # weight loss from day 20
    varying = dataclasses.replace(table, covariates={**table.covariates, "weight_kg": weight})
    problem = prepare_map_problem(model, varying)
    assert problem.record_table is not None
    result = estimate_map(problem)
    assert result.converged.all()
    _is_local_minimum(problem, result)
    constant = estimate_map(prepare_map_problem(model, table))
    assert not np.allclose(result.etas, constant.etas)


def _is_local_minimum(problem, result) -> None:  # type: ignore[no-untyped-def]
    """Cheap independent check: a gradient (other step size) near 0 and no lower point nearby."""
    rng = np.random.default_rng(0)
    k = result.etas.shape[1]
    for p in range(problem.n_patients):
        rows = np.array([p])

        def central(h: float, e: np.ndarray, p: int = p, rows: np.ndarray = rows) -> float:
            up = objective(problem, (result.etas[p] + h * e)[None, :], rows)[0]
            down = objective(problem, (result.etas[p] - h * e)[None, :], rows)[0]
            return float(up - down) / (2 * h)

        # Richardson extrapolation of two central differences (steps unlike the optimiser's)
        grad = [(4 * central(1e-3, e) - central(2e-3, e)) / 3 for e in np.eye(k)]
        assert np.max(np.abs(grad)) < 1e-4, grad
        around = result.etas[p] + 1e-2 * rng.standard_normal((64, k))
        values = objective(problem, around, np.full(64, p))
        assert np.all(values >= result.ofv[p] - 1e-9)


def test_inter_occasion_variability_across_two_occasions() -> None:
    model, table, _, _ = _simulate(
        "golabchifar2014", 2, seed=4, obs=[24 * 14 + 23.0, 24 * 29 + 23.0]
    )
    occasion = np.where(table.time_h > 24 * 15, 1, 0).astype(np.int64)
    two = dataclasses.replace(table, occasion=occasion)
    problem = prepare_map_problem(model, two)
    kappas = [n for n in problem.effect_names if n.startswith("KAPPA")]
    assert len(kappas) == 2 * len(model.kappa_names)
    assert any(n.endswith("_OCC2") for n in kappas)
    result = estimate_map(problem)
    assert result.converged.all()
    _is_local_minimum(problem, result)


@pytest.mark.slow
def test_inter_occasion_variability_agrees_with_scipy() -> None:
    model, table, _, _ = _simulate(
        "golabchifar2014", 1, seed=4, obs=[24 * 14 + 23.0, 24 * 29 + 23.0]
    )
    occasion = np.where(table.time_h > 24 * 15, 1, 0).astype(np.int64)
    problem = prepare_map_problem(model, dataclasses.replace(table, occasion=occasion))
    _nelder_mead_agrees(problem, estimate_map(problem), atol=5e-5)


def test_steady_state_record_equals_a_long_explicit_history() -> None:
    """One SS=1 dose record (II = 24 h) and a trough: same estimate as 120 explicit doses."""
    model = get_model("widmer2006_base")
    long = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=120)
    obs = np.array([[24 * 119 + 23.0]])
    explicit = make_table(long.times_h, long.amounts_mg, obs, np.array([[0.9]]))
    ss = make_table(np.array([24 * 119.0]), np.array([400.0]), obs, np.array([[0.9]]))
    ss_flag = np.where(ss.kind == RecordKind.DOSE, 1, 0).astype(np.int64)
    ss = dataclasses.replace(ss, steady_state=ss_flag, interval_h=np.where(ss_flag == 1, 24.0, 0.0))
    a = estimate_map(model, explicit)
    b = estimate_map(model, ss)
    np.testing.assert_allclose(b.etas, a.etas, atol=1e-6)


@pytest.mark.parametrize(
    "model_id",
    [
        "widmer2006_base",
        "schmidli2005",
        "gotta2014",
        "menonandersen2009",
        "chien2022",
        "golabchifar2014",
    ],
)
def test_fast_objective_equals_the_general_path_to_the_last_bit(model_id: str) -> None:
    """The optimiser's kernels (per-individual constants, oral-only superposition) change no bit.

    Reference: the general path, parameters from the model's expressions at every row and
    predict_dose_matrix on repeated dose matrices (what the objective used before).
    """
    from imatinib_tdm.pk._dose_matrix import predict_dose_matrix
    from imatinib_tdm.pk._map import (
        _objective_grouped,
        _parameters,
        _prepared,
        _trial_parameters,
        predict_observations,
    )

    model, table, _, _ = _simulate(model_id, 3, seed=5, obs=[24 * 27 + 3.0, 24 * 29 + 23.0])
    problem = prepare_map_problem(model, table)
    assert _prepared(problem).fast and _prepared(problem).oral_only
    rng = np.random.default_rng(2)
    k = problem.n_effects
    sd = np.sqrt(np.diag(problem.omega))
    rows = np.repeat(np.arange(problem.n_patients), 5)
    effects = rng.normal(size=(rows.size, k)) * sd
    effects[0] = 0.0
    effects[1, 0] = 10.0 * sd[0]  # beyond the clipping bound
    params, valid = _trial_parameters(problem, np.clip(effects, -8 * sd, 8 * sd), rows)
    reference = predict_dose_matrix(
        model.structure, params, problem.doses.take(rows), problem.obs_times_h[rows]
    )
    reference = np.where(valid[:, None], reference, np.nan)
    fast = predict_observations(problem, np.clip(effects, -8 * sd, 8 * sd), rows)
    if _prepared(problem).runs is None:
        np.testing.assert_array_equal(fast, reference)
    else:  # regular doses summed in closed form: equal up to rounding (see _dose_runs)
        np.testing.assert_allclose(fast, reference, rtol=1e-9, atol=0.0)
    # grouped (many trial points per individual) equals one row at a time
    grouped = _objective_grouped(problem, effects.reshape(problem.n_patients, 5, k), rows[::5])
    np.testing.assert_array_equal(grouped.ravel(), objective(problem, effects, rows))
    assert np.isinf(grouped.ravel()[1])
    # individual parameters at the estimates: as individual_parameters computes them
    etas = effects[::5]
    fast_params = _parameters(problem, etas, np.arange(problem.n_patients))
    n_eta = len(model.eta_names)
    covariates = {k: v for k, v in problem.covariates.values.items()}
    slow_params = individual_parameters(
        model,
        covariates,
        etas[:, :n_eta],
        kappas=etas[:, n_eta : n_eta + len(model.kappa_names)] if model.kappa_names else None,
    )
    for f in dataclasses.fields(slow_params):
        a, b = getattr(fast_params, f.name), getattr(slow_params, f.name)
        assert (a is None) == (b is None), f.name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=f.name)


def test_one_compartment_kernels_equal_the_general_path_with_lag_and_equal_rates() -> None:
    """First- and zero-order 1-cmt kernels, with lag, padding doses and ka == k exactly."""
    from imatinib_tdm.pk._dose_matrix import DoseMatrix, predict_dose_matrix, predict_oral_doses
    from imatinib_tdm.pk._structures import Absorption, PKParameters, Structure

    rng = np.random.default_rng(4)
    n, n_d, n_o = 6, 5, 3
    times = np.sort(rng.uniform(0, 100, (n, n_d)), axis=1)
    amounts = rng.uniform(100, 400, (n, n_d))
    amounts[:, -1] = 0.0  # padding
    obs = np.sort(rng.uniform(0, 120, (n, n_o)), axis=1)
    obs[0, 0] = times[0, 1] + 0.5  # exactly at the end of the lag
    doses = DoseMatrix(times, amounts, np.zeros((n, n_d), np.int64), np.zeros((n, n_d)))
    cl = rng.uniform(5, 20, n)
    v = rng.uniform(100, 300, n)
    values = {
        "cl_l_per_h": cl,
        "v_l": v,
        "bioavailability_frac": rng.uniform(0.5, 1.0, n),
        "ka_per_h": np.where(np.arange(n) == 1, cl / v, rng.uniform(0.2, 2.0, n)),
        "d1_h": rng.uniform(0.5, 3.0, n),
        "tlag_h": np.full(n, 0.5),
    }
    since = obs[:, None, :] - times[:, :, None]
    for absorption in (Absorption.FIRST_ORDER, Absorption.ZERO_ORDER):
        for lag in (False, True):
            structure = Structure(1, absorption, lag)
            used = {
                k: val
                for k, val in values.items()
                if k in structure.required_parameters or k == "bioavailability_frac"
            }
            params = PKParameters(**used)  # type: ignore[arg-type]
            reference = predict_dose_matrix(structure, params, doses, obs)
            fast = predict_oral_doses(
                structure,
                {k: val[:, None] for k, val in used.items()},
                amounts[:, None, :, None],
                since[:, None],
            )[:, 0]
            np.testing.assert_array_equal(fast, reference)
