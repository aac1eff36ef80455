"""Evaluate one model on a dataset: predictions, simulation diagnostics, metrics — never raising.

A model that cannot be evaluated on the data (missing covariates, a path the engine does not
support, values outside a hard domain) comes back with ``error`` set and no numbers, so that a
whole-library run always finishes and the ranking lists the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imatinib_tdm.errors import TdmError
from imatinib_tdm.evaluation._layout import DEFAULT_OCCASION_GAP_H, FloatArray
from imatinib_tdm.evaluation._metrics import PredictionMetrics, prediction_metrics
from imatinib_tdm.evaluation._npde import VpcData, npde, pcvpc, prediction_interval
from imatinib_tdm.evaluation._predictions import ModelPredictions, predict_model
from imatinib_tdm.evaluation._simulate import simulate_replicates
from imatinib_tdm.pk import EventTable, PopPKModel, prepare_map_problem

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_TIME_VARYING_PATIENT_LIMIT",
    "ModelEvaluation",
    "evaluate_model",
    "model_metrics",
]

DEFAULT_TIME_VARYING_PATIENT_LIMIT = 20
"""Models whose parameters change with time on therapy (e.g. Eechoute 2012) are predicted one
patient at a time by the pk engine (about 6 s per patient with forecasting on the 2-core
development machine); above this many patients they are reported as not evaluated."""

DEFAULT_SEED = 20261126
"""Seed of the simulations (prediction intervals, NPDE, pcVPC); the same seed gives the same
figures."""

PREDICTION_KINDS = ("population", "individual", "forecast")


@dataclass(frozen=True, eq=False)
class ModelEvaluation:
    """The evaluation of one model (or of averaging / selection) on one dataset.

    Attributes
    ----------
    model_id : str
    label : str, human-readable name
    error : str or None
        Why the model could not be evaluated; then every other field is empty.
    predictions : ModelPredictions or None
    pi_low_mg_per_l, pi_high_mg_per_l : ndarray (n_obs,), 90% prediction interval
    npde : ndarray (n_obs,)
    vpc : VpcData or None
    metrics : mapping "population" / "individual" / "forecast" -> PredictionMetrics
    warnings : tuple of str, covariate-domain and applicability warnings
    """

    model_id: str
    label: str
    error: str | None = None
    predictions: ModelPredictions | None = None
    pi_low_mg_per_l: FloatArray | None = None
    pi_high_mg_per_l: FloatArray | None = None
    npde: FloatArray | None = None
    vpc: VpcData | None = None
    metrics: dict[str, PredictionMetrics] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def model_metrics(
    predictions: ModelPredictions,
    low: FloatArray | None = None,
    high: FloatArray | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, PredictionMetrics]:
    """Metrics of the three prediction kinds (``rows``: an optional boolean subset)."""
    use = np.ones(predictions.n_obs, bool) if rows is None else np.asarray(rows, bool)
    obs = np.where(use, predictions.observed_mg_per_l, np.nan)
    out = {}
    for kind in PREDICTION_KINDS:
        pred = getattr(predictions, f"{kind}_mg_per_l")
        interval = (low, high) if kind == "population" else (None, None)
        out[kind] = prediction_metrics(pred, obs, lower=interval[0], upper=interval[1])
    return out


def evaluate_model(
    model: PopPKModel,
    table: EventTable,
    *,
    seed: int = DEFAULT_SEED,
    n_replicates: int = 200,
    forecasting: bool = True,
    occasion_gap_h: float = DEFAULT_OCCASION_GAP_H,
    n_starts: int = 1,
    time_varying_patient_limit: int | None = DEFAULT_TIME_VARYING_PATIENT_LIMIT,
) -> ModelEvaluation:
    """Predictions, diagnostics and metrics of ``model`` on ``table``; never raises for the data.

    Parameters
    ----------
    model : PopPKModel
    table : EventTable (concentrations in mg/L)
    seed : int, default 20261126
        Seed of the replicates (prediction interval, NPDE, pcVPC).
    n_replicates : int, default 200
        Simulated replicates of the dataset (0 skips PI, NPDE and VPC).
    forecasting, occasion_gap_h, n_starts
        As :func:`~imatinib_tdm.evaluation.predict_model`.
    time_varying_patient_limit : int or None, default 20
        Largest dataset (patients) on which a model with time-varying parameters is evaluated
        (see :data:`DEFAULT_TIME_VARYING_PATIENT_LIMIT`); None: no limit.

    Returns
    -------
    ModelEvaluation
        With ``error`` set (and the reason) when the model cannot be evaluated on these data.
    """
    label = f"{model.id}: {model.name}"
    limit = time_varying_patient_limit
    if model.time_varying_parameters and limit is not None and table.n_patients > limit:
        reason = (
            f"parameters that change with time on therapy "
            f"({', '.join(model.time_varying_parameters)}) are predicted one patient at a time "
            f"(slow); {table.n_patients} patients exceed the limit of {limit} "
            "(raise time_varying_patient_limit to evaluate it)"
        )
        return ModelEvaluation(model_id=model.id, label=label, error=reason)
    try:
        return _evaluate(
            model, table, label, seed, n_replicates, forecasting, occasion_gap_h, n_starts
        )
    except TdmError as exc:
        return ModelEvaluation(model_id=model.id, label=label, error=str(exc))
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        # a numerical failure on one model must not end a whole-library run; it is reported
        return ModelEvaluation(
            model_id=model.id, label=label, error=f"numerical failure: {type(exc).__name__}: {exc}"
        )


def _evaluate(
    model: PopPKModel,
    table: EventTable,
    label: str,
    seed: int,
    n_replicates: int,
    forecasting: bool,
    occasion_gap_h: float,
    n_starts: int,
) -> ModelEvaluation:
    predictions = predict_model(
        model, table, occasion_gap_h=occasion_gap_h, n_starts=n_starts, forecasting=forecasting
    )
    problem = prepare_map_problem(model, table)
    warnings = tuple(sorted({w.message for w in problem.warnings}))
    low = high = npde_flat = None
    vpc = None
    if n_replicates > 0:
        reps = simulate_replicates(problem, n_replicates=n_replicates, seed=seed)
        real = problem.observed | problem.censored
        low_pn, high_pn = prediction_interval(reps)
        low, high = low_pn[real], high_pn[real]
        npde_flat = npde(reps, problem.dv_mg_per_l, problem.observed)[real]
        vpc = pcvpc(
            predictions.time_after_dose_h,
            predictions.observed_mg_per_l,
            predictions.population_mg_per_l,
            reps[:, real],
        )
    return ModelEvaluation(
        model_id=model.id,
        label=label,
        predictions=predictions,
        pi_low_mg_per_l=low,
        pi_high_mg_per_l=high,
        npde=npde_flat,
        vpc=vpc,
        metrics=model_metrics(predictions, low, high),
        warnings=warnings,
    )
