"""MAP estimation benchmarks (issue #3). Prints figures; asserts nothing.

Run: .venv/bin/python bench/bench_map.py
"""

from __future__ import annotations

import platform
import time

import numpy as np

from imatinib_tdm.pk import (
    DoseHistory,
    individual_parameters,
    predict_concentrations,
    sample_etas,
)
from imatinib_tdm.pk._events import EventTable, RecordKind
from imatinib_tdm.pk._map import estimate_map, prepare_map_problem
from imatinib_tdm.pk._posterior import sample_posterior
from imatinib_tdm.pk.library import get_model


def make_table(
    dose_times: np.ndarray,
    amounts: np.ndarray,
    obs_times: np.ndarray,
    dv: np.ndarray,
    covariates: dict[str, float],
) -> EventTable:
    n, n_obs = obs_times.shape
    n_doses = dose_times.size
    n_rec = n_doses + n_obs
    time_h = np.concatenate([np.tile(dose_times, (n, 1)), obs_times], axis=1)
    kind = np.concatenate(
        [np.full((n, n_doses), RecordKind.DOSE), np.full((n, n_obs), RecordKind.OBSERVATION)],
        axis=1,
    ).astype(np.int64)
    amount = np.concatenate([np.tile(amounts, (n, 1)), np.zeros((n, n_obs))], axis=1)
    dv_rec = np.concatenate([np.full((n, n_doses), np.nan), dv], axis=1)
    order = np.lexsort((kind, time_h), axis=1)
    take = np.take_along_axis
    zeros = np.zeros((n, n_rec))
    return EventTable(
        ids=tuple(str(i) for i in range(n)),
        time_h=take(time_h, order, 1),
        kind=take(kind, order, 1),
        amount_mg=take(amount, order, 1),
        route=np.zeros((n, n_rec), dtype=np.int64),
        rate_mg_per_h=zeros,
        steady_state=np.zeros((n, n_rec), dtype=np.int64),
        interval_h=zeros,
        dv_mg_per_l=take(dv_rec, order, 1),
        censored=np.zeros((n, n_rec), dtype=bool),
        lloq_mg_per_l=np.full((n, n_rec), np.nan),
        occasion=np.zeros((n, n_rec), dtype=np.int64),
        covariates={k: np.full((n, n_rec), v) for k, v in covariates.items()},
    )


def simulate(
    model_id: str,
    n: int,
    n_doses: int,
    obs_after_last: list[float],
    covariates: dict[str, float],
    seed: int = 1,
) -> tuple:  # type: ignore[type-arg]
    model = get_model(model_id)
    rng = np.random.default_rng(seed)
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=n_doses)
    true = sample_etas(model, n, rng)
    params = individual_parameters(model, covariates, true)
    last = doses.times_h[-1]
    times = np.array(
        [
            last - 24 + t if i < len(obs_after_last) - 1 else last + t
            for i, t in enumerate(obs_after_last)
        ]
    )
    conc = predict_concentrations(model.structure, params, doses, times)
    dv = model.residual_error.add_noise(conc, rng)
    dv = np.where(dv > 0, dv, conc)
    table = make_table(doses.times_h, doses.amounts_mg, np.tile(times, (n, 1)), dv, covariates)
    return model, table, params


def latency(model_id: str, n_doses: int, obs: list[float], covariates: dict[str, float]) -> None:
    model, table, _ = simulate(model_id, 40, n_doses, obs, covariates)
    estimate_map(model, table.take(np.array([0])))  # warm-up (imports, caches)
    total, estimation = [], []
    for i in range(40):
        one = table.take(np.array([i]))
        start = time.perf_counter()
        problem = prepare_map_problem(model, one)
        prepared = time.perf_counter()
        estimate_map(problem)
        end = time.perf_counter()
        total.append(end - start)
        estimation.append(end - prepared)
    kind = f"{model.structure.n_compartments}-cmt {model.structure.absorption.value}"
    lag = " + lag" if model.structure.has_lag else ""
    print(
        f"  {model_id:<18} ({kind}{lag}), {n_doses} doses, {len(obs)} sample(s): median "
        f"{1e3 * np.median(total):.2f} ms, p90 {1e3 * np.percentile(total, 90):.2f} ms "
        f"(estimation only: median {1e3 * np.median(estimation):.2f} ms)"
    )


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print("[1] single-patient MAP latency (preparation + estimation, 3 starts)")
    latency("widmer2006_base", 30, [23.5], {})
    latency("widmer2006_base", 60, [3.0, 12.0, 23.5], {})
    latency("golabchifar2014", 30, [23.5], {})
    latency("chien2022", 30, [23.5], {})

    print("[2] batch MAP, 10,000 simulated patients (widmer2006_base, 30 doses, 2 samples)")
    model, table, params = simulate("widmer2006_base", 10_000, 30, [3.0, 23.5], {})
    for n_starts in (1, 3):
        start = time.perf_counter()
        result = estimate_map(model, table, n_starts=n_starts)
        seconds = time.perf_counter() - start
        print(f"  n_starts={n_starts}: {seconds:.2f} s, converged {result.converged.mean():.4f}")

    print("[3] parameter recovery (same 10,000 patients)")
    log_error = np.log(result.individual_parameters.cl_l_per_h / params.cl_l_per_h)
    rel = result.individual_parameters.cl_l_per_h / params.cl_l_per_h - 1
    print(
        f"  CL: mean relative error {100 * rel.mean():+.1f}%, median {100 * np.median(rel):+.1f}%,"
        f" RMSE of log ratio {np.sqrt(np.mean(log_error**2)):.3f},"
        f" |rel. error| < 20%: {100 * np.mean(np.abs(rel) < 0.2):.1f}%"
    )

    print("[4] posterior sampling (SIR, 2,000 proposals, 1,000 draws), 200 patients")
    sub = table.take(np.arange(200))
    problem = prepare_map_problem(model, sub)
    result = estimate_map(problem)
    start = time.perf_counter()
    post = sample_posterior(problem, result, n_draws=1000, n_proposals=2000, seed=3)
    seconds = time.perf_counter() - start
    true_eta = np.log(params.cl_l_per_h[:200] / 14.3)
    lo, hi = np.percentile(post.draws[:, :, 0], [5, 95], axis=1)
    coverage = 100 * np.mean((true_eta >= lo) & (true_eta <= hi))
    print(
        f"  {seconds:.2f} s; median ESS {np.median(post.effective_sample_size):.0f}; "
        f"90% interval coverage of true ETA_CL {coverage:.1f}%"
    )


if __name__ == "__main__":
    main()
