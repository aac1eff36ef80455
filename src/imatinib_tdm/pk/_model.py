"""The population PK model type, its validating constructor, and covariate/parameter functions.

A :class:`PopPKModel` is immutable data built once from a specification mapping (a parsed YAML,
TOML or JSON model file, or a Python dict) by :func:`create_model`, which checks everything that
can be checked before any patient is seen: names, expressions, the variance-covariance matrices,
the residual error model and the structure's parameter set. Behaviour lives in module-level
functions: :func:`resolve_covariates` / :func:`check_covariates` (applicability), then
:func:`individual_parameters` / :func:`typical_parameters` (PK parameters for the engine) and
:func:`sample_etas` (Monte Carlo).

The file format is documented in ``docs/custom-models.md``. This module imports only numpy, the
expression language, :mod:`imatinib_tdm.pk._structures` and :mod:`imatinib_tdm.errors`; it must
not import ``case``, ``tdm``, ``report``, ``store`` or ``service``.
"""

from __future__ import annotations

import enum
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.errors import (
    CaseError,
    MissingCovariateError,
    ModelDefinitionError,
    ModelDomainError,
)
from imatinib_tdm.pk._expression import (
    FUNCTIONS,
    Expression,
    compile_expression,
    evaluate_expression,
)
from imatinib_tdm.pk._structures import Absorption, PKParameters, Structure

__all__ = [
    "TIME_VARIABLE",
    "ConcentrationBasis",
    "CovariateDefinition",
    "CovariateDomain",
    "DomainKind",
    "DomainWarning",
    "DomainWarningKind",
    "MissingCovariateRule",
    "PopPKModel",
    "PopulationDescription",
    "RandomEffects",
    "ResidualErrorKind",
    "ResidualErrorModel",
    "ResolvedCovariates",
    "ThetaDefinition",
    "Verification",
    "check_covariates",
    "create_model",
    "individual_parameters",
    "required_covariates",
    "resolve_covariates",
    "sample_etas",
    "sample_kappas",
    "typical_parameters",
]

FloatArray = NDArray[np.float64]

TIME_VARIABLE = "time_since_first_dose_h"
"""Special expression variable: time of each dose since the first dose of therapy, in hours."""

_TIME_VARYING_ALLOWED = ("ka_per_h", "bioavailability_frac")
_NON_NEGATIVE_PARAMETERS = ("tlag_h", "n_transit")
_PK_FIELDS = tuple(f.name for f in fields(PKParameters))
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_GRADE_PATTERN = re.compile(r"^[ABCD][+-]?$")
_MAX_LISTED_PATIENTS = 10


# --- enums ------------------------------------------------------------------------------------


class DomainKind(enum.Enum):
    """How strictly a covariate domain applies (after Tucuxi's HARD/SOFT constraints)."""

    HARD = "hard"
    """Outside it the model must not be used: :class:`~imatinib_tdm.errors.ModelDomainError`."""
    SOFT = "soft"
    """Outside it the model extrapolates: a :class:`DomainWarning` is returned."""


class ResidualErrorKind(enum.Enum):
    """Residual (unexplained) error model of the observations, as in NONMEM ``$ERROR``."""

    PROPORTIONAL = "proportional"
    """``Y = F + proportional_sd·F·ε``."""
    ADDITIVE = "additive"
    """``Y = F + additive_sd_mg_per_l·ε``."""
    COMBINED = "combined"
    """``Y = F + sqrt((proportional_sd·F)² + additive_sd_mg_per_l²)·ε``."""
    LOG_ADDITIVE = "log_additive"
    """``log Y = log F + log_sd·ε`` (exponential error)."""


class DomainWarningKind(enum.Enum):
    """Why a :class:`DomainWarning` was raised."""

    OUTSIDE_SOFT_DOMAIN = "outside_soft_domain"
    """A covariate lies outside the population the model was built on (extrapolation)."""
    MISSING_SUBSTITUTED = "missing_substituted"
    """A covariate was missing and the model's documented ``when_missing`` value was used."""


# --- value types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CovariateDomain:
    """Range of a covariate in which the model applies.

    Attributes
    ----------
    min_value, max_value : float or None
        Bounds in the covariate's unit (inclusive); None means unbounded on that side.
    kind : DomainKind
        HARD (refuse outside) or SOFT (warn outside).
    source : str or None
        Where the bounds come from (the model's population, a software file, ...).
    """

    min_value: float | None
    max_value: float | None
    kind: DomainKind
    source: str | None = None

    def contains(self, values: ArrayLike) -> NDArray[np.bool_]:
        """Elementwise: is each value within ``[min_value, max_value]``?"""
        arr = np.asarray(values, dtype=np.float64)
        inside = np.ones(arr.shape, dtype=bool)
        if self.min_value is not None:
            inside &= arr >= self.min_value
        if self.max_value is not None:
            inside &= arr <= self.max_value
        return inside

    def describe(self, unit: str) -> str:
        """Human-readable range, e.g. ``"40 to 150 [kg] (soft)"``."""
        low = "-inf" if self.min_value is None else f"{self.min_value:g}"
        high = "+inf" if self.max_value is None else f"{self.max_value:g}"
        return f"{low} to {high} [{unit}] ({self.kind.value})"


