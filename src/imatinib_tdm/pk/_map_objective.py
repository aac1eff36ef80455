"""MAP estimation, part 2: the objective and the individual predictions it is built on.

Owns :func:`objective` (NONMEM's individual -2 log posterior, constants omitted; the formula is
in the docstring of :mod:`imatinib_tdm.pk._map`), :func:`predict_observations`, the individual
parameters at trial points (valid/invalid rows instead of exceptions), and the per-problem
constants computed once and cached on the problem (:func:`_prepared`). Re-exported by
:mod:`imatinib_tdm.pk._map`.

This module must not import case, tdm, report, store or service.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from imatinib_tdm.pk._closed_form import predict_concentrations
from imatinib_tdm.pk._dose_matrix import predict_dose_matrix, predict_oral_doses
from imatinib_tdm.pk._dose_runs import DoseRuns, dose_runs, predict_oral_runs_one_compartment
from imatinib_tdm.pk._event_engine import RecordParameters, predict_event_table
from imatinib_tdm.pk._events import RecordKind, Route
from imatinib_tdm.pk._expression import Expression, evaluate_expression
from imatinib_tdm.pk._individual import individual_parameters
from imatinib_tdm.pk._map_problem import _RESIDUAL_ETA, BoolArray, FloatArray, MapProblem
from imatinib_tdm.pk._model import ResolvedCovariates
from imatinib_tdm.pk._structures import Absorption, DoseHistory, PKParameters

__all__ = ["objective", "predict_observations"]

# Trial points beyond this many prior SDs get an infinite objective (their parameters could
# overflow; no posterior mode lies there).
_MAX_EFFECT_SD = 8.0
# Largest rows x doses x observations block evaluated at once (memory, not accuracy).
_CHUNK_ELEMENTS = 2_000_000


def _subset(resolved: ResolvedCovariates, rows: NDArray[np.intp]) -> ResolvedCovariates:
    return ResolvedCovariates(
        model_id=resolved.model_id,
        n_patients=int(rows.size),
        values={k: v[rows] for k, v in resolved.values.items()},
        warnings=(),
    )


def _parameters(problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp]) -> PKParameters:
    """Individual parameters; with the record engine, those of each individual's last record."""
    model = problem.model
    if problem.record_table is not None:
        record_params, _ = _record_parameters(problem, effects, rows)
        real = problem.record_table.kind[rows] != RecordKind.PAD
        last = real.shape[1] - 1 - np.argmax(real[:, ::-1], axis=1)
        values = {}
        for f in dataclasses.fields(record_params):
            array = getattr(record_params, f.name)
            values[f.name] = None if array is None else array[np.arange(rows.size), last]
        return PKParameters(**values)  # type: ignore[arg-type]
    prep = _prepared(problem)
    if prep.fast:
        # the expressions evaluated as individual_parameters does, without its checks when
        # every parameter is valid (the usual case at a mode); otherwise it reports the error
        at_mode, valid = _grouped_parameters(problem, prep, effects[:, None, :], rows)
        if valid is None:
            n = rows.size
            full = {
                name: (_flat(at_mode[name], n, 1) if name in at_mode else None)
                for name in _PARAMETER_FIELDS
            }
            return PKParameters(**full)  # type: ignore[arg-type]
    n_eta, n_kappa = len(model.eta_names), len(model.kappa_names)
    kappas = effects[:, n_eta : n_eta + n_kappa] if n_kappa else None
    dose_times = problem.doses.times_h[rows] if model.time_varying_parameters else None
    return individual_parameters(
        model,
        _subset(problem.covariates, rows),
        effects[:, :n_eta],
        kappas=kappas,
        dose_times_h=dose_times,
    )


_NON_NEGATIVE = ("tlag_h", "n_transit")
_PARAMETER_FIELDS = tuple(f.name for f in dataclasses.fields(PKParameters))


