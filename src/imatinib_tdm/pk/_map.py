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

This module must not import case, tdm, report, store or service.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from imatinib_tdm.errors import EstimationError
from imatinib_tdm.pk._closed_form import predict_concentrations
from imatinib_tdm.pk._covariates import resolve_covariates
from imatinib_tdm.pk._dose_matrix import (
    DoseMatrix,
    predict_dose_matrix,
    predict_oral_doses,
)
from imatinib_tdm.pk._event_engine import RecordParameters, predict_event_table
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk._expression import Expression, evaluate_expression
from imatinib_tdm.pk._individual import individual_parameters
from imatinib_tdm.pk._model import DomainWarning, PopPKModel, ResolvedCovariates
from imatinib_tdm.pk._structures import Absorption, DoseHistory, PKParameters

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = ["MapProblem", "MapResult", "estimate_map", "objective", "prepare_map_problem"]

_FD_STEP = 1e-4
_EIGEN_FLOOR = 1e-3
_MAX_STEP_SD = 2.0
_DECREMENT_FLOOR = 1e-12
# Trial points beyond this many prior SDs get an infinite objective (their parameters could
# overflow; no posterior mode lies there).
_MAX_EFFECT_SD = 8.0
# Largest rows x doses x observations block evaluated at once (memory, not accuracy).
_CHUNK_ELEMENTS = 2_000_000
_RESIDUAL_ETA = "ETA_RESIDUAL"


@dataclass(frozen=True, eq=False)
class MapProblem:
    """Everything the objective needs for a batch of individuals (see :func:`prepare_map_problem`).

    Attributes
    ----------
    model : PopPKModel
    ids : tuple of str
    effect_names : tuple of str
        Random effects estimated, in order: ETAs, KAPPAs, then ETA_RESIDUAL if any.
    omega : ndarray (n_effects, n_effects)
        Prior covariance of the random effects.
    covariates : ResolvedCovariates
        One value per individual for every model covariate.
    doses : DoseMatrix
    obs_times_h, dv_mg_per_l, lloq_mg_per_l : ndarray (n_patients, n_obs)
    observed, censored : bool ndarray (n_patients, n_obs)
        Uncensored and censored observations (padding is neither).
    warnings : tuple of DomainWarning
    precision : ndarray (n_effects, n_effects)
        Inverse of ``omega``.
    theta_env : mapping of theta name to its value (for expression evaluation)
    record_table : EventTable or None
        Set when the record-by-record engine is needed (SS records, time-varying covariates,
        several occasions with IOV); predictions then come from it.
    record_covariates : mapping name -> ndarray (n_patients, n_records), or None
    obs_record_index : int ndarray (n_patients, n_obs)
        Record index of each observation column.
    """

    model: PopPKModel
    ids: tuple[str, ...]
    effect_names: tuple[str, ...]
    omega: FloatArray
    covariates: ResolvedCovariates
    doses: DoseMatrix
    obs_times_h: FloatArray
    dv_mg_per_l: FloatArray
    lloq_mg_per_l: FloatArray
    observed: BoolArray
    censored: BoolArray
    warnings: tuple[DomainWarning, ...] = ()
    precision: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    theta_env: Mapping[str, float] = field(default_factory=dict)
    record_table: EventTable | None = None
    record_covariates: Mapping[str, FloatArray] | None = None
    obs_record_index: NDArray[np.intp] = field(default_factory=lambda: np.zeros((0, 0), np.intp))
    # work that depends on the problem only, done once on first use (see _prepared)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_patients(self) -> int:
        """Number of individuals."""
        return len(self.ids)

    @property
    def n_effects(self) -> int:
        """Number of random effects per individual."""
        return len(self.effect_names)


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