@dataclass(frozen=True)
class MissingCovariateRule:
    """A documented value to use when a covariate is unknown (e.g. Tucuxi's sex = 0.5)."""

    value: float
    note: str
    """The cited convention that justifies the value; it is repeated in every warning."""


@dataclass(frozen=True)
class CovariateDefinition:
    """A covariate that the model's expressions may use.

    Attributes
    ----------
    name : str
        Variable name in expressions, with its unit in the name (``weight_kg``).
    unit : str
        Unit, or the coding of a categorical covariate (``"1 = male, 0 = female"``).
    description : str
        What the covariate is.
    reference : float or None
        Reference (centring) value in the model, in ``unit``, when there is one.
    domain : CovariateDomain or None
        Applicability range; None means no range is documented.
    when_missing : MissingCovariateRule or None
        Documented substitute when the value is unknown; None means a missing value is an error.
    source : str or None
        Source of the covariate definition or its reference value.
    """

    name: str
    unit: str
    description: str
    reference: float | None = None
    domain: CovariateDomain | None = None
    when_missing: MissingCovariateRule | None = None
    source: str | None = None


@dataclass(frozen=True)
class ThetaDefinition:
    """A fixed-effect parameter (NONMEM THETA) with its unit and source."""

    name: str
    value: float
    unit: str
    description: str
    source: str | None


@dataclass(frozen=True, eq=False)
class RandomEffects:
    """Named random effects and their variance-covariance matrix (NONMEM OMEGA).

    Attributes
    ----------
    names : tuple of str
        ``ETA_*`` names (inter-individual) or ``KAPPA_*`` names (inter-occasion), in matrix order.
    omega : ndarray of shape (n_effects, n_effects)
        Symmetric positive-definite variance-covariance matrix (read-only).
    source : str or None
        Where the values come from.
    notes : str or None
        Conventions, e.g. how a published CV% was converted into a variance.
    """

    names: tuple[str, ...]
    omega: FloatArray = field(repr=False)
    source: str | None = None
    notes: str | None = None

    @property
    def n_effects(self) -> int:
        """Number of random effects."""
        return len(self.names)

    @property
    def cholesky(self) -> FloatArray:
        """Lower-triangular ``L`` with ``L @ L.T == omega``, shape ``(n_effects, n_effects)``."""
        if not self.n_effects:
            return np.zeros((0, 0))
        return np.asarray(np.linalg.cholesky(self.omega), dtype=np.float64)

    @property
    def sd(self) -> FloatArray:
        """Standard deviations ``sqrt(diag(omega))``, shape ``(n_effects,)``."""
        return np.sqrt(np.diag(self.omega))

    def _key(self) -> tuple[Any, ...]:
        return (self.names, self.omega.shape, self.omega.tobytes(), self.source, self.notes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RandomEffects):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class ResidualErrorModel:
    """Residual error model of the observations.

    Attributes
    ----------
    kind : ResidualErrorKind
    proportional_sd : float or None
        SD of the proportional error as a fraction (0.26 = 26% CV); PROPORTIONAL and COMBINED.
    additive_sd_mg_per_l : float or None
        SD of the additive error in mg/L; ADDITIVE and COMBINED.
    log_sd : float or None
        SD on the natural-log scale; LOG_ADDITIVE.
    eta_on_residual_sd : float or None
        SD of a between-subject random effect on the residual magnitude (``W·exp(ETA_RES)``,
        Gotta 2014); used by population simulation, not by :meth:`sd_mg_per_l`.
    source, notes : str or None

    Notes
    -----
    The combined model is written ``Y = F + sqrt((prop·F)² + add²)·ε``. NONMEM's other usual form,
    ``Y = F·(1 + ε₁) + ε₂`` with independent ε₁ and ε₂, gives exactly the same normal distribution
    of Y given F, so either NONMEM parameterisation maps to the same two SDs.
    """

    kind: ResidualErrorKind
    proportional_sd: float | None = None
    additive_sd_mg_per_l: float | None = None
    log_sd: float | None = None
    eta_on_residual_sd: float | None = None
    source: str | None = None
    notes: str | None = None

    @property
    def is_log_scale(self) -> bool:
        """True when the error is defined on log concentrations (LOG_ADDITIVE)."""
        return self.kind is ResidualErrorKind.LOG_ADDITIVE

    def sd_mg_per_l(self, prediction_mg_per_l: ArrayLike) -> FloatArray:
        """SD of an observation given the model prediction, on the model's scale (as NONMEM's W).

        Parameters
        ----------
        prediction_mg_per_l : array-like of float, any shape
            Individual predictions F in mg/L.

        Returns
        -------
        ndarray, same shape as the prediction
            In mg/L for PROPORTIONAL (``prop·|F|``), ADDITIVE (``add``) and COMBINED
            (``sqrt((prop·F)² + add²)``). For LOG_ADDITIVE the model scale is ``log(mg/L)`` and the
            value returned is ``log_sd`` (dimensionless; see :attr:`is_log_scale`). A proportional
            SD is 0 where F = 0 (e.g. before the first dose): a likelihood must handle that.
        """
        pred = np.asarray(prediction_mg_per_l, dtype=np.float64)
        prop = self.proportional_sd or 0.0
        add = self.additive_sd_mg_per_l or 0.0
        if self.kind is ResidualErrorKind.PROPORTIONAL:
            return prop * np.abs(pred)
        if self.kind is ResidualErrorKind.ADDITIVE:
            return np.full(pred.shape, add)
        if self.kind is ResidualErrorKind.COMBINED:
            return np.sqrt((prop * pred) ** 2 + add**2)
        return np.full(pred.shape, float(self.log_sd or 0.0))

    def add_noise(
        self,
        prediction_mg_per_l: ArrayLike,
        rng: np.random.Generator,
        *,
        sd_multiplier: ArrayLike = 1.0,
    ) -> FloatArray:
        """Simulate observations around predictions.

        Parameters
        ----------
        prediction_mg_per_l : array-like of float, any shape
            Predictions F in mg/L.
        rng : numpy.random.Generator
            Source of randomness; one standard normal ε is drawn per element, in C order.
        sd_multiplier : float or array-like, default=1.0
            Factor on the residual SD, broadcast against the prediction (e.g. ``exp(ETA_RES)`` of
            shape ``(n_individuals, 1)``).

        Returns
        -------
        ndarray, same shape as the prediction
            ``F + sd·ε`` on the linear scale, ``F·exp(sd·ε)`` for LOG_ADDITIVE. Negative values
            from additive error are kept: censoring belongs to an observation (assay) model.
        """
        pred = np.asarray(prediction_mg_per_l, dtype=np.float64)
        eps = rng.standard_normal(pred.shape)
        sd = self.sd_mg_per_l(pred) * np.asarray(sd_multiplier, dtype=np.float64)
        if self.is_log_scale:
            return pred * np.exp(sd * eps)
        return pred + sd * eps


