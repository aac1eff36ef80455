"""Population, individual (Bayesian) and forecasting predictions of one model, batch-first.

Three predictions of every observation of a dataset, as in published external evaluations
(Corral Alaejos 2022, Br J Clin Pharmacol 88(4):1913-24, doi:10.1111/bcp.15122; Yang 2025,
Target Oncol, doi:10.1007/s11523-025-01172-2: prediction-based diagnostics and Bayesian
forecasting):

* **population** (PRED): the typical individual of the model at the patient's covariates
  (all random effects 0);
* **individual** (IPRED): the MAP individual fitted to *all* the patient's observations;
* **forecast**: for sampling occasion j ≥ 2 (0-based j ≥ 1), the MAP individual fitted to the
  observations of occasions 0..j-1 only, predicting occasion j. The first occasion has no
  forecast (its a priori prediction is PRED).

Every forecasting step of every patient is one row of a single batched MAP problem (the event
table's rows are repeated, and the observations not yet "seen" are masked), so the cost grows
with the number of steps, not with Python loops. Functions are pure: any subset of patients can
be evaluated on its own (e.g. on separate workers) and the results concatenated
(:func:`concatenate_predictions`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.evaluation._layout import (
    DEFAULT_OCCASION_GAP_H,
    BoolArray,
    FloatArray,
    IntArray,
    ObservationLayout,
    observation_layout,
)
from imatinib_tdm.pk import (
    EventTable,
    MapProblem,
    PopPKModel,
    estimate_map,
    predict_observations,
    prepare_map_problem,
)

__all__ = [
    "ModelPredictions",
    "concatenate_predictions",
    "predict_model",
]


@dataclass(frozen=True, eq=False)
class ModelPredictions:
    """Predictions of one model at every observation of a dataset, one entry per observation.

    Arrays are flat, of length ``n_obs`` (every uncensored and censored observation of every
    patient, patient by patient in time order), so chunks concatenate.

    Attributes
    ----------
    model_id : str
    patient_id : str ndarray
    time_h, time_after_dose_h : ndarray, h
    occasion : int ndarray, 0-based sampling occasion within the patient
    observed_mg_per_l : ndarray, mg/L (nan for censored observations)
    censored : bool ndarray
    population_mg_per_l : ndarray, PRED (random effects 0)
    individual_mg_per_l : ndarray, IPRED (MAP on all the patient's data)
    forecast_mg_per_l : ndarray, MAP on the earlier occasions only (nan on occasion 0)
    forecast_criterion : ndarray
        -2 log marginal likelihood (Laplace approximation, constants shared by every model
        omitted) of the data the forecast was fitted to; nan on occasion 0. Used to weight
        models (see ``_averaging``).
    individual_criterion : ndarray
        The same criterion for the fit to all the patient's data (repeated on each observation).
    covariates : mapping name -> ndarray
        The covariates of the model, per observation (value in force at the last record).
    """

    model_id: str
    patient_id: NDArray[np.str_]
    time_h: FloatArray
    time_after_dose_h: FloatArray
    occasion: IntArray
    observed_mg_per_l: FloatArray
    censored: BoolArray
    population_mg_per_l: FloatArray
    individual_mg_per_l: FloatArray
    forecast_mg_per_l: FloatArray
    forecast_criterion: FloatArray
    individual_criterion: FloatArray
    covariates: dict[str, FloatArray] = dataclasses.field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        """Number of observation entries (censored included)."""
        return int(self.time_h.size)


def _criterion(problem: MapProblem, ofv: FloatArray, covariance: FloatArray) -> FloatArray:
    """-2 log marginal likelihood of each row's (unmasked) data, Laplace approximation.

    ``OFV(η̂) + log det Ω − log det Σ̂`` (Σ̂ the Laplace posterior covariance; the 2π factors of
    prior and Laplace integral cancel), plus ``2 Σ log y`` for a log-scale residual model so that
    every model's likelihood refers to the concentrations themselves (change of variables).
    When Σ̂ is not available the posterior-mode value ``OFV + log det Ω`` is used.
    """
    k = problem.n_effects
    criterion = np.array(ofv, dtype=np.float64, copy=True)
    if k:
        _, logdet_omega = np.linalg.slogdet(problem.omega)
        criterion = criterion + logdet_omega
        finite = np.all(np.isfinite(covariance), axis=(1, 2))
        sign = np.zeros(len(criterion))
        logdet_post = np.zeros(len(criterion))
        if np.any(finite):
            sign[finite], logdet_post[finite] = np.linalg.slogdet(covariance[finite])
        usable = finite & (sign > 0)
        criterion = np.where(usable, criterion - logdet_post, criterion)
    if problem.model.residual_error.is_log_scale:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(problem.observed, np.log(problem.dv_mg_per_l), 0.0)
        criterion = criterion + 2.0 * logs.sum(axis=1)
    return criterion


def _masked(problem: MapProblem, keep: BoolArray) -> MapProblem:
    # a fresh problem (new cache) whose objective sees only the kept observations
    return dataclasses.replace(
        problem, observed=problem.observed & keep, censored=problem.censored & keep
    )


def _forecasts(
    model: PopPKModel,
    table: EventTable,
    layout: ObservationLayout,
    *,
    n_starts: int,
    max_iterations: int,
) -> tuple[FloatArray, FloatArray]:
    """Forecast predictions and criteria, ``(n_patients, n_obs)`` each (nan where none)."""
    n_p, n_o = layout.occasion.shape
    forecast = np.full((n_p, n_o), np.nan)
    criterion = np.full((n_p, n_o), np.nan)
    steps = layout.n_occasions - 1
    rows = np.repeat(np.arange(n_p), np.maximum(steps, 0))
    if rows.size == 0:
        return forecast, criterion
    # step number of each repeated row: 1..n_occasions-1 of its patient
    starts = np.cumsum(np.maximum(steps, 0)) - np.maximum(steps, 0)
    step = np.arange(rows.size) - np.repeat(starts, np.maximum(steps, 0)) + 1
    expanded = prepare_map_problem(model, table.take(rows))
    occ = layout.occasion[rows]
    fitted = _masked(expanded, (occ >= 0) & (occ < step[:, None]))
    result = estimate_map(fitted, n_starts=n_starts, max_iterations=max_iterations)
    pred = predict_observations(fitted, result.etas, np.arange(rows.size))
    target = occ == step[:, None]
    crit = _criterion(fitted, result.ofv, result.covariance)
    for i in np.flatnonzero(target.any(axis=1)):
        cols = target[i]
        forecast[rows[i], cols] = pred[i, cols]
        criterion[rows[i], cols] = crit[i]
    return forecast, criterion


def predict_model(
    model: PopPKModel,
    table: EventTable,
    *,
    occasion_gap_h: float = DEFAULT_OCCASION_GAP_H,
    n_starts: int = 1,
    max_iterations: int = 100,
    forecasting: bool = True,
) -> ModelPredictions:
    """Population, individual and forecasting predictions of ``model`` at every observation.

    Parameters
    ----------
    model : PopPKModel
    table : EventTable
        Doses and observations (mg/L) of the patients, with the model's covariates.
    occasion_gap_h : float, default 24
        Occasion rule when the data have no OCC column (see :func:`observation_layout`).
    n_starts : int, default 1
        MAP starting points (1 = the typical individual; 3 detects multimodality at three
        times the cost).
    max_iterations : int, default 100
    forecasting : bool, default True
        False skips the forecasting fits (forecast columns nan).

    Returns
    -------
    ModelPredictions

    Raises
    ------
    EstimationError, MissingCovariateError, ModelDomainError
        The model cannot be evaluated on these data (from
        :func:`~imatinib_tdm.pk.prepare_map_problem`).
    """
    layout = observation_layout(table, occasion_gap_h=occasion_gap_h)
    problem = prepare_map_problem(model, table)
    n_p, n_o = layout.occasion.shape
    everyone = np.arange(n_p)
    population = predict_observations(problem, np.zeros((n_p, problem.n_effects)), everyone)
    full = estimate_map(problem, n_starts=n_starts, max_iterations=max_iterations)
    individual = full.predictions_mg_per_l
    individual_criterion = _criterion(problem, full.ofv, full.covariance)
    if forecasting:
        forecast, criterion = _forecasts(
            model, table, layout, n_starts=n_starts, max_iterations=max_iterations
        )
    else:
        forecast = np.full((n_p, n_o), np.nan)
        criterion = np.full((n_p, n_o), np.nan)
    real = layout.observed | layout.censored
    pid = np.repeat(np.array(layout.ids, dtype=np.str_), real.sum(axis=1))
    covariates = {
        name: np.broadcast_to(values[:, None], (n_p, n_o))[real]
        for name, values in problem.covariates.values.items()
    }
    return ModelPredictions(
        model_id=model.id,
        patient_id=pid,
        time_h=layout.time_h[real],
        time_after_dose_h=layout.time_after_dose_h[real],
        occasion=layout.occasion[real],
        observed_mg_per_l=layout.dv_mg_per_l[real],
        censored=layout.censored[real],
        population_mg_per_l=population[real],
        individual_mg_per_l=individual[real],
        forecast_mg_per_l=forecast[real],
        forecast_criterion=criterion[real],
        individual_criterion=np.broadcast_to(individual_criterion[:, None], (n_p, n_o))[real],
        covariates=covariates,
    )


def concatenate_predictions(parts: Sequence[ModelPredictions]) -> ModelPredictions:
    """Join predictions of one model computed on disjoint chunks of patients."""
    if not parts:
        raise ValueError("concatenate_predictions needs at least one part")
    ids = {part.model_id for part in parts}
    if len(ids) != 1:
        raise ValueError(f"parts come from different models: {sorted(ids)}")
    arrays = {
        f.name: np.concatenate([getattr(part, f.name) for part in parts])
        for f in dataclasses.fields(ModelPredictions)
        if f.name not in ("model_id", "covariates")
    }
    names = set.intersection(*(set(part.covariates) for part in parts))
    covariates = {name: np.concatenate([part.covariates[name] for part in parts]) for name in names}
    return ModelPredictions(model_id=parts[0].model_id, covariates=covariates, **arrays)
