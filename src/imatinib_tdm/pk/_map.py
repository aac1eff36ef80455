"""Maximum a posteriori (MAP) estimation of individual random effects, batch-first.

The objective is NONMEM's individual -2 log posterior as used by its POSTHOC step (FOCE with
interaction), without the constant terms that do not depend on the random effects::

    OFV(η) = Σ_obs [ (y - f)² / v + log v ]  +  Σ_cens [ -2 log Φ((LLOQ - f) / √v) ]  +  ηᵀ Ω⁻¹ η

with ``f`` the individual prediction and ``v`` the residual variance evaluated at ``f``
(interaction). For a log-additive (log-transform-both-sides) model ``y``, ``f`` and the LLOQ
enter on the log scale. Censored observations (below the LLOQ) use the M3 likelihood. Random
effects are the model's ETAs, then its KAPPAs (inter-occasion variability, one occasion), then
the random effect on the residual magnitude where the model has one (Gotta 2014).

Optimisation: Newton steps on the exact objective with gradient and Hessian by central finite
differences (the evaluations of all trial points of all individuals form one vectorised call),
an eigenvalue floor keeping the Hessian positive definite, and a backtracking line search.
Several starting points run in parallel; when they end in different modes the best is kept
and the result says the posterior is multimodal.

The work is split by stage; this module owns the result (:class:`MapResult`,
:func:`estimate_map`, :func:`summarise`) and re-exports the others, so that every name stays
importable from here:

* :mod:`._map_problem`: :class:`MapProblem`, :func:`prepare_map_problem` (checks, engine choice,
  data arrangement);
* :mod:`._map_objective`: :func:`objective`, :func:`predict_observations`, parameters at trial
  points;
* :mod:`._map_optimise`: finite differences, Newton direction, line search.

This module must not import case, tdm, report, store or service.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import EstimationError
from imatinib_tdm.pk._events import EventTable
from imatinib_tdm.pk._model import DomainWarning, PopPKModel
from imatinib_tdm.pk._structures import PKParameters

# Re-exports: every name defined here before the split stays importable from here (the
# redundant aliases mark explicit re-exports for mypy and ruff).
# isort: off
from imatinib_tdm.pk._map_problem import (
    BoolArray as BoolArray,
    FloatArray as FloatArray,
    MapProblem as MapProblem,
    prepare_map_problem as prepare_map_problem,
    _dose_matrix as _dose_matrix,
    _first_known as _first_known,
    _last_known as _last_known,
    _observations as _observations,
    _RESIDUAL_ETA as _RESIDUAL_ETA,
)
from imatinib_tdm.pk._map_objective import (
    objective as objective,
    predict_observations as predict_observations,
    _CHUNK_ELEMENTS as _CHUNK_ELEMENTS,
    _flat as _flat,
    _grouped_parameters as _grouped_parameters,
    _MAX_EFFECT_SD as _MAX_EFFECT_SD,
    _NON_NEGATIVE as _NON_NEGATIVE,
    _objective_from_predictions as _objective_from_predictions,
    _objective_grouped as _objective_grouped,
    _PARAMETER_FIELDS as _PARAMETER_FIELDS,
    _parameters as _parameters,
    _per_row as _per_row,
    _predict_flat as _predict_flat,
    _predict_grouped as _predict_grouped,
    _predict_records as _predict_records,
    _Prepared as _Prepared,
    _prepared as _prepared,
    _record_parameters as _record_parameters,
    _subset as _subset,
    _trial_parameters as _trial_parameters,
)
from imatinib_tdm.pk._map_optimise import (
    _DECREMENT_FLOOR as _DECREMENT_FLOOR,
    _derivatives as _derivatives,
    _EIGEN_FLOOR as _EIGEN_FLOOR,
    _fd_design as _fd_design,
    _FD_DESIGNS as _FD_DESIGNS,
    _fd_points as _fd_points,
    _FD_STEP as _FD_STEP,
    _MAX_STEP_SD as _MAX_STEP_SD,
    _minimise as _minimise,
    _newton_direction as _newton_direction,
)
# isort: on

__all__ = ["MapProblem", "MapResult", "estimate_map", "objective", "prepare_map_problem"]


@dataclass(frozen=True, eq=False)
class MapResult:
    """MAP estimates for a batch of individuals (lmfit-style diagnostics included).

    Attributes
    ----------
    model_id : str
    ids : tuple of str
    effect_names : tuple of str
    etas : ndarray (n_patients, n_effects)
        Posterior modes, in ``effect_names`` order.
    ofv : ndarray (n_patients,)
        -2 log posterior at the mode, constants omitted (see module docstring).
    covariance : ndarray (n_patients, n_effects, n_effects)
        Laplace approximation: inverse of half the Hessian of the OFV at the mode.
    converged : bool ndarray (n_patients,)
    n_iterations : int ndarray (n_patients,)
    multimodal : bool ndarray (n_patients,)
        Starting points ended in modes with OFVs more than 0.1 apart, or at different etas.
    messages : tuple of str
        Per individual: "converged" or what went wrong.
    individual_parameters : PKParameters
        At the mode, one row per individual.
    predictions_mg_per_l : ndarray (n_patients, n_obs)
        Individual predictions at the observation times (nan for padding).
    n_evaluations : int
        Objective evaluations (trial points) over the whole batch.
    """

    model_id: str
    ids: tuple[str, ...]
    effect_names: tuple[str, ...]
    etas: FloatArray
    ofv: FloatArray
    covariance: FloatArray
    converged: BoolArray
    n_iterations: NDArray[np.int64]
    multimodal: BoolArray
    messages: tuple[str, ...]
    individual_parameters: PKParameters
    predictions_mg_per_l: FloatArray
    n_evaluations: int
    warnings: tuple[DomainWarning, ...] = field(default=())


def estimate_map(
    model: PopPKModel | MapProblem,
    table: EventTable | None = None,
    *,
    n_starts: int = 3,
    max_iterations: int = 100,
    tolerance: float = 1e-8,
) -> MapResult:
    """MAP estimates of the random effects of every individual of an event table, in one batch.

    Parameters
    ----------
    model : PopPKModel or MapProblem
        A model (then ``table`` is required) or an already prepared problem.
    table : EventTable, optional
        Doses and observations (mg/L) of the individuals.
    n_starts : int, default 3
        Starting points per individual: the typical individual (η = 0), then ±1.5 prior SDs on
        every effect. More starts cost proportionally more and detect multimodality.
    max_iterations : int, default 100
    tolerance : float, default 1e-8
        Convergence when the largest Newton step component is below this.

    Returns
    -------
    MapResult
        An individual with no observation gets the typical values (η = 0), which is its MAP.

    Raises
    ------
    EstimationError
        The data cannot be used (see :func:`prepare_map_problem`).

    Notes
    -----
    Agreement with NONMEM's POSTHOC estimates requires the same model, data and record semantics;
    the objective here is NONMEM's FOCE-I individual objective (see module docstring).
    """
    problem = model if isinstance(model, MapProblem) else None
    if problem is None:
        if table is None:
            raise EstimationError("estimate_map needs an event table with the model")
        assert isinstance(model, PopPKModel)
        problem = prepare_map_problem(model, table)
    n_p, k = problem.n_patients, problem.n_effects
    sd = np.sqrt(np.diag(problem.omega))
    starts = [np.zeros(k)]
    for sign in (1.0, -1.0):
        if len(starts) < n_starts:
            starts.append(sign * 1.5 * sd)
    n_s = len(starts)
    rows = np.repeat(np.arange(n_p), n_s)
    start = np.tile(np.array(starts), (n_p, 1))
    if k == 0:
        etas = np.zeros((n_p, 0))
        ofv = objective(problem, etas)
        return _result(
            problem,
            etas,
            ofv,
            np.ones(n_p, bool),
            np.zeros(n_p, np.int64),
            np.zeros(n_p, bool),
            n_p,
        )
    effects, ofv, converged, iterations, evaluations, hessians = _minimise(
        problem, start, rows, max_iterations=max_iterations, tolerance=tolerance
    )
    hessians = hessians.reshape(n_p, n_s, k, k)
    effects = effects.reshape(n_p, n_s, k)
    ofv = ofv.reshape(n_p, n_s)
    converged = converged.reshape(n_p, n_s)
    iterations = iterations.reshape(n_p, n_s)
    ofv_ranked = np.where(converged, ofv, np.inf)
    best = np.argmin(np.where(np.isfinite(ofv_ranked), ofv_ranked, ofv), axis=1)
    pick = np.arange(n_p)
    etas = effects[pick, best]
    spread_ofv = np.where(converged, ofv, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ofv_gap = np.nanmax(spread_ofv, axis=1) - np.nanmin(spread_ofv, axis=1)
    eta_gap = np.max(np.abs(effects - etas[:, None, :]) * converged[:, :, None], axis=(1, 2))
    multimodal = (np.nan_to_num(ofv_gap) > 0.1) | (
        (eta_gap > 1e-3) & (np.nan_to_num(ofv_gap) > 1e-6)
    )
    return _result(
        problem,
        etas,
        ofv[pick, best],
        converged[pick, best],
        iterations[pick, best],
        multimodal,
        evaluations,
        hessians[pick, best],
    )


def _result(
    problem: MapProblem,
    etas: FloatArray,
    ofv: FloatArray,
    converged: NDArray[np.bool_],
    iterations: NDArray[np.int64],
    multimodal: NDArray[np.bool_],
    evaluations: int,
    hess: FloatArray | None = None,
) -> MapResult:
    n_p, k = etas.shape
    rows = np.arange(n_p)
    covariance = np.full((n_p, k, k), np.nan)
    if k:
        if hess is None:
            _, _, hess = _derivatives(problem, etas, rows)
        ok = np.all(np.isfinite(hess), axis=(1, 2))
        if np.any(ok):
            w, v = np.linalg.eigh(hess[ok])
            positive = np.all(w > 0, axis=1)
            inv = np.einsum("nij,nj,nkj->nik", v, 2.0 / np.where(w > 0, w, np.nan), v)
            block = covariance[ok]
            block[positive] = inv[positive]
            covariance[ok] = block
    messages = []
    for p in range(n_p):
        if not np.isfinite(ofv[p]):
            messages.append("the objective is not finite: the model predicts 0 for an observation")
        elif not converged[p]:
            messages.append(f"did not converge in {int(iterations[p])} iterations")
        elif multimodal[p]:
            messages.append("converged; the posterior is multimodal (best mode kept)")
        elif not np.all(np.isfinite(covariance[p])):
            messages.append("converged; the Hessian is not positive definite at the mode")
        else:
            messages.append("converged")
    params = _parameters(problem, etas, rows)
    predictions = np.where(
        problem.observed | problem.censored, predict_observations(problem, etas, rows), np.nan
    )
    return MapResult(
        model_id=problem.model.id,
        ids=problem.ids,
        effect_names=problem.effect_names,
        etas=etas,
        ofv=ofv,
        covariance=covariance,
        converged=converged,
        n_iterations=iterations,
        multimodal=multimodal,
        messages=tuple(messages),
        individual_parameters=params,
        predictions_mg_per_l=predictions,
        n_evaluations=evaluations,
        warnings=problem.warnings,
    )


def summarise(result: MapResult) -> list[dict[str, Any]]:
    """A JSON-ready summary per individual (etas by name, OFV, diagnostics)."""
    out: list[dict[str, Any]] = []
    for p, pid in enumerate(result.ids):
        out.append(
            {
                "id": pid,
                "etas": dict(zip(result.effect_names, result.etas[p].tolist(), strict=True)),
                "ofv": float(result.ofv[p]),
                "converged": bool(result.converged[p]),
                "multimodal": bool(result.multimodal[p]),
                "n_iterations": int(result.n_iterations[p]),
                "message": result.messages[p],
            }
        )
    return out
