"""Covariates checked against a model: :func:`resolve_covariates`, :func:`check_covariates`.

Applicability: missing covariates (documented ``when_missing`` substitutions are reported, never
silent), HARD domains (refused) and SOFT domains (warned), and the studied ranges of
characteristics that are not covariates (the model's ``applicability`` entries, checked only when
a value is given). This module imports only numpy,
:mod:`imatinib_tdm.pk._model` and :mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import CaseError, MissingCovariateError, ModelDomainError
from imatinib_tdm.pk._model import (
    CovariateDomain,
    DomainKind,
    DomainWarning,
    DomainWarningKind,
    FloatArray,
    PopPKModel,
    ResolvedCovariates,
)

__all__ = ["check_covariates", "required_covariates", "resolve_covariates"]

_MAX_LISTED_PATIENTS = 10


def required_covariates(model: PopPKModel) -> tuple[str, ...]:
    """Covariates a caller must give (declared and without a documented ``when_missing`` value).

    Parameters
    ----------
    model : PopPKModel

    Returns
    -------
    tuple of str
        In declaration order. Every declared covariate is used by some expression (checked at
        load time); those with a ``when_missing`` rule may be omitted when going through
        :func:`resolve_covariates`, which then reports the substitution.
    """
    return tuple(c.name for c in model.covariates if c.when_missing is None)


def _as_covariate_array(name: str, value: Any) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CaseError(
            f"covariate {name}: expected a number or an array of numbers, got {value!r}",
            field=f"covariates.{name}",
        ) from None
    if arr.ndim > 1:
        raise CaseError(
            f"covariate {name}: expected a scalar or shape (n_patients,), got shape {arr.shape}",
            field=f"covariates.{name}",
        )
    if np.any(np.isinf(arr)):
        raise CaseError(f"covariate {name}: infinite value", field=f"covariates.{name}")
    return arr


def _patients(indices: NDArray[np.intp]) -> str:
    listed = ", ".join(str(int(i)) for i in indices[:_MAX_LISTED_PATIENTS])
    more = f" and {indices.size - _MAX_LISTED_PATIENTS} more" if indices.size > 10 else ""
    return f"patient{'s' if indices.size > 1 else ''} {listed}{more}"


def _within(domain: CovariateDomain | None, value: float) -> bool:
    if domain is None:
        return True
    low, high = domain.min_value, domain.max_value
    return (low is None or value >= low) and (high is None or value <= high)


def _resolve_clean_scalars(
    model: PopPKModel, covariates: Mapping[str, Any]
) -> ResolvedCovariates | None:
    """The result for one patient whose every covariate is a finite number inside every domain
    and studied range, without numpy per value; None for anything else (the general path then
    gives the same result with its warnings or errors).

    One patient with clean covariates is what an interpretation resolves ~10 times (each
    regimen, each patient factor); numpy's per-call cost made that ~0.2 ms per call.
    """
    values: dict[str, FloatArray] = {}
    for cov in model.covariates:
        value = covariates.get(cov.name)
        if type(value) is not float and type(value) is not int:
            return None  # missing, an array, a numpy scalar, a bool...: the general path
        number = float(value)
        if not math.isfinite(number) or not _within(cov.domain, number):
            return None
        values[cov.name] = np.array([number])
    for criterion in model.applicability:
        value = covariates.get(criterion.name)
        if value is None:
            continue
        if type(value) is not float and type(value) is not int:
            return None
        number = float(value)
        if math.isinf(number) or not (math.isnan(number) or _within(criterion.domain, number)):
            return None
    return ResolvedCovariates(model_id=model.id, n_patients=1, values=values, warnings=())


def _resolve(
    model: PopPKModel, covariates: Mapping[str, Any], *, substitute: bool
) -> ResolvedCovariates:
    clean = _resolve_clean_scalars(model, covariates)
    return (
        clean if clean is not None else _resolve_general(model, covariates, substitute=substitute)
    )


def _resolve_general(
    model: PopPKModel, covariates: Mapping[str, Any], *, substitute: bool
) -> ResolvedCovariates:
    arrays: dict[str, FloatArray] = {}
    n_patients = 1
    sizes: dict[str, int] = {}
    for name in (*model.covariate_names, *model.applicability_names):
        value = covariates.get(name)
        if value is None:
            continue
        arr = _as_covariate_array(name, value)
        if arr.ndim == 1:
            sizes[name] = arr.shape[0]
        arrays[name] = arr
    if len(set(sizes.values())) > 1:
        raise CaseError(
            "covariates have different numbers of patients: "
            + ", ".join(f"{k} {v}" for k, v in sizes.items()),
            field="covariates",
        )
    if sizes:
        n_patients = next(iter(sizes.values()))
    if n_patients < 1:
        raise CaseError("covariate arrays are empty (n_patients = 0)", field="covariates")

    values: dict[str, FloatArray] = {}
    warnings: list[DomainWarning] = []
    missing: list[str] = []
    missing_lines: list[str] = []
    for cov in model.covariates:
        given = arrays.get(cov.name)
        if given is None:
            arr = np.full(n_patients, np.nan)
        elif given.shape == (n_patients,):
            arr = given.copy()
        else:
            arr = np.broadcast_to(given, (n_patients,)).copy()
        absent = np.isnan(arr)
        if absent.any():
            rows = np.flatnonzero(absent)
            who = "" if rows.size == n_patients else f" for {_patients(rows)}"
            if cov.when_missing is not None and substitute:
                arr[absent] = cov.when_missing.value
                warnings.append(
                    DomainWarning(
                        kind=DomainWarningKind.MISSING_SUBSTITUTED,
                        model_id=model.id,
                        covariate=cov.name,
                        unit=cov.unit,
                        values=(cov.when_missing.value,) * rows.size,
                        patient_indices=tuple(int(i) for i in rows),
                        domain=cov.domain,
                        source=cov.when_missing.note,
                        message=(
                            f"model {model.id!r}: {cov.name} ({cov.description}) was not given"
                            f"{who}; the model's documented value {cov.when_missing.value:g} "
                            f"[{cov.unit}] was used ({cov.when_missing.note})"
                        ),
                    )
                )
            else:
                missing.append(cov.name)
                hint = ""
                if cov.when_missing is not None:
                    hint = (
                        f"; the model documents {cov.when_missing.value:g} for an unknown value "
                        f"({cov.when_missing.note}): apply it with resolve_covariates(), which "
                        "reports the substitution"
                    )
                missing_lines.append(f"{cov.name} ({cov.description}; {cov.unit}){who}{hint}")
        values[cov.name] = arr
    if missing:
        raise MissingCovariateError(
            f"model {model.id!r} needs {len(missing)} covariate(s) that were not given: "
            + "; ".join(missing_lines)
            + ". Give them, or choose a model that does not use them.",
            missing=missing,
            model_id=model.id,
        )

    violations: list[str] = []
    for cov in model.covariates:
        if cov.domain is None:
            continue
        arr = values[cov.name]
        outside = ~cov.domain.contains(arr)
        if not outside.any():
            continue
        rows = np.flatnonzero(outside)
        shown = ", ".join(f"{v:g}" for v in arr[rows][:_MAX_LISTED_PATIENTS])
        where = f"{cov.name} = {shown} [{cov.unit}] ({_patients(rows)})"
        source = f"; source: {cov.domain.source}" if cov.domain.source else ""
        if cov.domain.kind is DomainKind.HARD:
            violations.append(f"{where} outside {cov.domain.describe(cov.unit)}{source}")
            continue
        warnings.append(
            DomainWarning(
                kind=DomainWarningKind.OUTSIDE_SOFT_DOMAIN,
                model_id=model.id,
                covariate=cov.name,
                unit=cov.unit,
                values=tuple(float(v) for v in arr[rows]),
                patient_indices=tuple(int(i) for i in rows),
                domain=cov.domain,
                source=cov.domain.source,
                message=(
                    f"model {model.id!r}: {where} lies outside the range "
                    f"{cov.domain.describe(cov.unit)} of the population the model was built on"
                    f"{source}; its predictions are extrapolations"
                ),
            )
        )
    for criterion in model.applicability:
        given = arrays.get(criterion.name)
        if given is None:
            continue  # not given: not checked (never invented); see PopPKModel.applicability
        arr = np.broadcast_to(given, (n_patients,))
        outside = ~np.isnan(arr) & ~criterion.domain.contains(arr)
        if not outside.any():
            continue
        rows = np.flatnonzero(outside)
        shown = ", ".join(f"{v:g}" for v in arr[rows][:_MAX_LISTED_PATIENTS])
        where = f"{criterion.name} = {shown} [{criterion.unit}] ({_patients(rows)})"
        studied = criterion.domain.describe(criterion.unit)
        source = f"; source: {criterion.source}" if criterion.source else ""
        if criterion.domain.kind is DomainKind.HARD:
            violations.append(
                f"{where} outside the studied population {studied} (not a covariate of the "
                f"model){source}"
            )
            continue
        warnings.append(
            DomainWarning(
                kind=DomainWarningKind.OUTSIDE_STUDIED_POPULATION,
                model_id=model.id,
                covariate=criterion.name,
                unit=criterion.unit,
                values=tuple(float(v) for v in arr[rows]),
                patient_indices=tuple(int(i) for i in rows),
                domain=criterion.domain,
                source=criterion.source,
                message=(
                    f"model {model.id!r}: {where} lies outside the range {studied} of the "
                    f"population the model was built on{source}; {criterion.name} is not a "
                    "covariate of the model, so its predictions do not account for it and may "
                    "not apply to this patient"
                ),
            )
        )
    if violations:
        raise ModelDomainError(
            f"model {model.id!r} must not be used for these covariates: "
            + "; ".join(violations)
            + ". Choose another model.",
            model_id=model.id,
        )
    return ResolvedCovariates(
        model_id=model.id, n_patients=n_patients, values=values, warnings=tuple(warnings)
    )


def resolve_covariates(model: PopPKModel, covariates: Mapping[str, Any]) -> ResolvedCovariates:
    """Check covariates against a model and apply its documented ``when_missing`` values.

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping of str to float or array-like of shape (n_patients,)
        Values in the units the model declares. Extra names are ignored (a case carries more
        covariates than any one model uses), except the names of the model's ``applicability``
        entries (e.g. ``age_years`` for a model built on adults, ``daily_dose_mg`` for its
        studied dose range): those are checked against the studied range and otherwise unused.
        ``None`` or ``nan`` means missing (per patient for arrays); a missing applicability
        value is not checked and not an error. Scalars are broadcast to the other arrays'
        ``n_patients``.

    Returns
    -------
    ResolvedCovariates
        Arrays of shape ``(n_patients,)`` for every declared covariate, and the warnings: one per
        substituted covariate, one per covariate outside its SOFT domain and one per
        applicability entry outside its SOFT studied range (kind ``OUTSIDE_STUDIED_POPULATION``).

    Raises
    ------
    MissingCovariateError
        Covariates without a ``when_missing`` rule are missing; ``missing`` lists all of them and
        the message says what each one means.
    ModelDomainError
        A covariate lies outside a HARD domain, or a given applicability value outside a HARD
        studied range (all violations are listed).
    CaseError
        A value is not numeric, infinite, or arrays have different lengths.

    See Also
    --------
    check_covariates : the warnings only.
    individual_parameters : takes the result.
    """
    return _resolve(model, covariates, substitute=True)


def check_covariates(model: PopPKModel, covariates: Mapping[str, Any]) -> list[DomainWarning]:
    """The applicability warnings of a model for these covariates (see :func:`resolve_covariates`).

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping of str to float or array-like of shape (n_patients,)

    Returns
    -------
    list of DomainWarning
        Soft-domain excursions (with value, domain and source), values outside a soft
        ``applicability`` range, and documented substitutions of missing covariates; empty when
        the patient lies inside the model's population as far as the given values show
        (applicability entries without a value are not checked: see
        ``PopPKModel.applicability``).

    Raises
    ------
    MissingCovariateError, ModelDomainError, CaseError
        As :func:`resolve_covariates`.
    """
    return list(resolve_covariates(model, covariates).warnings)
