"""Benchmark of the external evaluation: 1,000 patients x every library model.

Run: ``.venv/bin/python bench/bench_evaluation.py [--patients 1000] [--replicates 200]``.

The dataset is simulated from ``widmer2006_covariate`` (three day-15/30/45 troughs on 400 mg
daily, so every patient has two forecasting steps) with synthetic covariates that every library
model can use: each covariate at the reference value its first library model declares,
``occasion_day29`` = 1 (steady state, docs/models.md), ``sex_male`` = 1, ``indication_gist`` = 0.
These are benchmark inputs, not a clinical population.

Prints per model the wall time of predictions (population, individual MAP, Bayesian forecasting)
and simulations (200 replicates: PI, NPDE, pcVPC), and the total including averaging, selection
and ranking; the four combined rows (averaging and selection with equal prior model
probabilities and with the cross-fitted centre prior) next to the best single model and the
generating model, and the centre prior's largest proportions; then the same run with the models
spread over worker processes (``--workers``,
default 2), with and without the simulations. Asserts nothing; the target of issue 7 is under
60 s on the 2-core machine. The functions are pure: ``predict_model`` / ``evaluate_model`` on
any chunk of patients, joined with ``concatenate_predictions`` — the last part shows chunked
and whole runs agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from imatinib_tdm.evaluation import (
    AVERAGING_CENTRE_ID,
    AVERAGING_ID,
    SELECTION_CENTRE_ID,
    SELECTION_ID,
    concatenate_predictions,
    evaluate_dataset,
    predict_model,
    simulate_dataset,
)
from imatinib_tdm.pk.library import get_model, list_models

FIXED = {"occasion_day29": 1.0, "sex_male": 1.0, "indication_gist": 0.0}


def bench_covariates() -> dict[str, float]:
    """One value per library covariate (see module docstring)."""
    values: dict[str, float] = {}
    for model in list_models():
        for cov in model.covariates:
            if cov.reference is not None:
                values.setdefault(cov.name, float(cov.reference))
    values.update(FIXED)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    covariates = bench_covariates()
    start = time.perf_counter()
    table = simulate_dataset(
        get_model("widmer2006_covariate"),
        n_patients=args.patients,
        covariates=covariates,
        dose_mg=400.0,
        interval_h=24.0,
        n_doses=45,
        sample_times_h=[24 * 14 + 23, 24 * 29 + 23.5, 24 * 44 + 23],
        seed=2026,
    )
    print(f"[0] simulated {args.patients} patients: {time.perf_counter() - start:.2f} s")
    models = list_models()
    timings: dict[str, float] = {}
    last = [time.perf_counter()]

    def tick(model_id: str) -> None:
        now = time.perf_counter()
        timings[model_id] = now - last[0]
        last[0] = now

    start = time.perf_counter()
    study = evaluate_dataset(table, models, n_replicates=args.replicates, on_model_done=tick)
    total = time.perf_counter() - start
    print(
        f"[1] {len(models)} models x {args.patients} patients, forecasting + "
        f"{args.replicates} replicates: total {total:.1f} s"
    )
    for row in study.ranking:
        seconds = timings.get(row.model_id, float("nan"))
        if row.error is not None:
            print(f"  {row.model_id:<24} {seconds:6.2f} s  not evaluated: {row.error[:70]}")
            continue
        f = row.metrics["forecast"]
        print(
            f"  #{row.rank:<3}{row.model_id:<21} {seconds:6.2f} s  forecast n {f.n:5d}  "
            f"MDPE {f.mdpe:+6.1f}%  MDAPE {f.mdape:5.1f}%  MAPE {f.mape:5.1f}%"
        )
    combined = (AVERAGING_ID, SELECTION_ID, AVERAGING_CENTRE_ID, SELECTION_CENTRE_ID)
    forecast = {r.model_id: r.metrics["forecast"] for r in study.ranking if r.error is None}
    singles = {k: m for k, m in forecast.items() if k not in combined}
    best = min(singles, key=lambda k: singles[k].mdape)
    print("[1b] forecast MDPE / MDAPE / MAPE (%): combined rows, best single, generating model")
    for key, tag in [(k, "") for k in combined] + [
        (best, " (best single by MDAPE)"),
        ("widmer2006_covariate", " (generating model)"),
    ]:
        m = forecast[key]
        print(f"  {key:<24} {m.mdpe:+6.1f} / {m.mdape:5.1f} / {m.mape:5.1f}{tag}")
    if study.centre_prior is not None:
        top = sorted(study.centre_prior.as_mapping().items(), key=lambda kv: -kv[1])[:3]
        print("  centre prior (all patients): " + ", ".join(f"{k} {v:.3f}" for k, v in top))
    for replicates in (args.replicates, 0):
        start = time.perf_counter()
        evaluate_dataset(table, models, n_replicates=replicates, workers=args.workers)
        seconds = time.perf_counter() - start
        print(
            f"[2] the same, models spread over {args.workers} processes, {replicates} "
            f"replicates: {seconds:.1f} s"
        )
    model = get_model("widmer2006_base")
    start = time.perf_counter()
    whole = predict_model(model, table)
    t_whole = time.perf_counter() - start
    start = time.perf_counter()
    chunks = np.array_split(np.arange(table.n_patients), 4)
    joined = concatenate_predictions([predict_model(model, table.take(c)) for c in chunks])
    t_chunks = time.perf_counter() - start
    gap = np.nanmax(np.abs(joined.forecast_mg_per_l - whole.forecast_mg_per_l))
    print(
        f"[3] chunking (widmer2006_base): whole {t_whole:.2f} s, 4 chunks {t_chunks:.2f} s, "
        f"max forecast difference {gap:.2e} mg/L"
    )


if __name__ == "__main__":
    main()