@dataclass(frozen=True)
class PopulationDescription:
    """The population a model was built on (descriptive metadata; ranges are free text)."""

    description: str
    n_patients: int | None = None
    n_samples: int | None = None
    indication: tuple[str, ...] = ()
    age_group: str | None = None
    age_range_years: str | None = None
    weight_range_kg: str | None = None
    ethnicity: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    """Any further keys of the ``population`` block, as (key, text) pairs."""


@dataclass(frozen=True)
class ConcentrationBasis:
    """What the model predicts: analyte, basis (free base, total plasma) and unit (mg/L)."""

    analyte: str
    basis: str
    unit: str = "mg/L"


@dataclass(frozen=True)
class Verification:
    """How the model's numbers were checked (grades A-D of the reference table)."""

    grade: str
    note: str
    discrepancies: tuple[str, ...] = ()


@dataclass(frozen=True)
class PopPKModel:
    """A published (or centre-defined) population PK model, as immutable data.

    Build it with :func:`create_model` (or load it with ``load_model_file`` / the library); the
    plain constructor trusts its inputs.

    Attributes
    ----------
    id, name, citation : str
    doi, pmid, doi_note : str or None
    population : PopulationDescription
    structure : Structure
    covariates : tuple of CovariateDefinition
    thetas : tuple of ThetaDefinition
    etas : RandomEffects
        Inter-individual variability (may have zero effects).
    iov : RandomEffects or None
        Inter-occasion variability (``KAPPA_*``), when the model has it.
    parameters : tuple of (str, Expression)
        One expression per :class:`PKParameters` field the structure needs.
    residual_error : ResidualErrorModel
    concentration : ConcentrationBasis
    verification : Verification
    notes : str or None
    test_only : bool
        True for fixtures whose values are not from a publication.
    source_path : str or None
        File the model was read from (not compared).
    builtin : bool
        True for models of the package library (not compared).
    """

    id: str
    name: str
    citation: str
    doi: str | None
    population: PopulationDescription
    structure: Structure
    covariates: tuple[CovariateDefinition, ...]
    thetas: tuple[ThetaDefinition, ...]
    etas: RandomEffects
    parameters: tuple[tuple[str, Expression], ...]
    residual_error: ResidualErrorModel
    concentration: ConcentrationBasis
    verification: Verification
    iov: RandomEffects | None = None
    pmid: str | None = None
    doi_note: str | None = None
    notes: str | None = None
    test_only: bool = False
    source_path: str | None = field(default=None, compare=False)
    builtin: bool = field(default=False, compare=False)

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Names of the declared covariates, in file order."""
        return tuple(c.name for c in self.covariates)

    @property
    def eta_names(self) -> tuple[str, ...]:
        """Names of the inter-individual random effects, in OMEGA order."""
        return self.etas.names

    @property
    def kappa_names(self) -> tuple[str, ...]:
        """Names of the inter-occasion random effects (empty without IOV)."""
        return () if self.iov is None else self.iov.names

    @property
    def theta_values(self) -> dict[str, float]:
        """Fixed-effect values by name."""
        return {t.name: t.value for t in self.thetas}

    @property
    def time_varying_parameters(self) -> tuple[str, ...]:
        """Parameters evaluated per dose because they read ``time_since_first_dose_h``."""
        return tuple(name for name, expr in self.parameters if TIME_VARIABLE in expr.names)

    def covariate(self, name: str) -> CovariateDefinition:
        """The definition of covariate ``name`` (KeyError when the model has none)."""
        for cov in self.covariates:
            if cov.name == name:
                return cov
        raise KeyError(f"model {self.id!r} has no covariate {name!r}")

    def parameter_expression(self, name: str) -> Expression:
        """The expression of PK parameter ``name`` (KeyError when the model has none)."""
        for param, expr in self.parameters:
            if param == name:
                return expr
        raise KeyError(f"model {self.id!r} has no parameter {name!r}")


@dataclass(frozen=True)
class DomainWarning:
    """A covariate caveat for one model: extrapolation, or a documented substitution.

    Not a Python warning: it is returned so the caller can turn it into a finding in a result.

    Attributes
    ----------
    kind : DomainWarningKind
    model_id, covariate, unit : str
    values : tuple of float
        The offending values (OUTSIDE_SOFT_DOMAIN) or the substituted value (MISSING_SUBSTITUTED).
    patient_indices : tuple of int
        Rows concerned (0-based), in the same order as ``values``.
    domain : CovariateDomain or None
    source : str or None
        Source of the domain or of the substitution convention.
    message : str
        A complete sentence for a report.
    """

    kind: DomainWarningKind
    model_id: str
    covariate: str
    unit: str
    values: tuple[float, ...]
    patient_indices: tuple[int, ...]
    domain: CovariateDomain | None
    source: str | None
    message: str


@dataclass(frozen=True, eq=False)
class ResolvedCovariates:
    """Covariates checked against one model, ready for :func:`individual_parameters`.

    Attributes
    ----------
    model_id : str
    n_patients : int
    values : mapping of str to ndarray of shape (n_patients,)
        One entry per covariate the model declares, with documented substitutions applied.
    warnings : tuple of DomainWarning
        Every substitution and every soft-domain excursion.
    """

    model_id: str
    n_patients: int
    values: Mapping[str, FloatArray]
    warnings: tuple[DomainWarning, ...]


# --- construction -----------------------------------------------------------------------------


class _Spec:
    """Reads one mapping of a model specification and builds precise error messages."""

    def __init__(self, model_id: str, where: str, value: Any) -> None:
        self.model_id = model_id
        self.where = where
        if not isinstance(value, Mapping):
            raise self.error(f"expected a mapping, got {type(value).__name__}")
        self.data: Mapping[str, Any] = value

    def error(self, message: str) -> ModelDefinitionError:
        return ModelDefinitionError(
            f"model {self.model_id!r}, {self.where or 'top level'}: {message}",
            model_id=self.model_id,
            where=self.where,
        )

    def check_keys(self, required: Sequence[str], optional: Sequence[str]) -> None:
        missing = [k for k in required if self.data.get(k) is None]
        if missing:
            raise self.error(f"missing required key(s): {', '.join(missing)}")
        unknown = sorted(set(self.data) - set(required) - set(optional))
        if unknown:
            raise self.error(
                f"unknown key(s) {', '.join(map(str, unknown))}; allowed keys are "
                f"{', '.join([*required, *optional])}"
            )

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(f"{key!r} must be text, got {type(value).__name__}")
        text = str(value).strip()
        if required and not text:
            raise self.error(f"{key!r} must not be empty")
        return text or None

    def number(self, key: str, *, required: bool = True) -> float | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is required (a number)")
            return None
        return _to_float(value, lambda msg: self.error(f"{key!r} {msg}"))

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{key!r} must be an integer, got {value!r}")
        return value

    def sub(self, key: str, *, required: bool = True) -> _Spec | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is required")
            return None
        return _Spec(self.model_id, f"{self.where}.{key}" if self.where else key, value)

    def items(self, key: str) -> list[_Spec]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.error(f"{key!r} must be a list")
        return [_Spec(self.model_id, f"{key}[{i}]", item) for i, item in enumerate(value)]


def _to_float(value: Any, error: Any) -> float:
    """A finite float from a number or a numeric string (PyYAML reads ``1e-3`` as a string)."""
    if isinstance(value, bool):
        raise error(f"must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise error(f"must be a number, got {value!r}") from None
    elif isinstance(value, int | float):
        result = float(value)
    else:
        raise error(f"must be a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise error(f"must be finite, got {value!r}")
    return result


_TOP_REQUIRED = (
    "id",
    "name",
    "citation",
    "population",
    "structure",
    "thetas",
    "parameters",
    "residual_error",
    "concentration",
    "verification",
)
_TOP_OPTIONAL = ("doi", "doi_note", "pmid", "covariates", "etas", "iov", "notes", "test_only")


def create_model(
    spec: Mapping[str, Any], *, source_path: str | None = None, builtin: bool = False
) -> PopPKModel:
    """Validate a model specification and build a :class:`PopPKModel`.

    Parameters
    ----------
    spec : mapping
        The parsed model file (format in ``docs/custom-models.md``).
    source_path : str, optional
        File the specification was read from, kept for provenance.
    builtin : bool, default=False
        True for models of the package library.

    Returns
    -------
    PopPKModel

    Raises
    ------
    ModelDefinitionError
        Anything invalid; the message names the model, the block (``thetas[2]``,
        ``parameters.cl_l_per_h``, ``etas.omega``), what was found and what was expected.

    Notes
    -----
    Checks made: required and unknown keys; id syntax; unique, well-formed names across thetas,
    etas, kappas and covariates; finite thetas; every expression in the safe language and reading
    only declared names; every eta, kappa, theta and covariate used by at least one expression;
    ``time_since_first_dose_h`` only in ``ka_per_h`` and ``bioavailability_frac``; the parameter set
    equal to ``Structure.required_parameters``; OMEGA matrices symmetric positive definite
    (Cholesky); residual error values consistent with its kind; covariate domains ordered and
    reference values inside them; the concentration unit mg/L; and, when every covariate has a
    reference value, typical parameters at the reference finite and positive.
    """
    raw_id = spec.get("id") if isinstance(spec, Mapping) else None
    model_id = str(raw_id) if raw_id is not None else "<no id>"
    top = _Spec(model_id, "", spec)
    top.check_keys(_TOP_REQUIRED, _TOP_OPTIONAL)
    if not isinstance(raw_id, str) or not _ID_PATTERN.match(raw_id):
        raise top.error(
            f"id must match ^[a-z][a-z0-9_]*$ (<firstauthor><year>[_variant]), got {raw_id!r}"
        )
    test_only = top.data.get("test_only", False)
    if not isinstance(test_only, bool):
        raise top.error(f"'test_only' must be true or false, got {test_only!r}")
    need_source = not test_only

    structure = _parse_structure(top)
    covariates = tuple(_parse_covariate(item) for item in top.items("covariates"))
    thetas = tuple(_parse_theta(item, need_source) for item in top.items("thetas"))
    etas_spec = top.sub("etas", required=False)
    etas = (
        _parse_random_effects(etas_spec, kappa=False, need_source=need_source)
        if etas_spec is not None
        else RandomEffects(names=(), omega=_readonly(np.zeros((0, 0))))
    )
    iov_spec = top.sub("iov", required=False)
    iov = (
        None
        if iov_spec is None
        else _parse_random_effects(iov_spec, kappa=True, need_source=need_source)
    )
    _check_unique_names(top, covariates, thetas, etas, iov)
    parameters = _parse_parameters(top, structure, covariates, thetas, etas, iov)
    model = PopPKModel(
        id=raw_id,
        name=str(top.text("name")),
        citation=str(top.text("citation")),
        doi=top.text("doi", required=False),
        doi_note=top.text("doi_note", required=False),
        pmid=top.text("pmid", required=False),
        population=_parse_population(top),
        structure=structure,
        covariates=covariates,
        thetas=thetas,
        etas=etas,
        iov=iov,
        parameters=parameters,
        residual_error=_parse_residual_error(top, need_source),
        concentration=_parse_concentration(top),
        verification=_parse_verification(top),
        notes=top.text("notes", required=False),
        test_only=test_only,
        source_path=source_path,
        builtin=builtin,
    )
    _check_reference_parameters(model)
    return model


def _readonly(array: FloatArray) -> FloatArray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


def _parse_structure(top: _Spec) -> Structure:
    spec = top.sub("structure")
    assert spec is not None
    spec.check_keys(("compartments", "absorption"), ("lag_time", "notes"))
    compartments = spec.integer("compartments")
    absorption_text = spec.text("absorption")
    try:
        absorption = Absorption(absorption_text)
    except ValueError:
        allowed = ", ".join(a.value for a in Absorption)
        raise spec.error(f"absorption must be one of {allowed}, got {absorption_text!r}") from None
    lag = spec.data.get("lag_time", False)
    if not isinstance(lag, bool):
        raise spec.error(f"lag_time must be true or false, got {lag!r}")
    try:
        return Structure(n_compartments=int(compartments or 0), absorption=absorption, has_lag=lag)
    except ModelDefinitionError as exc:
        raise spec.error(exc.message) from None


def _parse_covariate(spec: _Spec) -> CovariateDefinition:
    spec.check_keys(
        ("name", "unit", "description"),
        ("reference", "domain", "when_missing", "source", "notes"),
    )
    name = str(spec.text("name"))
    unit = str(spec.text("unit"))
    domain: CovariateDomain | None = None
    domain_spec = spec.sub("domain", required=False)
    if domain_spec is not None:
        domain_spec.check_keys(("kind",), ("min", "max", "source", "notes"))
        kind_text = domain_spec.text("kind")
        try:
            kind = DomainKind(kind_text)
        except ValueError:
            raise domain_spec.error(f"kind must be 'hard' or 'soft', got {kind_text!r}") from None
        low = domain_spec.number("min", required=False)
        high = domain_spec.number("max", required=False)
        if low is not None and high is not None and low > high:
            raise domain_spec.error(f"min {low:g} is greater than max {high:g}")
        domain = CovariateDomain(low, high, kind, domain_spec.text("source", required=False))
    reference = spec.number("reference", required=False)
    if reference is not None and domain is not None and not bool(domain.contains(reference)):
        raise spec.error(f"reference {reference:g} lies outside the domain {domain.describe(unit)}")
    when_missing: MissingCovariateRule | None = None
    missing_spec = spec.sub("when_missing", required=False)
    if missing_spec is not None:
        missing_spec.check_keys(("value", "note"), ())
        value = float(missing_spec.number("value") or 0.0)
        if domain is not None and not bool(domain.contains(value)):
            raise missing_spec.error(
                f"value {value:g} lies outside the domain {domain.describe(unit)}"
            )
        when_missing = MissingCovariateRule(value=value, note=str(missing_spec.text("note")))
    return CovariateDefinition(
        name=name,
        unit=unit,
        description=str(spec.text("description")),
        reference=reference,
        domain=domain,
        when_missing=when_missing,
        source=spec.text("source", required=False),
    )


def _parse_theta(spec: _Spec, need_source: bool) -> ThetaDefinition:
    spec.check_keys(("name", "value", "unit"), ("description", "source", "notes", "fixed"))
    source = spec.text("source", required=False)
    if need_source and source is None:
        raise spec.error("'source' is required (where the value comes from); see test_only")
    return ThetaDefinition(
        name=str(spec.text("name")),
        value=float(spec.number("value") or 0.0),
        unit=str(spec.text("unit")),
        description=spec.text("description", required=False) or "",
        source=source,
    )


def _parse_random_effects(spec: _Spec, *, kappa: bool, need_source: bool) -> RandomEffects:
    spec.check_keys(("names", "omega"), ("source", "notes"))
    names_raw = spec.data["names"]
    if (
        not isinstance(names_raw, Sequence)
        or isinstance(names_raw, str)
        or not all(isinstance(n, str) for n in names_raw)
    ):
        raise spec.error(f"names must be a list of strings, got {names_raw!r}")
    names = tuple(names_raw)
    prefix = "KAPPA_" if kappa else "ETA_"
    for name in names:
        if not name.startswith(prefix):
            raise spec.error(f"random effect {name!r} must be named {prefix}*")
    if len(set(names)) != len(names):
        raise spec.error(f"names are not unique: {list(names)}")
    try:
        omega = np.array(spec.data["omega"], dtype=np.float64)
    except (TypeError, ValueError):
        raise spec.error("omega must be a square matrix of numbers (list of rows)") from None
    if omega.ndim == 1:  # shorthand: a list of variances is a diagonal OMEGA
        omega = np.diag(omega)
    if omega.shape != (len(names), len(names)):
        raise spec.error(
            f"omega has shape {omega.shape} but there are {len(names)} names; expected "
            f"({len(names)}, {len(names)})"
        )
    if not np.all(np.isfinite(omega)):
        raise spec.error("omega contains a non-finite value")
    if not np.allclose(omega, omega.T, rtol=0.0, atol=1e-12):
        raise spec.error("omega is not symmetric (give the full matrix, both triangles)")
    if names:
        try:
            np.linalg.cholesky(omega)
        except np.linalg.LinAlgError:
            eigenvalues = ", ".join(f"{v:.4g}" for v in np.linalg.eigvalsh(omega))
            raise spec.error(
                f"omega is not positive definite (eigenvalues {eigenvalues}); check the "
                "covariances (|cov| < sd1*sd2) and that no variance is 0 (remove a fixed-to-zero "
                "eta instead)"
            ) from None
    source = spec.text("source", required=False)
    if need_source and names and source is None:
        raise spec.error("'source' is required (where the variances come from)")
    return RandomEffects(
        names=names,
        omega=_readonly(omega),
        source=source,
        notes=spec.text("notes", required=False),
    )


def _check_unique_names(
    top: _Spec,
    covariates: Sequence[CovariateDefinition],
    thetas: Sequence[ThetaDefinition],
    etas: RandomEffects,
    iov: RandomEffects | None,
) -> None:
    seen: dict[str, str] = {}
    groups: list[tuple[str, Sequence[str]]] = [
        ("covariate", [c.name for c in covariates]),
        ("theta", [t.name for t in thetas]),
        ("eta", etas.names),
        ("kappa", () if iov is None else iov.names),
    ]
    for kind, names in groups:
        for name in names:
            if not _NAME_PATTERN.match(name) or keyword.iskeyword(name):
                raise top.error(f"{kind} name {name!r} is not a valid identifier")
            if name in FUNCTIONS or name == TIME_VARIABLE:
                raise top.error(f"{kind} name {name!r} is reserved")
            if name in seen:
                raise top.error(f"name {name!r} is declared twice ({seen[name]} and {kind})")
            seen[name] = kind


def _parse_parameters(
    top: _Spec,
    structure: Structure,
    covariates: Sequence[CovariateDefinition],
    thetas: Sequence[ThetaDefinition],
    etas: RandomEffects,
    iov: RandomEffects | None,
) -> tuple[tuple[str, Expression], ...]:
    spec = top.sub("parameters")
    assert spec is not None
    raw = dict(spec.data)
    raw.setdefault("bioavailability_frac", "1")
    required = structure.required_parameters
    unknown = sorted(k for k in raw if k not in _PK_FIELDS)
    if unknown:
        raise spec.error(
            f"unknown parameter(s) {', '.join(map(str, unknown))}; PK parameters are "
            f"{', '.join(_PK_FIELDS)}"
        )
    unused = sorted(k for k in raw if k not in required)
    if unused:
        raise spec.error(
            f"parameter(s) {', '.join(unused)} are not used by the structure "
            f"({structure.n_compartments} compartment(s), {structure.absorption.value}, "
            f"lag {'yes' if structure.has_lag else 'no'}), which needs {', '.join(required)}"
        )
    missing = [k for k in required if k not in raw]
    if missing:
        raise spec.error(
            f"missing parameter(s) {', '.join(missing)} required by the structure; it needs "
            f"{', '.join(required)}"
        )
    declared = {
        *(c.name for c in covariates),
        *(t.name for t in thetas),
        *etas.names,
        *(() if iov is None else iov.names),
    }
    compiled: list[tuple[str, Expression]] = []
    used: set[str] = set()
    for name in required:  # canonical order: the structure's
        context = f"model {top.model_id!r}, parameter {name!r}"
        expr = compile_expression(raw[name], context=context)
        undeclared = sorted(expr.names - declared - {TIME_VARIABLE})
        if undeclared:
            raise spec.error(
                f"{name}: expression {expr.source!r} uses undeclared name(s) "
                f"{', '.join(undeclared)}; declared: {', '.join(sorted(declared)) or 'none'}"
            )
        if TIME_VARIABLE in expr.names and name not in _TIME_VARYING_ALLOWED:
            raise spec.error(
                f"{name}: {TIME_VARIABLE} is only allowed in "
                f"{' and '.join(_TIME_VARYING_ALLOWED)} (evaluated per dose)"
            )
        used |= expr.names
        compiled.append((name, expr))
    unused_names = sorted(declared - used)
    if unused_names:
        raise spec.error(
            f"declared but used in no expression: {', '.join(unused_names)}; remove them or use "
            "them (an unused eta or theta usually means a transcription error)"
        )
    return tuple(compiled)


def _parse_residual_error(top: _Spec, need_source: bool) -> ResidualErrorModel:
    spec = top.sub("residual_error")
    assert spec is not None
    spec.check_keys(
        ("model",),
        (
            "proportional_sd",
            "additive_sd_mg_per_l",
            "log_sd",
            "eta_on_residual_sd",
            "source",
            "notes",
        ),
    )
    kind_text = spec.text("model")
    try:
        kind = ResidualErrorKind(kind_text)
    except ValueError:
        allowed = ", ".join(k.value for k in ResidualErrorKind)
        raise spec.error(f"model must be one of {allowed}, got {kind_text!r}") from None
    values = {
        "proportional_sd": spec.number("proportional_sd", required=False),
        "additive_sd_mg_per_l": spec.number("additive_sd_mg_per_l", required=False),
        "log_sd": spec.number("log_sd", required=False),
    }
    needed = {
        ResidualErrorKind.PROPORTIONAL: ("proportional_sd",),
        ResidualErrorKind.ADDITIVE: ("additive_sd_mg_per_l",),
        ResidualErrorKind.COMBINED: ("proportional_sd", "additive_sd_mg_per_l"),
        ResidualErrorKind.LOG_ADDITIVE: ("log_sd",),
    }[kind]
    for key, value in values.items():
        if key in needed and value is None:
            raise spec.error(f"a {kind.value} error model needs {key}")
        if key not in needed and value is not None:
            raise spec.error(
                f"{key} is given but a {kind.value} error model does not use it (ambiguous: fix "
                "the model kind or remove the value)"
            )
        if value is not None and value < 0:
            raise spec.error(f"{key} must be >= 0, got {value:g}")
    if all((values[k] or 0.0) == 0.0 for k in needed):
        raise spec.error("the residual error SD is zero")
    eta_res = spec.number("eta_on_residual_sd", required=False)
    if eta_res is not None and eta_res < 0:
        raise spec.error(f"eta_on_residual_sd must be >= 0, got {eta_res:g}")
    source = spec.text("source", required=False)
    if need_source and source is None:
        raise spec.error("'source' is required")
    return ResidualErrorModel(
        kind=kind,
        proportional_sd=values["proportional_sd"],
        additive_sd_mg_per_l=values["additive_sd_mg_per_l"],
        log_sd=values["log_sd"],
        eta_on_residual_sd=eta_res,
        source=source,
        notes=spec.text("notes", required=False),
    )


_POPULATION_KEYS = (
    "n_patients",
    "n_samples",
    "indication",
    "age_group",
    "age_range_years",
    "weight_range_kg",
    "ethnicity",
)


def _parse_population(top: _Spec) -> PopulationDescription:
    spec = top.sub("population")
    assert spec is not None
    spec.check_keys(("description",), (*_POPULATION_KEYS, *(str(k) for k in spec.data)))
    indication_raw = spec.data.get("indication")
    if indication_raw is None:
        indication: tuple[str, ...] = ()
    elif isinstance(indication_raw, str):
        indication = (indication_raw,)
    elif isinstance(indication_raw, Sequence):
        indication = tuple(str(i) for i in indication_raw)
    else:
        raise spec.error(f"indication must be a list of text, got {indication_raw!r}")
    extra = tuple(
        (str(k), str(v))
        for k, v in spec.data.items()
        if k not in _POPULATION_KEYS and k != "description" and v is not None
    )
    return PopulationDescription(
        description=str(spec.text("description")),
        n_patients=spec.integer("n_patients"),
        n_samples=spec.integer("n_samples"),
        indication=indication,
        age_group=spec.text("age_group", required=False),
        age_range_years=spec.text("age_range_years", required=False),
        weight_range_kg=spec.text("weight_range_kg", required=False),
        ethnicity=spec.text("ethnicity", required=False),
        extra=extra,
    )


def _parse_concentration(top: _Spec) -> ConcentrationBasis:
    spec = top.sub("concentration")
    assert spec is not None
    spec.check_keys(("analyte", "basis", "unit"), ("notes",))
    unit = str(spec.text("unit"))
    if unit.replace(" ", "").lower() not in ("mg/l", "ug/ml", "µg/ml"):
        raise spec.error(
            f"unit must be mg/L (doses in mg and volumes in L give mg/L), got {unit!r}; convert "
            "additive error values to mg/L"
        )
    return ConcentrationBasis(
        analyte=str(spec.text("analyte")), basis=str(spec.text("basis")), unit="mg/L"
    )


def _parse_verification(top: _Spec) -> Verification:
    spec = top.sub("verification")
    assert spec is not None
    spec.check_keys(("grade", "note"), ("discrepancies",))
    grade = str(spec.text("grade"))
    if not _GRADE_PATTERN.match(grade):
        raise spec.error(f"grade must be A, B, C or D, optionally with + or -, got {grade!r}")
    raw = spec.data.get("discrepancies") or []
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise spec.error("discrepancies must be a list of text")
    return Verification(
        grade=grade, note=str(spec.text("note")), discrepancies=tuple(str(d) for d in raw)
    )


def _check_reference_parameters(model: PopPKModel) -> None:
    """Typical parameters at the reference covariates must be valid (catches sign typos)."""
    if any(c.reference is None for c in model.covariates):
        return
    covariates = {c.name: np.array([c.reference], dtype=np.float64) for c in model.covariates}
    resolved = ResolvedCovariates(model.id, 1, covariates, ())
    dose_times = np.array([0.0, 24.0, 24.0 * 365.0]) if model.time_varying_parameters else None
    try:
        typical_parameters(model, resolved, dose_times_h=dose_times)
    except ModelDomainError as exc:
        raise ModelDefinitionError(
            f"model {model.id!r}: typical parameters at the reference covariates are invalid: "
            f"{exc.message}",
            model_id=model.id,
        ) from None


# --- covariates -------------------------------------------------------------------------------


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


def _resolve(
    model: PopPKModel, covariates: Mapping[str, Any], *, substitute: bool
) -> ResolvedCovariates:
    arrays: dict[str, FloatArray] = {}
    n_patients = 1
    sizes: dict[str, int] = {}
    for cov in model.covariates:
        value = covariates.get(cov.name)
        if value is None:
            continue
        arr = _as_covariate_array(cov.name, value)
        if arr.ndim == 1:
            sizes[cov.name] = arr.shape[0]
        arrays[cov.name] = arr
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
        arr = np.broadcast_to(arrays.get(cov.name, np.float64(np.nan)), (n_patients,)).copy()
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
        covariates than any one model uses); ``None`` or ``nan`` means missing (per patient for
        arrays). Scalars are broadcast to the other arrays' ``n_patients``.

    Returns
    -------
    ResolvedCovariates
        Arrays of shape ``(n_patients,)`` for every declared covariate, and the warnings: one per
        substituted covariate and one per covariate outside its SOFT domain.

    Raises
    ------
    MissingCovariateError
        Covariates without a ``when_missing`` rule are missing; ``missing`` lists all of them and
        the message says what each one means.
    ModelDomainError
        A covariate lies outside a HARD domain (all violations are listed).
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
        Soft-domain excursions (with value, domain and source) and documented substitutions of
        missing covariates; empty when the patient lies inside the model's population.

    Raises
    ------
    MissingCovariateError, ModelDomainError, CaseError
        As :func:`resolve_covariates`.
    """
    return list(resolve_covariates(model, covariates).warnings)


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
        name: np.broadcast_to(values, (n_patients,)) for name, values in resolved.values.items()
    }
    env.update({t.name: np.full(n_patients, t.value) for t in model.thetas})
    for names, matrix in ((model.eta_names, eta_matrix), (model.kappa_names, kappa_matrix)):
        for i, name in enumerate(names):
            env[name] = (
                np.zeros(n_patients)
                if matrix is None
                else np.broadcast_to(matrix[:, i], (n_patients,))
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
        result = np.broadcast_to(result, shape).astype(np.float64)
        _check_parameter(model, name, expr, result)
        values[name] = result
    return PKParameters.create(**values)


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
