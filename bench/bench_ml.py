"""Benchmark of the ML triage: training time and prediction latency for 10,000 synthetic rows.

Run: .venv/bin/python bench/bench_ml.py  (synthetic data only; prints figures).
Training = inner-CV tuning (3 folds) + refit on all rows, per savable family (no outer CV).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from imatinib_tdm.ml import (
    TriageModel,
    generate_synthetic_cohort,
    load_training_data,
    predict_triage,
    write_synthetic_csv,
)
from imatinib_tdm.ml._evaluation import fit_candidate
from imatinib_tdm.ml._train import _parameters

N_ROWS = 10_000


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.csv"
        start = time.perf_counter()
        write_synthetic_csv(generate_synthetic_cohort(N_ROWS, seed=0), path)
        print(f"synthetic cohort, {N_ROWS} rows: {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        data = load_training_data(path)
        print(f"load + validate CSV: {time.perf_counter() - start:.2f} s")
    for kind in ("logistic", "xgboost"):
        start = time.perf_counter()
        estimator, _ = fit_candidate(kind, data.x, data.y, inner_folds=3)
        fit_s = time.perf_counter() - start
        model = TriageModel(kind, data.feature_names, _parameters(kind, estimator), {})
        start = time.perf_counter()
        predictions = predict_triage(model, data.x)
        batch_s = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(100):
            predict_triage(model, data.x[i : i + 1])
        single_ms = (time.perf_counter() - start) * 10.0
        print(
            f"{kind:9s} train (grid search + refit) {fit_s:6.2f} s | predict {len(predictions)} "
            f"rows with contributions {batch_s * 1000:7.1f} ms | one patient {single_ms:.2f} ms"
        )


if __name__ == "__main__":
    main()
