"""Engine benchmarks (issue #2). Prints figures; asserts nothing.

Run: .venv/bin/python bench/bench_engine.py
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np

from imatinib_tdm.pk import (
    DoseHistory,
    individual_parameters,
    integrate_ode,
    predict_concentrations,
    predict_steady_state_trough,
    sample_etas,
    simulate_steady_state_troughs,
)
from imatinib_tdm.pk.library import get_model


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    rng = np.random.default_rng(1)

    # 1. steady-state troughs, 1,000,000 virtual patients
    model = get_model("widmer2006_base")
    n = 1_000_000
    etas = sample_etas(model, n, rng)
    params = individual_parameters(model, {}, etas)
    engine = best_of(
        lambda: predict_steady_state_trough(model.structure, params, dose_mg=400, interval_h=24)
    )
    print(f"[1] SS troughs, {n:,} patients, {model.id} (engine only): {engine:.3f} s")
    full = best_of(
        lambda: predict_steady_state_trough(
            model.structure,
            individual_parameters(model, {}, sample_etas(model, n, rng)),
            dose_mg=400,
            interval_h=24,
        ),
        repeat=3,
    )
    print(f"    incl. sampling etas and computing parameters: {full:.3f} s")
    sim = best_of(
        lambda: simulate_steady_state_troughs(
            model, {}, dose_mg=400, interval_h=24, n_individuals=n, seed=1
        ),
        repeat=3,
    )
    print(f"    simulate_steady_state_troughs (with residual error, percentiles): {sim:.3f} s")
    exp_floor = best_of(lambda: np.exp(-np.abs(etas[:, 0])) + np.exp(-np.abs(etas[:, 1])))
    print(f"    numpy floor, 2 exp over {n:,}: {exp_floor:.3f} s")

    # 2. full profiles, 10,000 patients x 30 doses x 200 times
    n2 = 10_000
    doses = DoseHistory.regular(amount_mg=400, interval_h=24, n_doses=30)
    times = np.linspace(0.0, 30 * 24.0, 200)
    for model_id in ("widmer2006_base", "schmidli2005", "chien2022", "eechoute2012"):
        m = get_model(model_id)
        covariates = {c.name: c.reference for c in m.covariates if c.reference is not None}
        covariates.setdefault("occasion_day29", 1.0)
        covariates.setdefault("liver_metastasis_volume_cm3", 0.0)
        p = individual_parameters(
            m, covariates, sample_etas(m, n2, rng), dose_times_h=doses.times_h
        )
        seconds = best_of(
            lambda m=m, p=p: predict_concentrations(m.structure, p, doses, times), repeat=3
        )
        kind = f"{m.structure.n_compartments}-cmt {m.structure.absorption.value}"
        print(f"[2] profiles {n2:,} x 30 doses x 200 times, {model_id} ({kind}): {seconds:.3f} s")

    # 3. speed-up against scipy ODE integration of the same cases
    m = get_model("widmer2006_base")
    n3 = 20
    p = individual_parameters(m, {}, sample_etas(m, n3, rng))
    ode = best_of(lambda: integrate_ode(m.structure, p, doses, times), repeat=1)
    closed = best_of(lambda: predict_concentrations(m.structure, p, doses, times))
    print(
        f"[3] {n3} patients x 30 doses x 200 times: ODE (DOP853, rtol 1e-12) {ode:.2f} s, "
        f"closed form {closed * 1e3:.2f} ms, speed-up x{ode / closed:,.0f}"
    )
    per_patient_ode = ode / n3
    per_patient_closed = (
        best_of(
            lambda: predict_concentrations(
                m.structure, individual_parameters(m, {}, sample_etas(m, n2, rng)), doses, times
            ),
            repeat=3,
        )
        / n2
    )
    print(
        f"    per patient at batch size {n2:,}: ODE {per_patient_ode * 1e3:.1f} ms, closed form "
        f"{per_patient_closed * 1e6:.1f} us, speed-up x{per_patient_ode / per_patient_closed:,.0f}"
    )


if __name__ == "__main__":
    main()
