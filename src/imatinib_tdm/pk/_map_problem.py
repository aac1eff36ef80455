"""MAP estimation, part 1: the problem (what the objective needs, checked and arranged once).

Owns :class:`MapProblem` and :func:`prepare_map_problem`: the checks of an event table against a
model, the choice between superposition and the record-by-record engine, the random effects
estimated and their prior covariance, and the arrangement of doses and observations as
``(n_patients, n_doses)`` and ``(n_patients, n_obs)`` arrays. Re-exported by
:mod:`imatinib_tdm.pk._map`, the entry point of MAP estimation.

This module must not import case, tdm, report, store or service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import EstimationError
from imatinib_tdm.pk._covariates import resolve_covariates
from imatinib_tdm.pk._dose_matrix import DoseMatrix
from imatinib_tdm.pk._events import EventTable, RecordKind
from imatinib_tdm.pk._model import DomainWarning, PopPKModel, ResolvedCovariates
from imatinib_tdm.pk._structures import Absorption

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = ["MapProblem", "prepare_map_problem"]

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
