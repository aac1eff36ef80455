"""CPU cost of one ``interpret(case)`` and of its parts, on the packaged demo case.

Prints the process CPU time per call (ms), warm, mean and median over ``--repeats`` calls, for
the whole :func:`imatinib_tdm.tdm.interpret` and for each part it runs on a one-sample case
(called with the same inputs as ``interpret`` passes them). Asserts nothing. ``--profile`` adds
a cProfile listing of ``interpret`` (cumulative time).

Run: ``.venv/bin/python bench/bench_interpret.py [--case demo-001] [--repeats 20] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.pk import individual_parameters
from imatinib_tdm.pk._map import estimate_map
from imatinib_tdm.pk._posterior import sample_posterior
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm import interpret
from imatinib_tdm.tdm._dosing import evaluate_regimens, recommend_regimen
from imatinib_tdm.tdm._individual import _estimate_from_fit, _eta_part, _fit
from imatinib_tdm.tdm._knowledge import Indication, load_targets
from imatinib_tdm.tdm._model_choice import default_model
from imatinib_tdm.tdm._patient_factors import assess_patient_factors
from imatinib_tdm.tdm._regimens import candidate_regimens
from imatinib_tdm.tdm._resampling import predict_time_to_steady_state
from imatinib_tdm.tdm._sampling import check_sampling
from imatinib_tdm.tdm._troubleshooting import assess_adherence

_SEED = 20261126
_N_DRAWS = 1000
_N_PROPOSALS = 4000


def _cpu_ms(call: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(mean, median) process CPU time per call, ms; the median resists a busy machine."""
    for _ in range(3):  # warm: imports, lru caches, first model load
        call()
    costs = []
    for _ in range(repeats):
        start = time.process_time()
        call()
        costs.append((time.process_time() - start) * 1000.0)
    return statistics.fmean(costs), statistics.median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", default="demo-001")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    case = load_demo_case(args.case)
    model = get_model(default_model(case).model_id)
    fit = _fit(case, model, n_draws=_N_DRAWS, n_proposals=_N_PROPOSALS, seed=_SEED)
    problem = fit.problem
    result = estimate_map(problem)
    indication = Indication(str(case.patient.indication.value).lower())
    targets = load_targets()
    target, alert = targets.default_target(indication), targets.default_alert(indication)
    patient = case.patient
    regimens = candidate_regimens(
        age_years=float(patient.age_years) if patient.age_years is not None else 18.0,
        weight_kg=patient.weight_kg,
        height_cm=patient.height_cm,
    )
    covariates = {k: float(v[0]) for k, v in problem.covariates.values.items()}
    eta_draws = _eta_part(model, fit.posterior.draws[0])
    table = evaluate_regimens(model, covariates, eta_draws, regimens, target=target, alert=alert)
    advice = recommend_regimen(table)
    chosen = advice.recommended or advice.best_available
    assert chosen is not None
    draw_params = individual_parameters(model, covariates, eta_draws)
    latest = check_sampling(case).latest
    observed = None if latest is None else latest.concentration_ng_per_ml
    below = False if latest is None else latest.is_below_lloq

    parts: list[tuple[str, Callable[[], Any]]] = [
        ("interpret (whole)", lambda: interpret(case)),
        ("  check_sampling", lambda: check_sampling(case)),
        ("  assess_patient_factors", lambda: assess_patient_factors(case, model)),
        (
            "  _fit (problem + MAP + SIR)",
            lambda: _fit(case, model, n_draws=_N_DRAWS, n_proposals=_N_PROPOSALS, seed=_SEED),
        ),
        ("    estimate_map", lambda: estimate_map(problem)),
        (
            "    sample_posterior (SIR)",
            lambda: sample_posterior(
                problem, result, n_draws=_N_DRAWS, n_proposals=_N_PROPOSALS, seed=_SEED
            ),
        ),
        ("  _estimate_from_fit", lambda: _estimate_from_fit(case, model, replace(fit, memo={}))),
        (
            "  evaluate_regimens",
            lambda: evaluate_regimens(
                model, covariates, eta_draws, regimens, target=target, alert=alert
            ),
        ),
        (
            "  individual_parameters (draws)",
            lambda: individual_parameters(model, covariates, eta_draws),
        ),
        (
            "  predict_time_to_steady_state",
            lambda: predict_time_to_steady_state(
                model, draw_params, chosen.regimen, previous_regimen=fit.regimen
            ),
        ),
        (
            "  assess_adherence",
            lambda: assess_adherence(
                case, model, observed_trough_ng_per_ml=observed, below_lloq=below, seed=_SEED
            ),
        ),
    ]
    print(f"case {args.case}, model {model.id}, CPU ms per call over {args.repeats} warm calls")
    print(f"{'':<36} {'mean':>7} {'median':>7}")
    for label, call in parts:
        mean, median = _cpu_ms(call, args.repeats)
        print(f"{label:<36} {mean:7.2f} {median:7.2f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.repeats):
            interpret(case)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