def prepare_map_problem(
    model: PopPKModel, table: EventTable, *, engine: str = "auto"
) -> MapProblem:
    """Check an event table against a model and arrange it for :func:`objective`.

    Individuals whose parameters are constant over their records (the usual TDM case) are
    predicted by direct superposition; steady-state (SS) dose records, covariates that change
    within an individual, or several occasions of a model with inter-occasion variability
    switch the whole batch to the record-by-record engine (:mod:`._event_engine`), with one set
    of KAPPAs per occasion.

    Raises
    ------
    EstimationError
        An observation with no dose before it; transit-absorption models with time-varying
        parameters or SS records (not supported by the record-by-record engine).
    MissingCovariateError, ModelDomainError
        From the model's covariate checks (on every record when covariates vary).

    Notes
    -----
    ``engine="records"`` forces the record-by-record engine even when superposition would do
    (both give the same predictions; used to cross-check them).
    """
    n_p = table.n_patients
    is_dose = table.kind == RecordKind.DOSE
    is_obs = table.kind == RecordKind.OBSERVATION
    real = table.kind != RecordKind.PAD
    names_checked = model.covariate_names + tuple(getattr(model, "applicability_names", ()))
    present = [name for name in names_checked if name in table.covariates]
    varying = any(
        np.nanmax(
            np.abs(table.covariates[name] - _last_known(table.covariates[name], real)), initial=0.0
        )
        > 0.0
        for name in present
        if name in model.covariate_names
    )
    n_occasions = int(table.occasion[real].max(initial=0)) + 1
    has_ss = bool(np.any(table.steady_state[is_dose] != 0))
    if engine not in ("auto", "records"):
        raise ValueError(f"engine must be 'auto' or 'records', got {engine!r}")
    use_records = (
        engine == "records" or has_ss or varying or (model.iov is not None and n_occasions > 1)
    )
    if use_records and model.structure.absorption is Absorption.TRANSIT:
        raise EstimationError(
            f"model {model.id} has transit absorption: steady-state records, time-varying "
            "covariates and several occasions are not supported for transit models"
        )
    if use_records and model.time_varying_parameters:
        raise EstimationError(
            f"model {model.id} has parameters that change with time on therapy; steady-state "
            "records and time-varying covariates are not supported with it"
        )
    # current covariates (last record) describe the individual for steady-state predictions
    current = {name: _last_known(table.covariates[name], real)[:, 0] for name in present}
    resolved = resolve_covariates(model, current)
    warnings_: tuple[DomainWarning, ...] = resolved.warnings
    record_covariates: dict[str, FloatArray] | None = None
    if use_records:
        flat = {name: table.covariates[name][real] for name in present}
        per_record = resolve_covariates(model, flat)  # domain checks on every record
        record_covariates = {}
        for name, values in per_record.values.items():
            full = np.full(table.time_h.shape, np.nan)
            full[real] = values
            # padding records repeat the individual's last value (they predict nothing)
            record_covariates[name] = np.where(real, full, _last_known(full, real))
        warnings_ = per_record.warnings
    doses = _dose_matrix(table, is_dose)
    obs_times, dv, lloq, observed, censored, obs_index = _observations(table, is_obs)
    first_dose = np.where(doses.amounts_mg > 0, doses.times_h, np.inf).min(axis=1)
    early = [
        table.ids[p]
        for p in range(n_p)
        if np.any((observed[p] | censored[p]) & (obs_times[p] < first_dose[p]))
    ]
    if early:
        raise EstimationError(
            f"individual(s) {', '.join(early[:10])} have an observation before their first dose"
        )
    names = list(model.eta_names)
    blocks = [model.etas.omega]
    if model.iov is not None:
        n_occ = n_occasions if use_records else 1
        for occasion in range(n_occ):
            suffix = f"_OCC{occasion + 1}" if use_records else ""
            names += [f"{kappa}{suffix}" for kappa in model.kappa_names]
            blocks.append(model.iov.omega)
    if model.residual_error.eta_on_residual_sd:
        names.append(_RESIDUAL_ETA)
        blocks.append(np.array([[model.residual_error.eta_on_residual_sd**2]]))
    size = len(names)
    omega = np.zeros((size, size))
    start = 0
    for block in blocks:
        k = block.shape[0]
        omega[start : start + k, start : start + k] = block
        start += k
    return MapProblem(
        model=model,
        ids=table.ids,
        effect_names=tuple(names),
        omega=omega,
        covariates=resolved,
        doses=doses,
        obs_times_h=obs_times,
        dv_mg_per_l=dv,
        lloq_mg_per_l=lloq,
        observed=observed,
        censored=censored,
        warnings=warnings_,
        precision=np.asarray(np.linalg.inv(omega), dtype=np.float64) if size else np.zeros((0, 0)),
        theta_env={t.name: t.value for t in model.thetas},
        record_table=table if use_records else None,
        record_covariates=record_covariates,
        obs_record_index=obs_index,
    )


