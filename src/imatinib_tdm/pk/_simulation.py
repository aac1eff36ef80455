"""Population Monte Carlo simulation from a population PK model (prediction intervals a priori).

Draws individuals from a model's random-effect distributions, predicts their concentrations with
the closed-form engine and, optionally, adds residual error, then summarises by percentiles. Each
result carries its model id, seed, size, options and the covariate warnings (documented
substitutions, soft-domain excursions), so nothing that happened is silent.

Random numbers are drawn from ``numpy.random.default_rng(seed)`` in a fixed order: etas
``(n_individuals, n_etas)``, then kappas ``(n_individuals, n_kappas)`` (when IOV is simulated),
then the between-subject residual-magnitude effect ``(n_individuals, 1)`` (when the error model has
one), then residual ε ``(n_individuals, n_times)``. Predictions are computed in chunks of
individuals to bound memory; chunking does not change the draws.

This module imports the PK engine, the model functions and :mod:`imatinib_tdm.errors`; never
``case``, ``tdm``, ``report``, ``store`` or ``service``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk._closed_form import predict_concentrations
from imatinib_tdm.pk._covariates import resolve_covariates
from imatinib_tdm.pk._individual import (
    individual_parameters,
    sample_etas,
    sample_kappas,
    typical_parameters,
)
from imatinib_tdm.pk._model import DomainWarning, PopPKModel, ResolvedCovariates
from imatinib_tdm.pk._quantiles import percentiles as sample_percentiles
from imatinib_tdm.pk._steady_state import predict_steady_state_trough
from imatinib_tdm.pk._structures import DoseHistory, PKParameters

__all__ = [
    "DEFAULT_PERCENTILES",
    "PopulationSimulation",
    "SteadyStateTroughSimulation",
    "simulate_population",
    "simulate_steady_state_troughs",
    "simulate_typical",
]

FloatArray = NDArray[np.float64]

DEFAULT_PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)
"""Percentiles reported by default (a 90% and a 50% interval around the median)."""

_CHUNK_ELEMENTS = 4_000_000
"""Upper bound on n_individuals x n_times x n_doses per engine call (memory, not accuracy)."""


@dataclass(frozen=True, eq=False)
class PopulationSimulation:
    """Concentration-time profiles of simulated individuals.

    Attributes
    ----------
    model_id : str
    seed : int
    n_individuals : int
    times_h : ndarray of shape (n_times,)
        Prediction times, h, same origin as the dose times.
    concentrations_mg_per_l : ndarray of shape (n_individuals, n_times)
        Simulated concentrations (observations when ``residual_error``; true concentrations
        otherwise). Additive error can make values negative: they are kept as simulated.
    percentiles_mg_per_l : mapping of float to ndarray of shape (n_times,)
        Pointwise percentiles over individuals (e.g. ``{5.0: ..., 50.0: ..., 95.0: ...}``).
    residual_error : bool
        Whether residual error was added (a prediction interval for observations).
    inter_occasion_variability : bool
        Whether kappas were drawn (one occasion spanning the whole simulation).
    etas : ndarray of shape (n_individuals, n_etas)
        The inter-individual random effects drawn.
    covariate_warnings : tuple of DomainWarning
        Substitutions and soft-domain excursions for the simulated covariates.
    """

    model_id: str
    seed: int
    n_individuals: int
    times_h: FloatArray
    concentrations_mg_per_l: FloatArray = field(repr=False)
    percentiles_mg_per_l: Mapping[float, FloatArray] = field(repr=False)
    residual_error: bool
    inter_occasion_variability: bool
    etas: FloatArray = field(repr=False)
    covariate_warnings: tuple[DomainWarning, ...] = ()


@dataclass(frozen=True, eq=False)
class SteadyStateTroughSimulation:
    """Steady-state trough concentrations of simulated individuals on one regimen.

    Attributes
    ----------
    model_id : str
    seed : int
    n_individuals : int
    dose_mg : float
    interval_h : float
    troughs_mg_per_l : ndarray of shape (n_individuals,)
        Concentration just before a dose at steady state (residual error added when
        ``residual_error``; negative simulated values are kept).
    percentiles_mg_per_l : mapping of float to float
    residual_error, inter_occasion_variability : bool
    etas : ndarray of shape (n_individuals, n_etas)
    covariate_warnings : tuple of DomainWarning
    """

    model_id: str
    seed: int
    n_individuals: int
    dose_mg: float
    interval_h: float
    troughs_mg_per_l: FloatArray = field(repr=False)
    percentiles_mg_per_l: Mapping[float, float]
    residual_error: bool
    inter_occasion_variability: bool
    etas: FloatArray = field(repr=False)
    covariate_warnings: tuple[DomainWarning, ...] = ()


def _check_percentiles(percentiles: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(p) for p in percentiles)
    if not values or not all(0.0 <= p <= 100.0 for p in values):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {list(percentiles)}")
    return values


def _check_times(times_h: ArrayLike) -> FloatArray:
    times = np.atleast_1d(np.asarray(times_h, dtype=np.float64))
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise ValueError(f"times_h must be a non-empty 1-D array of finite hours, got {times_h!r}")
    return times


def _resolve_for(
    model: PopPKModel, covariates: Mapping[str, Any] | ResolvedCovariates, n_individuals: int
) -> ResolvedCovariates:
    resolved = (
        covariates
        if isinstance(covariates, ResolvedCovariates)
        else resolve_covariates(model, covariates)
    )
    if resolved.n_patients not in (1, n_individuals):
        raise ValueError(
            f"covariates describe {resolved.n_patients} patients; give scalars (one virtual "
            f"patient, simulated {n_individuals} times) or arrays of length n_individuals"
        )
    return resolved


def _draw_individuals(
    model: PopPKModel,
    resolved: ResolvedCovariates,
    n_individuals: int,
    rng: np.random.Generator,
    *,
    inter_occasion_variability: bool,
    dose_times_h: FloatArray | None,
) -> tuple[PKParameters, FloatArray]:
    if n_individuals < 1:
        raise ValueError(f"n_individuals must be >= 1, got {n_individuals}")
    etas = sample_etas(model, n_individuals, rng)
    kappas = sample_kappas(model, n_individuals, rng) if inter_occasion_variability else None
    params = individual_parameters(model, resolved, etas, kappas=kappas, dose_times_h=dose_times_h)
    return params, etas


def _add_residual(
    model: PopPKModel, predictions: FloatArray, rng: np.random.Generator
) -> FloatArray:
    error = model.residual_error
    multiplier: FloatArray | float = 1.0
    if error.eta_on_residual_sd:
        eta_res = error.eta_on_residual_sd * rng.standard_normal((predictions.shape[0], 1))
        multiplier = np.exp(eta_res)
    return error.add_noise(predictions, rng, sd_multiplier=multiplier)


def _predict_chunked(
    model: PopPKModel, params: PKParameters, doses: DoseHistory, times: FloatArray
) -> FloatArray:
    n = params.n_patients
    amounts = np.asarray(doses.amounts_mg, dtype=np.float64)
    if amounts.ndim == 2 and amounts.shape[0] not in (1, n):
        raise ValueError(
            f"dose amounts have {amounts.shape[0]} rows; expected 1 or n_individuals = {n}"
        )
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // max(1, times.size * doses.n_doses))
    if rows_per_chunk >= n:
        return np.asarray(predict_concentrations(model.structure, params, doses, times))
    out = np.empty((n, times.size))
    for start in range(0, n, rows_per_chunk):
        rows = slice(start, min(n, start + rows_per_chunk))
        chunk_doses = doses
        if amounts.ndim == 2 and amounts.shape[0] == n:
            chunk_doses = DoseHistory(times_h=doses.times_h, amounts_mg=amounts[rows])
        out[rows] = predict_concentrations(model.structure, params.take(rows), chunk_doses, times)
    return out


def simulate_population(
    model: PopPKModel,
    covariates: Mapping[str, Any] | ResolvedCovariates,
    doses: DoseHistory,
    times_h: ArrayLike,
    *,
    n_individuals: int,
    seed: int,
    residual_error: bool = True,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    inter_occasion_variability: bool = True,
) -> PopulationSimulation:
    """Monte Carlo concentration profiles: individuals drawn from the model's IIV (and IOV).

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping or ResolvedCovariates
        Scalars (one virtual patient simulated ``n_individuals`` times) or arrays of shape
        ``(n_individuals,)`` (a virtual population). A mapping goes through
        :func:`resolve_covariates`: documented ``when_missing`` values are applied and reported in
        ``covariate_warnings``, as are soft-domain excursions; hard-domain violations raise.
    doses : DoseHistory
        Dose times (h since the first dose of therapy; this is also the time used by
        time-varying parameters) and amounts (mg), shape ``(n_doses,)`` or
        ``(n_individuals, n_doses)``.
    times_h : array-like of shape (n_times,)
        Prediction times, h, same origin as the doses.
    n_individuals : int
        Number of simulated individuals (Monte Carlo draws).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same result.
    residual_error : bool, default=True
        Add residual error (observation prediction interval) or not (true concentrations).
    percentiles : sequence of float, default=(5, 25, 50, 75, 95)
        Pointwise percentiles to report, in [0, 100].
    inter_occasion_variability : bool, default=True
        For models with IOV, draw one kappa per individual (the simulated period is one new
        occasion), so intervals include IOV as for an a priori prediction of a new occasion.

    Returns
    -------
    PopulationSimulation

    Raises
    ------
    MissingCovariateError, ModelDomainError, CaseError
        From the covariate checks, or a parameter invalid for some drawn individual.
    ValueError
        Inconsistent sizes or invalid options.

    Notes
    -----
    Residual error follows :meth:`ResidualErrorModel.add_noise`: ``Y = F + W·ε`` with
    ``W = sd_mg_per_l(F)`` (combined: ``sqrt((prop·F)² + add²)``), and ``Y = F·exp(log_sd·ε)`` for
    log-additive error. With ``eta_on_residual_sd``, W is multiplied by ``exp(η_res)``,
    ``η_res ~ N(0, eta_on_residual_sd²)`` per individual. Negative simulated concentrations
    (additive or combined error near zero) are kept: censoring below a limit of quantification
    belongs to an observation model, not to this simulator.

    See Also
    --------
    simulate_typical : the typical individual (no random effects).
    simulate_steady_state_troughs : steady-state troughs of one regimen.
    """
    wanted = _check_percentiles(percentiles)
    times = _check_times(times_h)
    resolved = _resolve_for(model, covariates, n_individuals)
    rng = np.random.default_rng(seed)
    params, etas = _draw_individuals(
        model,
        resolved,
        n_individuals,
        rng,
        inter_occasion_variability=inter_occasion_variability,
        dose_times_h=doses.times_h if model.time_varying_parameters else None,
    )
    concentrations = _predict_chunked(model, params, doses, times)
    if residual_error:
        concentrations = _add_residual(model, concentrations, rng)
    return PopulationSimulation(
        model_id=model.id,
        seed=seed,
        n_individuals=n_individuals,
        times_h=times,
        concentrations_mg_per_l=concentrations,
        percentiles_mg_per_l={p: np.percentile(concentrations, p, axis=0) for p in wanted},
        residual_error=residual_error,
        inter_occasion_variability=inter_occasion_variability and model.iov is not None,
        etas=etas,
        covariate_warnings=resolved.warnings,
    )


def simulate_typical(
    model: PopPKModel,
    covariates: Mapping[str, Any] | ResolvedCovariates,
    doses: DoseHistory,
    times_h: ArrayLike,
) -> FloatArray:
    """Concentrations of the typical individual (every random effect 0, no residual error).

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping or ResolvedCovariates
        As for :func:`~imatinib_tdm.pk.typical_parameters`: a mapping must contain every
        covariate (use ``resolve_covariates`` to apply documented substitutions with warnings).
    doses : DoseHistory
        Dose times (h since the first dose of therapy) and amounts (mg).
    times_h : array-like of shape (n_times,)
        Prediction times, h.

    Returns
    -------
    ndarray of shape (n_patients, n_times)
        Concentrations in mg/L; ``n_patients`` is 1 for scalar covariates.
    """
    times = _check_times(times_h)
    params = typical_parameters(
        model,
        covariates,
        dose_times_h=doses.times_h if model.time_varying_parameters else None,
    )
    return np.asarray(predict_concentrations(model.structure, params, doses, times))


def simulate_steady_state_troughs(
    model: PopPKModel,
    covariates: Mapping[str, Any] | ResolvedCovariates,
    *,
    dose_mg: float,
    interval_h: float,
    n_individuals: int,
    seed: int,
    residual_error: bool = True,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    inter_occasion_variability: bool = True,
) -> SteadyStateTroughSimulation:
    """Steady-state troughs of simulated individuals on ``dose_mg`` every ``interval_h`` hours.

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping or ResolvedCovariates
        As for :func:`simulate_population`.
    dose_mg : float
        Dose per administration, mg (> 0).
    interval_h : float
        Dosing interval, h (> 0).
    n_individuals, seed, residual_error, percentiles, inter_occasion_variability
        As for :func:`simulate_population`.

    Returns
    -------
    SteadyStateTroughSimulation

    Raises
    ------
    ModelDefinitionError
        The model has time-varying parameters: its steady state is not defined; simulate a long
        dose history with :func:`simulate_population` instead.
    MissingCovariateError, ModelDomainError, CaseError, ValueError
        As for :func:`simulate_population`.
    """
    if model.time_varying_parameters:
        raise ModelDefinitionError(
            f"model {model.id!r} has time-varying {', '.join(model.time_varying_parameters)}, so "
            "it has no steady state; simulate a long dose history with simulate_population",
            model_id=model.id,
        )
    if not (np.isfinite(dose_mg) and dose_mg > 0 and np.isfinite(interval_h) and interval_h > 0):
        raise ValueError(f"dose_mg and interval_h must be > 0, got {dose_mg} mg, {interval_h} h")
    wanted = _check_percentiles(percentiles)
    resolved = _resolve_for(model, covariates, n_individuals)
    rng = np.random.default_rng(seed)
    params, etas = _draw_individuals(
        model,
        resolved,
        n_individuals,
        rng,
        inter_occasion_variability=inter_occasion_variability,
        dose_times_h=None,
    )
    troughs = np.asarray(
        predict_steady_state_trough(
            model.structure, params, dose_mg=float(dose_mg), interval_h=float(interval_h)
        ),
        dtype=np.float64,
    ).reshape(n_individuals)
    if residual_error:
        troughs = _add_residual(model, troughs.reshape(-1, 1), rng).reshape(n_individuals)
    return SteadyStateTroughSimulation(
        model_id=model.id,
        seed=seed,
        n_individuals=n_individuals,
        dose_mg=float(dose_mg),
        interval_h=float(interval_h),
        troughs_mg_per_l=troughs,
        percentiles_mg_per_l=dict(
            zip(wanted, sample_percentiles(troughs, wanted).tolist(), strict=True)
        ),
        residual_error=residual_error,
        inter_occasion_variability=inter_occasion_variability and model.iov is not None,
        etas=etas,
        covariate_warnings=resolved.warnings,
    )
