"""Individual and typical PK parameters of a model, and random-effect sampling.

:func:`individual_parameters` / :func:`typical_parameters` evaluate the model's expressions into
the :class:`~imatinib_tdm.pk._structures.PKParameters` the engine takes; :func:`sample_etas` and
:func:`sample_kappas` draw random effects for Monte Carlo. This module imports only numpy, the
expression language and the sibling ``pk`` model modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from imatinib_tdm.errors import ModelDomainError
from imatinib_tdm.pk._covariates import _MAX_LISTED_PATIENTS, _patients, _resolve
from imatinib_tdm.pk._expression import Expression, evaluate_expression
from imatinib_tdm.pk._model import (
    TIME_VARIABLE,
    FloatArray,
    PopPKModel,
    RandomEffects,
    ResolvedCovariates,
)
from imatinib_tdm.pk._structures import PKParameters

__all__ = ["individual_parameters", "sample_etas", "sample_kappas", "typical_parameters"]

_NON_NEGATIVE_PARAMETERS = ("tlag_h", "n_transit")


# --- parameters -------------------------------------------------------------------------------


def _random_effect_matrix(
    values: ArrayLike | None, names: Sequence[str], what: str, model_id: str
) -> FloatArray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise ValueError(
            f"model {model_id!r}: {what} must have shape (n_patients, {len(names)}) for "
            f"{', '.join(names) or 'no effects'}; got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"model {model_id!r}: {what} contain a non-finite value")
    return arr


def individual_parameters(
    model: PopPKModel,
    covariates: Mapping[str, Any] | ResolvedCovariates,
    etas: ArrayLike | None = None,
    *,
    kappas: ArrayLike | None = None,
    dose_times_h: ArrayLike | None = None,
) -> PKParameters:
    """Individual PK parameters from covariates and random effects.

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping or ResolvedCovariates
        A mapping of name to float or array of shape ``(n_patients,)`` must contain every declared
        covariate (a documented ``when_missing`` value is *not* applied silently: use
        :func:`resolve_covariates` first, which reports it). HARD domains are always enforced.
    etas : array-like of shape (n_patients, n_etas) or (n_etas,), optional
        Inter-individual random effects in ``model.eta_names`` order; default zeros.
    kappas : array-like of shape (n_patients, n_kappas) or (n_kappas,), optional
        Inter-occasion random effects for the occasion predicted (one occasion for all doses);
        default zeros.
    dose_times_h : array-like of shape (n_doses,) or (n_patients, n_doses), optional
        Time of each dose since the first dose of therapy, in h. Required when the model has
        time-varying parameters (:attr:`PopPKModel.time_varying_parameters`), which then come out
        with shape ``(n_patients, n_doses)``; ignored otherwise.

    Returns
    -------
    PKParameters
        Arrays of shape ``(n_patients,)`` (or ``(n_patients, n_doses)`` for time-varying ka/F);
        fields the structure does not use are None.

    Raises
    ------
    MissingCovariateError, ModelDomainError, CaseError
        From the covariate checks.
    ModelDomainError
        A parameter evaluates to a non-finite or non-positive value (``tlag_h`` and
        ``n_transit`` may be 0) for some patient; the message names the parameter, its expression
        and the patients.
    ValueError
        ``etas``/``kappas``/``dose_times_h`` have the wrong shape, or ``dose_times_h`` is missing
        for a model with time-varying parameters.

    See Also
    --------
    typical_parameters : the same with all random effects 0.
    """
    if isinstance(covariates, ResolvedCovariates):
        if covariates.model_id != model.id:
            raise ValueError(
                f"covariates were resolved for model {covariates.model_id!r}, not {model.id!r}"
            )
        resolved = covariates
    else:
        resolved = _resolve(model, covariates, substitute=False)
    eta_matrix = _random_effect_matrix(etas, model.eta_names, "etas", model.id)
    kappa_matrix = _random_effect_matrix(kappas, model.kappa_names, "kappas", model.id)
    sizes = {resolved.n_patients}
    for matrix in (eta_matrix, kappa_matrix):
        if matrix is not None:
            sizes.add(matrix.shape[0])
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(
            f"model {model.id!r}: covariates have {resolved.n_patients} rows but random effects "
            f"have {sorted(sizes)}; they must agree (or be 1)"
        )
    n_patients = sizes.pop() if sizes else 1

    env: dict[str, FloatArray] = {
        name: _as_rows(values, n_patients) for name, values in resolved.values.items()
    }
    env.update({t.name: np.full(n_patients, t.value) for t in model.thetas})
    for names, matrix in ((model.eta_names, eta_matrix), (model.kappa_names, kappa_matrix)):
        for i, name in enumerate(names):
            env[name] = (
                np.zeros(n_patients) if matrix is None else _as_rows(matrix[:, i], n_patients)
            )

    times: FloatArray | None = None
    if model.time_varying_parameters:
        if dose_times_h is None:
            raise ValueError(
                f"model {model.id!r} has time-varying {', '.join(model.time_varying_parameters)}; "
                "pass dose_times_h (time of each dose since the first dose of therapy, h)"
            )
        times = np.asarray(dose_times_h, dtype=np.float64)
        if times.ndim == 1:
            times = times.reshape(1, -1)
        if times.ndim != 2 or times.shape[0] not in (1, n_patients) or times.shape[1] < 1:
            raise ValueError(
                f"dose_times_h must have shape (n_doses,) or ({n_patients}, n_doses), got "
                f"{np.shape(dose_times_h)}"
            )
        if not np.all(np.isfinite(times)):
            raise ValueError("dose_times_h contains a non-finite value")

    values: dict[str, FloatArray] = {}
    for name, expr in model.parameters:
        if TIME_VARIABLE in expr.names and times is not None:
            per_dose_env = {k: v.reshape(-1, 1) for k, v in env.items()}
            per_dose_env[TIME_VARIABLE] = times
            shape: tuple[int, ...] = (n_patients, times.shape[1])
            result = evaluate_expression(expr, per_dose_env)
        else:
            shape = (n_patients,)
            result = evaluate_expression(expr, env)
        result = np.asarray(result, dtype=np.float64)
        # a fresh array in every case (an expression may return a covariate's own array)
        result = result.copy() if result.shape == shape else np.broadcast_to(result, shape).copy()
        _check_parameter(model, name, expr, result)
        values[name] = result
    return PKParameters.create(**values)


def _as_rows(values: FloatArray, n_patients: int) -> FloatArray:
    """``values`` broadcast to ``(n_patients,)``, without a new view when it has that shape."""
    return values if values.shape == (n_patients,) else np.broadcast_to(values, (n_patients,))


def _check_parameter(model: PopPKModel, name: str, expr: Expression, result: FloatArray) -> None:
    lower_ok = result >= 0 if name in _NON_NEGATIVE_PARAMETERS else result > 0
    bad = ~(np.isfinite(result) & lower_ok)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.reshape(result.shape[0], -1).any(axis=1))
    shown = ", ".join(f"{v:g}" for v in result[bad][:_MAX_LISTED_PATIENTS])
    bound = ">= 0" if name in _NON_NEGATIVE_PARAMETERS else "> 0"
    raise ModelDomainError(
        f"model {model.id!r}: parameter {name} = {expr.source!r} evaluates to {shown} for "
        f"{_patients(rows)}; it must be finite and {bound}. The covariates or random effects "
        "are outside the range where the model's equations are valid.",
        model_id=model.id,
        parameter=name,
    )


def typical_parameters(
    model: PopPKModel,
    covariates: Mapping[str, Any] | ResolvedCovariates,
    *,
    dose_times_h: ArrayLike | None = None,
) -> PKParameters:
    """Typical (population) parameters: :func:`individual_parameters` with every eta and kappa 0.

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping or ResolvedCovariates
        As for :func:`individual_parameters`.
    dose_times_h : array-like of shape (n_doses,) or (n_patients, n_doses), optional
        Needed for models with time-varying parameters.

    Returns
    -------
    PKParameters
    """
    return individual_parameters(model, covariates, None, dose_times_h=dose_times_h)


# --- random effects ---------------------------------------------------------------------------


def _sample(effects: RandomEffects | None, n: int, rng: np.random.Generator) -> FloatArray:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if effects is None or effects.n_effects == 0:
        return np.zeros((n, 0))
    z = rng.standard_normal((n, effects.n_effects))
    return np.asarray(z @ effects.cholesky.T, dtype=np.float64)


def sample_etas(model: PopPKModel, n: int, rng: np.random.Generator) -> FloatArray:
    """Draw inter-individual random effects from N(0, OMEGA).

    Parameters
    ----------
    model : PopPKModel
    n : int
        Number of individuals.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n, n_etas)
        Columns in ``model.eta_names`` order (``(n, 0)`` for a model without IIV). Draws are
        ``Z @ L.T`` with Z standard normal of shape ``(n, n_etas)`` and L the Cholesky factor,
        so a given seed gives the same etas on every platform numpy supports.
    """
    return _sample(model.etas, n, rng)


def sample_kappas(model: PopPKModel, n: int, rng: np.random.Generator) -> FloatArray:
    """Draw inter-occasion random effects for one occasion, shape ``(n, n_kappas)``."""
    return _sample(model.iov, n, rng)