def _last_known(values: FloatArray, real: BoolArray) -> FloatArray:
    """Each individual's last known value on a real record, shape ``(n_patients, 1)``."""
    out = np.full((values.shape[0], 1), np.nan)
    for p in range(values.shape[0]):
        known = values[p][real[p] & np.isfinite(values[p])]
        if known.size:
            out[p, 0] = known[-1]
    return out


def _first_known(values: FloatArray, real: BoolArray) -> float:
    known = values[real & np.isfinite(values)]
    return float(known[0]) if known.size else float("nan")


def _dose_matrix(table: EventTable, is_dose: BoolArray) -> DoseMatrix:
    n_p = table.n_patients
    n_d = max(int(is_dose.sum(axis=1).max(initial=0)), 1)
    times = np.zeros((n_p, n_d))
    amounts = np.zeros((n_p, n_d))
    route = np.zeros((n_p, n_d), dtype=np.int64)
    rate = np.zeros((n_p, n_d))
    for p in range(n_p):
        idx = np.flatnonzero(is_dose[p])
        times[p, : idx.size] = table.time_h[p, idx]
        amounts[p, : idx.size] = table.amount_mg[p, idx]
        route[p, : idx.size] = table.route[p, idx]
        rate[p, : idx.size] = table.rate_mg_per_h[p, idx]
    return DoseMatrix(times, amounts, route, rate)


def _observations(
    table: EventTable, is_obs: BoolArray
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray, BoolArray, NDArray[np.intp]]:
    n_p = table.n_patients
    n_o = max(int(is_obs.sum(axis=1).max(initial=0)), 1)
    times = np.zeros((n_p, n_o))
    dv = np.full((n_p, n_o), np.nan)
    lloq = np.full((n_p, n_o), np.nan)
    observed = np.zeros((n_p, n_o), dtype=bool)
    censored = np.zeros((n_p, n_o), dtype=bool)
    index = np.zeros((n_p, n_o), dtype=np.intp)
    for p in range(n_p):
        idx = np.flatnonzero(is_obs[p])
        k = idx.size
        index[p, :k] = idx
        times[p, :k] = table.time_h[p, idx]
        cens = table.censored[p, idx]
        dv[p, :k] = np.where(cens, np.nan, table.dv_mg_per_l[p, idx])
        lloq[p, :k] = table.lloq_mg_per_l[p, idx]
        observed[p, :k] = ~cens
        censored[p, :k] = cens
    bad = observed & ~(np.isfinite(dv) & (dv > 0))
    if np.any(bad):
        rows = [table.ids[p] for p in np.flatnonzero(bad.any(axis=1))[:10]]
        raise EstimationError(
            f"individual(s) {', '.join(rows)}: an uncensored observation is missing, zero or "
            "negative; a level below the LLOQ must be marked censored (BLQ) with its LLOQ"
        )
    bad_lloq = censored & ~(np.isfinite(lloq) & (lloq > 0))
    if np.any(bad_lloq):
        rows = [table.ids[p] for p in np.flatnonzero(bad_lloq.any(axis=1))[:10]]
        raise EstimationError(
            f"individual(s) {', '.join(rows)}: a censored observation has no positive LLOQ"
        )
    return times, dv, lloq, observed, censored, index


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
    )
    problem._cache["prepared"] = prepared
    return prepared


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
    if prep.oral_only:
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