def _trial_parameters(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp]
) -> tuple[PKParameters, NDArray[np.bool_]]:
    """Parameters at trial points, and a mask of rows where they are valid.

    The optimiser's hot path: the model's expressions are evaluated directly (covariates were
    checked once in :func:`prepare_map_problem`), and an invalid parameter marks its row instead
    of raising, so that one wild trial point does not stop a batch.
    """
    model = problem.model
    if model.time_varying_parameters:
        return _parameters(problem, effects, rows), np.ones(rows.size, dtype=bool)
    env: dict[str, FloatArray] = {k: v[rows] for k, v in problem.covariates.values.items()}
    env.update({name: np.full(rows.size, value) for name, value in problem.theta_env.items()})
    for i, name in enumerate(problem.effect_names):
        env[name] = effects[:, i]
    values: dict[str, FloatArray] = {}
    valid = np.ones(rows.size, dtype=bool)
    for name, expr in model.parameters:
        result = np.broadcast_to(evaluate_expression(expr, env), (rows.size,)).astype(np.float64)
        ok = np.isfinite(result) & ((result >= 0) if name in _NON_NEGATIVE else (result > 0))
        valid &= ok
        values[name] = result
    for name in values:
        values[name] = np.where(valid, values[name], 1.0)  # placeholder, row is discarded
    full: dict[str, FloatArray | None] = {f: values.get(f) for f in _PARAMETER_FIELDS}
    if full["bioavailability_frac"] is None:
        full["bioavailability_frac"] = np.ones(rows.size)
    return PKParameters(**full), valid  # type: ignore[arg-type]


def _record_parameters(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp]
) -> tuple[RecordParameters, NDArray[np.bool_]]:
    """Parameters at every record (covariates and occasion KAPPAs of that record)."""
    model = problem.model
    table = problem.record_table
    assert table is not None and problem.record_covariates is not None
    m, n_r = rows.size, table.n_records
    env: dict[str, FloatArray] = {k: v[rows] for k, v in problem.record_covariates.items()}
    env.update({name: np.full((m, 1), value) for name, value in problem.theta_env.items()})
    n_eta, n_kappa = len(model.eta_names), len(model.kappa_names)
    for i, name in enumerate(model.eta_names):
        env[name] = effects[:, i : i + 1]
    occasion = table.occasion[rows]
    for j, name in enumerate(model.kappa_names):
        env[name] = np.take_along_axis(effects, n_eta + occasion * n_kappa + j, axis=1)
    real = table.kind[rows] != RecordKind.PAD
    valid = np.ones(m, dtype=bool)
    values: dict[str, FloatArray] = {}
    for name, expr in model.parameters:
        result = np.broadcast_to(evaluate_expression(expr, env), (m, n_r)).astype(np.float64)
        ok = np.isfinite(result) & ((result >= 0) if name in _NON_NEGATIVE else (result > 0))
        valid &= np.all(ok | ~real, axis=1)
        values[name] = np.where(ok, result, 1.0)
    if "bioavailability_frac" not in values:
        values["bioavailability_frac"] = np.ones((m, n_r))
    return RecordParameters(**values), valid


def _predict_records(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp]
) -> FloatArray:
    table = problem.record_table
    assert table is not None
    params, valid = _record_parameters(problem, effects, rows)
    conc = predict_event_table(problem.model.structure, params, table.take(rows))
    pred = np.take_along_axis(conc, problem.obs_record_index[rows], axis=1)
    return np.where(valid[:, None], pred, np.nan)


def predict_observations(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp]
) -> FloatArray:
    """Individual predictions (mg/L) at the observation times, shape ``(n_rows, n_obs)``.

    ``effects`` has one row of random effects per requested row; ``rows`` says which individual
    each row belongs to (rows may repeat: trial points of the optimiser). Rows whose parameters
    are invalid (non-finite or non-positive) predict nan.
    """
    return _predict_grouped(problem, _prepared(problem), effects[:, None, :], rows)[:, 0, :]


