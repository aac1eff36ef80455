"""Model averaging and model selection driven by each model's fit to the patient's own data.

This package's method (the reference KB cites no published averaging formula): for each patient
and each forecasting step, every evaluable model is fitted by MAP to the patient's earlier
observations (:mod:`._predictions`), and its fit is scored by the individual marginal likelihood
of those observations (Laplace approximation: ``c_m = OFV_m + log det Ω_m − log det Σ̂_m``, plus
``2 Σ log y`` for log-scale residual models so that all models refer to the same data scale).
Then, with ``Δ_m = c_m − min_m c_m``::

    weight_m = exp(−Δ_m / 2) / Σ_j exp(−Δ_j / 2)
    averaging:  forecast = Σ_m weight_m · forecast_m
    selection:  forecast = forecast of the model with the largest weight

i.e. weights proportional to each model's likelihood of the patient's data with equal prior
model probabilities (ids ``model_averaging``, ``model_selection``). The weights of the fit to
all the data do the same for the individual predictions. Averaged and selected forecasts are
scored with the same metrics as single models, so they can be compared on exactly the same
observations.

**Centre prior** (ids ``model_averaging_centre``, ``model_selection_centre``; also this
package's method, :mod:`._centre_prior`): the equal prior probabilities are replaced by the
centre's mixing proportions, estimated by EM from the other patients of the dataset
(cross-fitted: never from the patient's own data)::

    weight_m = π_m · exp(−Δ_m / 2) / Σ_j π_j · exp(−Δ_j / 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from imatinib_tdm.errors import TdmError
from imatinib_tdm.evaluation._centre_prior import (
    DEFAULT_MIN_PATIENTS,
    DEFAULT_N_FOLDS,
    DEFAULT_PSEUDO_COUNT,
    CentreModelPrior,
    centre_model_prior,
    patient_criteria,
)
from imatinib_tdm.evaluation._evaluate import ModelEvaluation, model_metrics
from imatinib_tdm.evaluation._layout import FloatArray
from imatinib_tdm.evaluation._predictions import ModelPredictions, predict_model
from imatinib_tdm.evaluation._weights import likelihood_weights
from imatinib_tdm.pk import EventTable, PopPKModel

__all__ = [
    "AVERAGING_CENTRE_ID",
    "AVERAGING_ID",
    "SELECTION_CENTRE_ID",
    "SELECTION_ID",
    "PatientModelWeights",
    "combine_models",
    "estimate_centre_prior",
    "patient_model_weights",
]

AVERAGING_ID = "model_averaging"
SELECTION_ID = "model_selection"
AVERAGING_CENTRE_ID = "model_averaging_centre"
SELECTION_CENTRE_ID = "model_selection_centre"


def _stack(parts: Sequence[ModelPredictions], name: str) -> FloatArray:
    return np.stack([np.asarray(getattr(p, name), dtype=np.float64) for p in parts], axis=1)


def _combine(
    values: FloatArray, criteria: FloatArray, prior: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    usable = np.isfinite(values) & (values > 0)
    weights = likelihood_weights(np.where(usable, criteria, np.nan), prior)
    averaged = np.nansum(np.where(usable, values, 0.0) * np.nan_to_num(weights), axis=1)
    none = ~np.isfinite(weights).any(axis=1)
    averaged = np.where(none, np.nan, averaged)
    best = np.argmax(np.nan_to_num(weights, nan=-1.0), axis=1)
    selected = np.where(none, np.nan, values[np.arange(values.shape[0]), best])
    return averaged, selected


def _usable(evaluations: Sequence[ModelEvaluation]) -> list[ModelEvaluation]:
    return [e for e in evaluations if e.error is None and e.predictions is not None]


def estimate_centre_prior(
    evaluations: Sequence[ModelEvaluation],
    *,
    n_folds: int = DEFAULT_N_FOLDS,
    pseudo_count: float = DEFAULT_PSEUDO_COUNT,
    min_patients: int = DEFAULT_MIN_PATIENTS,
) -> CentreModelPrior | None:
    """The centre prior over the evaluable models of one dataset (see :mod:`._centre_prior`).

    Uses each model's ``individual_criterion`` (fit to all of a patient's data). Returns None
    when fewer than two models could be evaluated.
    """
    usable = _usable(evaluations)
    if len(usable) < 2:
        return None
    ids, crit = patient_criteria([e.predictions for e in usable if e.predictions is not None])
    return centre_model_prior(
        [e.model_id for e in usable],
        ids,
        crit,
        n_folds=n_folds,
        pseudo_count=pseudo_count,
        min_patients=min_patients,
    )


def combine_models(
    evaluations: Sequence[ModelEvaluation],
    *,
    prior: CentreModelPrior | None = None,
) -> tuple[ModelEvaluation, ModelEvaluation]:
    """Model averaging and model selection over the evaluable models of one dataset.

    Parameters
    ----------
    evaluations : sequence of ModelEvaluation
        Evaluations of several models on the same event table; those with an ``error`` are
        ignored.
    prior : CentreModelPrior, optional
        The centre prior (:func:`estimate_centre_prior` on the same evaluations): each
        patient's weights use the prior cross-fitted for that patient, and the results get the
        ids ``model_averaging_centre`` / ``model_selection_centre``. Default: equal prior
        probabilities, ids ``model_averaging`` / ``model_selection``.

    Returns
    -------
    (averaging, selection) : tuple of ModelEvaluation
        Forecast and individual predictions combined as described in the module docstring;
        the population prediction is left empty (nan: there are no data to weight models by).
        ``error`` is set when fewer than two models could be evaluated.

    Raises
    ------
    ValueError
        The evaluations come from different datasets, or ``prior`` is over other models or
        patients.
    """
    usable = _usable(evaluations)
    names = ", ".join(e.model_id for e in usable)
    ids = (
        (AVERAGING_ID, SELECTION_ID)
        if prior is None
        else (AVERAGING_CENTRE_ID, SELECTION_CENTRE_ID)
    )
    suffix = "" if prior is None else f" with the {prior.describe()}"
    if len(usable) < 2:
        reason = "model averaging and selection need at least two evaluable models"
        return (
            ModelEvaluation(ids[0], "model averaging" + suffix, error=reason),
            ModelEvaluation(ids[1], "model selection" + suffix, error=reason),
        )
    parts = [e.predictions for e in usable if e.predictions is not None]
    first = parts[0]
    for part in parts[1:]:
        same = part.n_obs == first.n_obs and np.array_equal(part.patient_id, first.patient_id)
        if not (same and np.allclose(part.time_h, first.time_h)):
            raise ValueError("evaluations to combine must come from the same dataset")
    per_obs: FloatArray | None = None
    if prior is not None:
        if prior.model_ids != tuple(e.model_id for e in usable):
            raise ValueError("the prior is over other models than the evaluable ones")
        row = {pid: i for i, pid in enumerate(prior.patient_ids)}
        try:
            index = np.array([row[str(pid)] for pid in first.patient_id], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"patient {exc.args[0]} is not in the prior") from None
        per_obs = prior.patient_prior[index]
    f_avg, f_sel = _combine(
        _stack(parts, "forecast_mg_per_l"), _stack(parts, "forecast_criterion"), per_obs
    )
    i_avg, i_sel = _combine(
        _stack(parts, "individual_mg_per_l"), _stack(parts, "individual_criterion"), per_obs
    )
    nan = np.full(first.n_obs, np.nan)
    out = []
    for model_id, label, forecast, individual in (
        (ids[0], f"model averaging over {names}{suffix}", f_avg, i_avg),
        (ids[1], f"model selection among {names}{suffix}", f_sel, i_sel),
    ):
        predictions = ModelPredictions(
            model_id=model_id,
            patient_id=first.patient_id,
            time_h=first.time_h,
            time_after_dose_h=first.time_after_dose_h,
            occasion=first.occasion,
            observed_mg_per_l=first.observed_mg_per_l,
            censored=first.censored,
            population_mg_per_l=nan,
            individual_mg_per_l=individual,
            forecast_mg_per_l=forecast,
            forecast_criterion=nan,
            individual_criterion=nan,
            covariates=dict(first.covariates),
        )
        out.append(
            ModelEvaluation(
                model_id=model_id,
                label=label,
                predictions=predictions,
                metrics=model_metrics(predictions),
            )
        )
    return out[0], out[1]


@dataclass(frozen=True, eq=False)
class PatientModelWeights:
    """Per patient, the weight of each model given all of the patient's observations.

    Attributes
    ----------
    ids : tuple of str, patients
    model_ids : tuple of str
    weights : ndarray (n_patients, n_models); 0 for a model that cannot be evaluated, nan for
        a patient without observations
    errors : mapping model_id -> reason the model could not be evaluated
    """

    ids: tuple[str, ...]
    model_ids: tuple[str, ...]
    weights: FloatArray
    errors: dict[str, str]

    def selected(self) -> tuple[str | None, ...]:
        """The model with the largest weight for each patient (None without data)."""
        return tuple(
            None if not np.isfinite(row).any() else self.model_ids[int(np.nanargmax(row))]
            for row in self.weights
        )


def patient_model_weights(
    models: Sequence[PopPKModel],
    table: EventTable,
    prior: Mapping[str, float] | None = None,
) -> PatientModelWeights:
    """Likelihood weights of ``models`` for each patient of ``table`` (all observations).

    The basis for choosing or averaging models for one patient (e.g. an interpretation with an
    automatic model choice): the same criterion as :func:`combine_models`, on the fit to all of
    the patient's data. Models that cannot be evaluated get weight 0 and their reason.

    Parameters
    ----------
    models : sequence of PopPKModel
    table : EventTable
    prior : mapping model id -> prior probability, optional
        E.g. a centre's mixture proportions (``centre_model_prior`` of ``evaluate --json``);
        weights become ``π_m · exp(−Δ_m/2)`` normalised. A model absent from the mapping gets
        prior 0 (weight 0). Default: equal prior probabilities.
    """
    criteria = []
    errors: dict[str, str] = {}
    for model in models:
        try:
            pred = predict_model(model, table, forecasting=False)
        except TdmError as exc:
            errors[model.id] = str(exc)
            criteria.append(np.full(table.n_patients, np.nan))
            continue
        per_patient = np.full(table.n_patients, np.nan)
        index = {pid: i for i, pid in enumerate(table.ids)}
        for pid, value in zip(pred.patient_id.tolist(), pred.individual_criterion, strict=True):
            per_patient[index[pid]] = value
        criteria.append(per_patient)
    stacked = np.stack(criteria, axis=1) if criteria else np.zeros((table.n_patients, 0))
    pi = None if prior is None else np.array([float(prior.get(m.id, 0.0)) for m in models])
    return PatientModelWeights(
        ids=table.ids,
        model_ids=tuple(m.id for m in models),
        weights=likelihood_weights(stacked, pi),
        errors=errors,
    )