def _fd_points(k: int, h: float) -> FloatArray:
    """Offsets for value, gradient and Hessian by central differences: 1 + 2k + k(k-1) points."""
    points = [np.zeros(k)]
    for i in range(k):
        for sign in (1.0, -1.0):
            e = np.zeros(k)
            e[i] = sign * h
            points.append(e)
    for i in range(k):
        for j in range(i + 1, k):
            for sign in (1.0, -1.0):
                e = np.zeros(k)
                e[i] = e[j] = sign * h
                points.append(e)
    return np.array(points)


_FD_DESIGNS: dict[tuple[int, float], tuple[FloatArray, NDArray[np.intp], NDArray[np.intp]]] = {}


def _fd_design(k: int, h: float) -> tuple[FloatArray, NDArray[np.intp], NDArray[np.intp]]:
    """:func:`_fd_points` and the (i, j) index of each pair of effects (i < j), cached."""
    key = (k, h)
    design = _FD_DESIGNS.get(key)
    if design is None:
        upper_i, upper_j = np.triu_indices(k, 1)
        design = (_fd_points(k, h), upper_i.astype(np.intp), upper_j.astype(np.intp))
        _FD_DESIGNS[key] = design
    return design


def _derivatives(
    problem: MapProblem, effects: FloatArray, rows: NDArray[np.intp], h: float = _FD_STEP
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """OFV, gradient and Hessian at each row, by central differences in one batched call."""
    n, k = effects.shape
    offsets, pair_i, pair_j = _fd_design(k, h)
    values = _objective_grouped(problem, effects[:, None, :] + offsets[None, :, :], rows)
    f0 = values[:, 0]
    plus = values[:, 1 : 1 + 2 * k : 2]
    minus = values[:, 2 : 2 + 2 * k : 2]
    grad = (plus - minus) / (2.0 * h)
    hess = np.zeros((n, k, k))
    diag = (plus + minus - 2.0 * f0[:, None]) / (h * h)
    diagonal = np.arange(k)
    hess[:, diagonal, diagonal] = diag
    if pair_i.size:
        fpp = values[:, 1 + 2 * k :: 2]
        fmm = values[:, 2 + 2 * k :: 2]
        # f(+i+j) + f(-i-j) = 2 f0 + h²(H_ii + 2 H_ij + H_jj)
        value = (fpp + fmm - 2.0 * f0[:, None]) / (h * h) - (diag[:, pair_i] + diag[:, pair_j])
        hess[:, pair_i, pair_j] = hess[:, pair_j, pair_i] = 0.5 * value
    return f0, grad, hess


def _newton_direction(
    grad: FloatArray, hess: FloatArray, precision: FloatArray, prior_curvature: float
) -> FloatArray:
    """Newton direction on |H| (negative curvature turned into descent), floored and capped.

    The floor is a small fraction of the prior's curvature, and a step never exceeds
    ``_MAX_STEP_SD`` prior standard deviations (Mahalanobis), so that a poor start cannot jump to
    absurd random effects.
    """
    w, v = np.linalg.eigh(hess)
    w = np.maximum(np.abs(w), _EIGEN_FLOOR * prior_curvature)
    step = -np.einsum("nij,nj,nkj,nk->ni", v, 1.0 / w, v, grad)
    length = np.sqrt(np.einsum("ni,ij,nj->n", step, precision, step))
    factor = np.minimum(1.0, _MAX_STEP_SD / np.maximum(length, 1e-300))
    return np.asarray(step * factor[:, None], dtype=np.float64)


def _minimise(
    problem: MapProblem,
    start: FloatArray,
    rows: NDArray[np.intp],
    *,
    max_iterations: int,
    tolerance: float,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], NDArray[np.int64], int, FloatArray]:
    """Damped Newton from each start; returns (x, ofv, converged, iterations, evaluations, H).

    Derivatives are evaluated at the full Newton step directly: when the step is accepted
    (Armijo condition) they serve the next iteration, so an accepted step costs one batched
    call. Rejected steps backtrack on the objective alone.

    The state of the starts still running is kept in compact arrays (``live`` holds their row
    numbers); a start leaves them, its final state written to the outputs, when it converges or
    can no longer descend.
    """
    x = start.copy()
    n, k = x.shape
    precision = problem.precision
    curvature = _prepared(problem).prior_curvature
    per_point = 1 + k + k * k
    f, g, h = _derivatives(problem, x, rows)
    evaluations = n * per_point
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    # a start where the model cannot predict an observation is not pursued
    start_ok = np.isfinite(f) & np.all(np.isfinite(g), axis=1)
    if start_ok.all():
        live = np.arange(n)
        xa, fa, ga, ha, ra = x.copy(), f.copy(), g, h.copy(), rows
    else:
        live = np.flatnonzero(start_ok)
        xa, fa, ga, ha, ra = x[live], f[live], g[live], h[live], rows[live]
    for _ in range(max_iterations):
        if live.size == 0:
            break
        direction = _newton_direction(ga, ha, precision, curvature)
        # Newton decrement: the predicted decrease of the OFV; below the rounding level of the
        # OFV no step can be verified by the line search, so the point is the mode.
        decrement = -np.einsum("ni,ni->n", ga, direction)
        done = (np.max(np.abs(direction), axis=1) < tolerance) | (
            decrement < _DECREMENT_FLOOR * np.maximum(1.0, np.abs(fa))
        )
        if done.any():
            finished = live[done]
            converged[finished] = True
            x[finished], f[finished], h[finished] = xa[done], fa[done], ha[done]
            keep = ~done
            live, xa, fa, ga, ha, ra = live[keep], xa[keep], fa[keep], ga[keep], ha[keep], ra[keep]
            direction, decrement = direction[keep], decrement[keep]
            if live.size == 0:
                break
        iterations[live] += 1
        slope = -decrement
        trial = xa + direction
        ft, gt, ht = _derivatives(problem, trial, ra)
        evaluations += live.size * per_point
        finite = np.isfinite(ft) & np.all(np.isfinite(gt), axis=1)
        finite &= np.all(np.isfinite(ht), axis=(1, 2))
        good = finite & (ft <= fa + 1e-4 * slope)
        if good.all():
            xa, fa, ga, ha = trial, ft, gt, ht
            continue
        xa[good], fa[good], ga[good], ha[good] = trial[good], ft[good], gt[good], ht[good]
        bad = np.flatnonzero(~good)
        step = np.full(bad.size, 0.5)
        d_bad, s_bad = direction[bad], slope[bad]
        accepted = np.zeros(bad.size, dtype=bool)
        for _ in range(30):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            value = objective(
                problem, xa[bad[todo]] + step[todo, None] * d_bad[todo], ra[bad[todo]]
            )
            evaluations += todo.size
            fine = value <= fa[bad[todo]] + 1e-4 * step[todo] * s_bad[todo]
            accepted[todo[fine]] = True
            step[todo[~fine]] *= 0.5
        moved = bad[accepted]
        if moved.size:
            xa[moved] += step[accepted, None] * d_bad[accepted]
            fm, gm, hm = _derivatives(problem, xa[moved], ra[moved])
            evaluations += moved.size * per_point
            fa[moved], ga[moved], ha[moved] = fm, gm, hm
        # no descent along the Newton direction: stationary to the precision available
        stuck = bad[~accepted]
        if stuck.size:
            finished = live[stuck]
            converged[finished] = np.max(np.abs(d_bad[~accepted]), axis=1) < 1e3 * tolerance
            x[finished], f[finished], h[finished] = xa[stuck], fa[stuck], ha[stuck]
            keep = np.ones(live.size, dtype=bool)
            keep[stuck] = False
            live, xa, fa, ga, ha, ra = live[keep], xa[keep], fa[keep], ga[keep], ha[keep], ra[keep]
    x[live], f[live], h[live] = xa, fa, ha
    return x, f, converged, iterations, evaluations, h


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