def _predict_flat(problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp]) -> FloatArray:
    """The general path of :func:`predict_observations` (any structure, route or engine)."""
    if problem.record_table is not None:
        return _predict_records(problem, effects, rows)
    params, valid = _trial_parameters(problem, effects, rows)
    times = problem.obs_times_h[rows]
    if params.has_per_dose_values():
        # parameters that vary by dose (e.g. Eechoute 2012): one individual at a time
        out = np.zeros(times.shape)
        for i, p in enumerate(rows.tolist()):
            doses = DoseHistory(
                times_h=problem.doses.times_h[p], amounts_mg=problem.doses.amounts_mg[p]
            )
            out[i] = predict_concentrations(
                problem.model.structure, params.take(np.array([i])), doses, times[i]
            )[0]
        return out
    pred = predict_dose_matrix(problem.model.structure, params, problem.doses.take(rows), times)
    return np.where(valid[:, None], pred, np.nan)


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Per-problem constants of the objective, computed once (see :func:`_prepared`).

    ``fast`` is set when predictions come from superposition with parameters constant over time;
    then parameters that do not depend on the random effects are evaluated once per individual
    (``static_values``) and only the others (``dynamic``) at every trial point; with oral doses
    only, predictions use the dose-to-sample times computed once (``since``, ``amounts``).
    """

    bound: FloatArray
    prior_curvature: float
    residual_eta: bool
    y: FloatArray
    limit: FloatArray
    all_observed: bool
    any_censored: bool
    fast: bool
    static_values: dict[str, FloatArray]
    static_ok: BoolArray
    all_static_ok: bool
    dynamic: tuple[tuple[str, Expression, bool], ...]
    covariate_names: tuple[str, ...]
    effect_index: dict[str, int]
    oral_only: bool
    since: FloatArray
    amounts: FloatArray
    runs: DoseRuns | None = None


def _prepared(problem: MapProblem) -> _Prepared:
    cached = problem._cache.get("prepared")
    if isinstance(cached, _Prepared):
        return cached
    model = problem.model
    sd = np.sqrt(np.diag(problem.omega))
    precision = problem.precision
    curvature = float(np.linalg.eigvalsh(2.0 * precision).min()) if precision.size else 1.0
    error = model.residual_error
    with np.errstate(divide="ignore", invalid="ignore"):
        if error.is_log_scale:
            y, limit = np.log(problem.dv_mg_per_l), np.log(problem.lloq_mg_per_l)
        else:
            y, limit = problem.dv_mg_per_l, problem.lloq_mg_per_l
    fast = problem.record_table is None and not model.time_varying_parameters
    n_p = problem.n_patients
    static_values: dict[str, FloatArray] = {}
    static_ok = np.ones(n_p, dtype=bool)
    dynamic: list[tuple[str, Expression, bool]] = []
    covariate_names: set[str] = set()
    effects = set(problem.effect_names)
    if fast:
        env: dict[str, Any] = dict(problem.covariates.values)
        env.update(problem.theta_env)
        for name, expr in model.parameters:
            non_negative = name in _NON_NEGATIVE
            if expr.names & effects:
                dynamic.append((name, expr, non_negative))
                covariate_names |= expr.names & set(problem.covariates.values)
                continue
            value = np.broadcast_to(evaluate_expression(expr, env), (n_p,)).astype(np.float64)
            static_ok &= np.isfinite(value) & ((value >= 0) if non_negative else (value > 0))
            static_values[name] = value
        if "bioavailability_frac" not in dict(model.parameters):
            static_values["bioavailability_frac"] = np.ones(n_p)
    doses = problem.doses
    oral_only = fast and bool(np.all(doses.route == Route.ORAL))
    since = np.zeros((0, 0, 0))
    amounts = np.zeros((0, 0, 0))
    if oral_only:
        since = problem.obs_times_h[:, None, :] - doses.times_h[:, :, None]  # (n_p, n_d, n_o)
        amounts = doses.amounts_mg[:, :, None]
    runs = _regular_runs(problem, since, amounts) if oral_only else None
    prepared = _Prepared(
        bound=_MAX_EFFECT_SD * sd,
        prior_curvature=curvature,
        residual_eta=bool(problem.effect_names and problem.effect_names[-1] == _RESIDUAL_ETA),
        y=y,
        limit=limit,
        all_observed=bool(np.all(problem.observed)),
        any_censored=bool(np.any(problem.censored)),
        fast=fast,
        static_values=static_values,
        static_ok=static_ok,
        all_static_ok=bool(np.all(static_ok)),
        dynamic=tuple(dynamic),
        covariate_names=tuple(sorted(covariate_names)),
        effect_index={name: i for i, name in enumerate(problem.effect_names)},
        oral_only=oral_only,
        since=since,
        amounts=amounts,
        runs=runs,
    )
    problem._cache["prepared"] = prepared
    return prepared


def _regular_runs(problem: MapProblem, since: FloatArray, amounts: FloatArray) -> DoseRuns | None:
    """The doses as regular runs when the run sums apply and save work, else None.

    Only for one compartment, first-order absorption and no lag time (the closed form of
    :mod:`imatinib_tdm.pk._dose_runs`), and only when there are far fewer runs than doses.
    """
    model = problem.model
    structure = model.structure
    if (
        structure.n_compartments != 1
        or structure.absorption is not Absorption.FIRST_ORDER
        or any(name == "tlag_h" for name, _ in model.parameters)
        or since.shape[1] < 4
    ):
        return None
    runs = dose_runs(since, amounts)
    return runs if 2 * runs.amounts_mg.shape[1] <= since.shape[1] else None


def _per_row(values: NDArray[Any], pats: NDArray[np.intp], single: bool) -> NDArray[Any]:
    """Per-individual ``values`` for each row, with a new axis for the trial points."""
    return values[None] if single else values[pats][:, None]


def _grouped_parameters(
    problem: MapProblem, prep: _Prepared, effects: FloatArray, pats: NDArray[np.intp]
) -> tuple[dict[str, FloatArray], BoolArray | None]:
    """Parameters at trial points ``effects`` (m, P, k), broadcastable to (m, P); validity mask.

    The mask is None when every point is valid. Invalid points get placeholder values (their
    predictions are discarded), as in :func:`_trial_parameters`.
    """
    single = problem.n_patients == 1
    env: dict[str, Any] = {
        name: _per_row(problem.covariates.values[name], pats, single)
        for name in prep.covariate_names
    }
    env.update(problem.theta_env)
    for name, i in prep.effect_index.items():
        env[name] = effects[:, :, i]
    values = {name: _per_row(v, pats, single) for name, v in prep.static_values.items()}
    valid = None if prep.all_static_ok else _per_row(prep.static_ok, pats, single)
    for name, expr, non_negative in prep.dynamic:
        result = evaluate_expression(expr, env)
        ok = np.isfinite(result) & ((result >= 0) if non_negative else (result > 0))
        valid = ok if valid is None else valid & ok
        values[name] = result
    if valid is not None:
        if bool(valid.all()):
            valid = None
        else:
            values = {name: np.where(valid, v, 1.0) for name, v in values.items()}
    return values, valid


def _flat(value: FloatArray, m: int, n_points: int) -> FloatArray:
    """``value`` broadcastable to (m, n_points), as a flat array of m * n_points values."""
    if value.shape == (m, n_points):
        return value.reshape(-1)
    return np.repeat(np.broadcast_to(value, (m, 1)), n_points)


def _predict_grouped(
    problem: MapProblem, prep: _Prepared, effects: FloatArray, pats: NDArray[np.intp]
) -> FloatArray:
    """Predictions at trial points: ``effects`` (m, P, k) of individuals ``pats`` (m,).

    Returns (m, P, n_obs); nan where the parameters are invalid.
    """
    m, n_points, k = effects.shape
    n_obs = problem.obs_times_h.shape[1]
    if not prep.fast:
        rows = np.repeat(pats, n_points)
        flat = _predict_flat(problem, effects.reshape(m * n_points, k), rows)
        return flat.reshape(m, n_points, n_obs)
    values, valid = _grouped_parameters(problem, prep, effects, pats)
    model = problem.model
    if prep.runs is not None:
        pred = _predict_runs(problem, prep, prep.runs, values, valid, pats)
        pred = np.broadcast_to(pred, (m, n_points, n_obs))
    elif prep.oral_only:
        single = problem.n_patients == 1
        pred = predict_oral_doses(
            model.structure,
            values,
            _per_row(prep.amounts, pats, single),
            _per_row(prep.since, pats, single),
        )
        pred = np.broadcast_to(pred, (m, n_points, n_obs))
    else:
        rows = np.repeat(pats, n_points)
        full = {
            name: (_flat(values[name], m, n_points) if name in values else None)
            for name in _PARAMETER_FIELDS
        }
        params = PKParameters(**full)  # type: ignore[arg-type]
        pred = predict_dose_matrix(
            model.structure, params, problem.doses.take(rows), problem.obs_times_h[rows]
        ).reshape(m, n_points, n_obs)
    if valid is not None:
        pred = np.where(valid[..., None], pred, np.nan)
    return pred


def _predict_runs(
    problem: MapProblem,
    prep: _Prepared,
    runs: DoseRuns,
    values: dict[str, FloatArray],
    valid: BoolArray | None,
    pats: NDArray[np.intp],
) -> FloatArray:
    """Predictions (m, P, n_obs) by run sums; by superposition at points where they cancel."""
    single = problem.n_patients == 1
    pred, unreliable = predict_oral_runs_one_compartment(
        values["cl_l_per_h"],
        values["v_l"],
        values["bioavailability_frac"],
        values["ka_per_h"],
        _per_row(runs.amounts_mg, pats, single),
        _per_row(runs.since_last_h, pats, single),
        _per_row(runs.interval_h, pats, single),
        _per_row(runs.count, pats, single),
    )
    if valid is not None:
        unreliable = unreliable & valid
    if bool(np.any(unreliable)):
        exact = predict_oral_doses(
            problem.model.structure,
            values,
            _per_row(prep.amounts, pats, single),
            _per_row(prep.since, pats, single),
        )
        pred = np.where(unreliable[..., None], exact, pred)
    return pred


def objective(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp] | None = None
) -> FloatArray:
    """-2 log posterior (constants omitted) for each row of ``effects``; shape ``(n_rows,)``.

    Parameters
    ----------
    problem : MapProblem
    effects : ndarray (n_rows, n_effects)
    rows : int ndarray (n_rows,), optional
        Individual of each row; default ``arange(n_patients)``.
    """
    if rows is None:
        rows = np.arange(problem.n_patients)
    return _objective_grouped(problem, effects[:, None, :], rows)[:, 0]


def _objective_grouped(
    problem: MapProblem, effects: FloatArray, pats: NDArray[np.intp]
) -> FloatArray:
    """:func:`objective` at trial points ``effects`` (m, P, k) of individuals ``pats``; (m, P)."""
    m, n_points, _ = effects.shape
    per_row = n_points * problem.doses.times_h.shape[1] * problem.obs_times_h.shape[1]
    chunk = max(1, _CHUNK_ELEMENTS // max(per_row, 1))
    if m > chunk:  # bound the (rows, points, observations, doses) temporaries
        return np.concatenate(
            [
                _objective_grouped(problem, effects[i : i + chunk], pats[i : i + chunk])
                for i in range(0, m, chunk)
            ]
        )
    prep = _prepared(problem)
    bound = prep.bound
    far = np.any(np.abs(effects) > bound, axis=-1)
    any_far = bool(far.any())
    if any_far:
        effects = np.clip(effects, -bound, bound)
    pred = _predict_grouped(problem, prep, effects, pats)
    value = _objective_from_predictions(problem, prep, effects, pats, pred)
    return np.where(far, np.inf, value) if any_far else value


def _objective_from_predictions(
    problem: MapProblem,
    prep: _Prepared,
    effects: FloatArray,
    pats: NDArray[np.intp],
    pred: FloatArray,
) -> FloatArray:
    """OFV (m, P) from predictions (m, P, n_obs) at trial points ``effects`` (m, P, k)."""
    error = problem.model.residual_error
    single = problem.n_patients == 1
    y = _per_row(prep.y, pats, single)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f = np.log(pred) if error.is_log_scale else pred
        variance = error.sd_mg_per_l(pred) ** 2
        if prep.residual_eta:
            variance = variance * np.exp(2.0 * effects[..., -1])[..., None]
        residual = (y - f) ** 2 / variance + np.log(variance)
        if not prep.all_observed:
            residual = np.where(_per_row(problem.observed, pats, single), residual, 0.0)
        total = residual.sum(axis=-1)
        if prep.any_censored:
            censored = _per_row(problem.censored, pats, single)
            z = (_per_row(prep.limit, pats, single) - f) / np.sqrt(variance)
            total = total + np.where(censored, -2.0 * special.log_ndtr(z), 0.0).sum(axis=-1)
            # a censored sample without a usable prediction must not count as likely; for
            # observed samples nan/inf propagates into the total by itself
            ok = np.isfinite(f) & (variance > 0)
            total = np.where((censored & ~ok).any(axis=-1), np.inf, total)
    total = total + np.einsum("mpi,ij,mpj->mp", effects, problem.precision, effects)
    return np.where(np.isfinite(total), total, np.inf)
