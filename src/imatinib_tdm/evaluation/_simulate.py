"""Simulated observations from a model's own variability (IIV, IOV, residual error).

Two uses: replicates of an existing dataset's design (prediction intervals, NPDE, pcVPC), and
whole synthetic datasets for validation tests and benchmarks (:func:`simulate_dataset`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from imatinib_tdm.evaluation._layout import FloatArray
from imatinib_tdm.pk import (
    EventTable,
    MapProblem,
    PopPKModel,
    RecordKind,
    Route,
    predict_observations,
    prepare_map_problem,
)

__all__ = ["DEFAULT_LLOQ_MG_PER_L", "simulate_dataset", "simulate_replicates"]

DEFAULT_LLOQ_MG_PER_L = 0.05
"""50 ng/mL: lower end of a published imatinib LC-MS/MS range (DBS assay, linear 50-7500 ng/mL,
Iacuzzi et al., reference KB ``imatinib_clinical_kb.md`` [R79]); used only to censor simulated
values of synthetic datasets."""

_ROWS_PER_CHUNK = 20_000


def _effects(problem: MapProblem, n: int, rng: np.random.Generator) -> FloatArray:
    k = problem.n_effects
    if k == 0:
        return np.zeros((n, 0))
    return rng.multivariate_normal(np.zeros(k), problem.omega, size=n, method="cholesky")


def _noisy(
    problem: MapProblem, pred: FloatArray, effects: FloatArray, rng: np.random.Generator
) -> FloatArray:
    error = problem.model.residual_error
    multiplier: FloatArray | float = 1.0
    if error.eta_on_residual_sd:
        multiplier = np.exp(effects[:, -1])[:, None]
    return error.add_noise(pred, rng, sd_multiplier=multiplier)


def simulate_replicates(
    problem: MapProblem, *, n_replicates: int, seed: int, residual_error: bool = True
) -> FloatArray:
    """Observations simulated at the design of ``problem``, ``(n_replicates, n_patients, n_obs)``.

    Each replicate draws new random effects for every patient from the prior Ω (ETAs, KAPPAs of
    every occasion, the residual-magnitude effect) and, when ``residual_error``, a residual error
    per observation (mg/L). The same seed gives the same values.
    """
    rng = np.random.default_rng(seed)
    n_p = problem.n_patients
    n_o = problem.obs_times_h.shape[1]
    out = np.empty((n_replicates, n_p, n_o))
    per_chunk = max(1, _ROWS_PER_CHUNK // max(n_p, 1))
    for start in range(0, n_replicates, per_chunk):
        stop = min(n_replicates, start + per_chunk)
        rows = np.tile(np.arange(n_p), stop - start)
        effects = _effects(problem, rows.size, rng)
        pred = predict_observations(problem, effects, rows)
        if residual_error:
            pred = _noisy(problem, pred, effects, rng)
        out[start:stop] = pred.reshape(stop - start, n_p, n_o)
    return out


def simulate_dataset(
    model: PopPKModel,
    *,
    n_patients: int,
    covariates: Mapping[str, float | Sequence[float]],
    dose_mg: float,
    interval_h: float,
    n_doses: int,
    sample_times_h: Sequence[float],
    seed: int,
    lloq_mg_per_l: float = DEFAULT_LLOQ_MG_PER_L,
    id_prefix: str = "",
) -> EventTable:
    """A synthetic TDM dataset: oral doses and samples simulated from ``model``.

    Parameters
    ----------
    model : PopPKModel
    n_patients : int
    covariates : mapping name -> scalar or sequence of length n_patients
        Model covariates (units as the model declares); constant over time.
    dose_mg, interval_h, n_doses : dose every ``interval_h`` h from time 0, ``n_doses`` times
    sample_times_h : sample times (h from the first dose), the same for every patient
    seed : int
    lloq_mg_per_l : float, default 0.05
        Simulated values below it become censored observations with this LLOQ (M3).
    id_prefix : str
        Prepended to the patient numbers (to mix datasets).

    Returns
    -------
    EventTable
        Concentrations in mg/L; random effects from the model's Ω (and IOV, all on occasion 0),
        residual error from its residual model.
    """
    dose_times = np.arange(n_doses) * float(interval_h)
    samples = np.sort(np.asarray(sample_times_h, dtype=np.float64))
    times = np.concatenate([dose_times, samples])
    kinds = np.concatenate(
        [np.full(n_doses, RecordKind.DOSE), np.full(samples.size, RecordKind.OBSERVATION)]
    )
    order = np.lexsort((kinds != RecordKind.DOSE, times))
    times, kinds = times[order], kinds[order]
    shape = (n_patients, times.size)
    is_dose = np.broadcast_to(kinds == RecordKind.DOSE, shape)
    cov = {
        name: np.broadcast_to(np.asarray(value, dtype=np.float64).reshape(-1, 1), shape).copy()
        for name, value in covariates.items()
    }
    table = EventTable(
        ids=tuple(f"{id_prefix}{i + 1}" for i in range(n_patients)),
        time_h=np.broadcast_to(times, shape).copy(),
        kind=np.broadcast_to(kinds, shape).astype(np.int64),
        amount_mg=np.where(is_dose, float(dose_mg), 0.0),
        route=np.full(shape, int(Route.ORAL), dtype=np.int64),
        rate_mg_per_h=np.zeros(shape),
        steady_state=np.zeros(shape, dtype=np.int64),
        interval_h=np.zeros(shape),
        dv_mg_per_l=np.where(is_dose, np.nan, 1.0),
        censored=np.zeros(shape, dtype=bool),
        lloq_mg_per_l=np.where(is_dose, np.nan, lloq_mg_per_l),
        occasion=np.zeros(shape, dtype=np.int64),
        covariates=cov,
        source=f"simulated from {model.id} (seed {seed})",
    )
    problem = prepare_map_problem(model, table)
    values = simulate_replicates(problem, n_replicates=1, seed=seed)[0]
    dv = table.dv_mg_per_l.copy()
    obs = ~is_dose
    dv[obs] = values[:, : samples.size].reshape(-1)
    censored = obs & ~(dv >= lloq_mg_per_l)
    return dataclasses.replace(table, dv_mg_per_l=np.where(censored, np.nan, dv), censored=censored)
