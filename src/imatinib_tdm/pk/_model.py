"""The population PK model type and its value types (immutable data, no behaviour beyond accessors).

A :class:`PopPKModel` is immutable data built once from a specification mapping (a parsed YAML,
TOML or JSON model file, or a Python dict) by :func:`~imatinib_tdm.pk._model_spec.create_model`,
which checks everything that can be checked before any patient is seen. Behaviour lives in
module-level functions of sibling modules:

- :mod:`imatinib_tdm.pk._model_spec`: :func:`create_model` and the specification parsing;
- :mod:`imatinib_tdm.pk._covariates`: :func:`resolve_covariates` / :func:`check_covariates`
  (applicability) and :func:`required_covariates`;
- :mod:`imatinib_tdm.pk._individual`: :func:`individual_parameters` / :func:`typical_parameters`
  (PK parameters for the engine) and :func:`sample_etas` / :func:`sample_kappas` (Monte Carlo).

Those modules import this one, never the reverse, so the public names are re-exported by
:mod:`imatinib_tdm.pk`, not here. The file format is documented in ``docs/custom-models.md``.
This module imports only numpy, the expression language and :mod:`imatinib_tdm.pk._structures`;
it must not import ``case``, ``tdm``, ``report``, ``store`` or ``service``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.pk._expression import Expression
from imatinib_tdm.pk._structures import Structure

__all__ = [
    "APPLICABILITY_NAMES",
    "TIME_VARIABLE",
    "ApplicabilityCriterion",
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
]

FloatArray = NDArray[np.float64]

TIME_VARIABLE = "time_since_first_dose_h"
"""Special expression variable: time of each dose since the first dose of therapy, in hours."""

APPLICABILITY_NAMES = frozenset(
    {
        # Case.covariate_values(): patient characteristics ...
        "age_years",
        "weight_kg",
        "height_cm",
        "sex_male",
        "indication_gist",
        "gastrectomy",
        # ... and laboratory / disease covariates (case Covariates fields)
        "wbc_10e9_per_l",
        "hemoglobin_g_per_dl",
        "albumin_g_per_l",
        "agp_g_per_l",
        "rbc_10e12_per_l",
        "plt_10e9_per_l",
        "neutrophils_pct",
        "neutrophils_10e9_per_l",
        "egfr_ml_per_min_per_1_73m2",
        "crcl_ml_per_min",
        "liver_metastasis_volume_cm3",
        # the studied dose range (mg/day); checked only when a caller passes it
        "daily_dose_mg",
    }
)
"""Names an ``applicability`` entry may use: the canonical case covariate names and
``daily_dose_mg`` (a test keeps this set equal to the case's names)."""


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
    OUTSIDE_STUDIED_POPULATION = "outside_studied_population"
    """A patient characteristic that is not a covariate of the model (an ``applicability`` entry,
    e.g. age for a model built on adults) lies outside the range of the studied population."""


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
class ApplicabilityCriterion:
    """A characteristic of the studied population that is not a covariate of the model.

    Checked by :func:`resolve_covariates` when the caller gives a value under ``name`` (outside a
    SOFT domain: a :class:`DomainWarning` of kind ``OUTSIDE_STUDIED_POPULATION``; outside a HARD
    one: ``ModelDomainError``); never checked, and never an error, when no value is given. The
    value never enters an expression.

    Attributes
    ----------
    name : str
        Canonical case name of the characteristic (``age_years``, ``weight_kg``, ...), or
        ``daily_dose_mg`` (a dose range, checked only when a caller passes the daily dose).
    unit : str
        Unit of the bounds.
    domain : CovariateDomain
        The studied range (at least one bound) and how strictly it applies; its ``source`` is the
        entry's source.
    description : str or None
        What the characteristic is, when the name is not enough.
    source : str or None
        Where the range comes from (None only for ``test_only`` models).
    notes : str or None
    """

    name: str
    unit: str
    domain: CovariateDomain
    description: str | None = None
    source: str | None = None
    notes: str | None = None


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
    applicability : tuple of ApplicabilityCriterion
        Studied ranges of characteristics that are not covariates (e.g. age for a model built on
        adults). Checked only for the names a caller gives; a caller that wants to say which
        ones were *not* checked compares these names with the values it has.
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
    applicability: tuple[ApplicabilityCriterion, ...] = ()
    source_path: str | None = field(default=None, compare=False)
    builtin: bool = field(default=False, compare=False)

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Names of the declared covariates, in file order."""
        return tuple(c.name for c in self.covariates)

    @property
    def applicability_names(self) -> tuple[str, ...]:
        """Names of the ``applicability`` entries (not covariates), in file order."""
        return tuple(a.name for a in self.applicability)

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

    Also issued for an ``applicability`` entry (kind ``OUTSIDE_STUDIED_POPULATION``): then
    ``covariate`` is the entry's name (a characteristic that is not a covariate of the model).

    Not a Python warning: it is returned so the caller can turn it into a finding in a result.

    Attributes
    ----------
    kind : DomainWarningKind
    model_id, covariate, unit : str
    values : tuple of float
        The offending values (OUTSIDE_SOFT_DOMAIN, OUTSIDE_STUDIED_POPULATION) or the substituted
        value (MISSING_SUBSTITUTED).
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
        Every substitution, every soft-domain excursion and every value outside a soft
        ``applicability`` range (those values are checked only, and are not in ``values``).
    """

    model_id: str
    n_patients: int
    values: Mapping[str, FloatArray]
    warnings: tuple[DomainWarning, ...]
