"""Building a :class:`~imatinib_tdm.pk._model.PopPKModel` from a specification (create_model).

The specification is a mapping (a parsed YAML, TOML or JSON model file, or a Python dict; format
in ``docs/custom-models.md``). Everything that can be checked before any patient is seen is
checked here: names, expressions, the variance-covariance matrices, the residual error model and
the structure's parameter set. This module imports only numpy, the expression language, the
sibling ``pk`` model modules, :mod:`imatinib_tdm.pk._structures` and :mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from imatinib_tdm.errors import ModelDefinitionError, ModelDomainError
from imatinib_tdm.pk._expression import FUNCTIONS, Expression, compile_expression
from imatinib_tdm.pk._individual import typical_parameters
from imatinib_tdm.pk._model import (
    APPLICABILITY_NAMES,
    TIME_VARIABLE,
    ApplicabilityCriterion,
    ConcentrationBasis,
    CovariateDefinition,
    CovariateDomain,
    DomainKind,
    FloatArray,
    MissingCovariateRule,
    PopPKModel,
    PopulationDescription,
    RandomEffects,
    ResidualErrorKind,
    ResidualErrorModel,
    ResolvedCovariates,
    ThetaDefinition,
    Verification,
)
from imatinib_tdm.pk._spec import _Spec
from imatinib_tdm.pk._structures import Absorption, PKParameters, Structure

__all__ = ["create_model"]

_TIME_VARYING_ALLOWED = ("ka_per_h", "bioavailability_frac")
_PK_FIELDS = tuple(f.name for f in fields(PKParameters))
_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_GRADE_PATTERN = re.compile(r"^[ABCD][+-]?$")


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
_TOP_OPTIONAL = (
    "doi",
    "doi_note",
    "pmid",
    "covariates",
    "applicability",
    "etas",
    "iov",
    "notes",
    "test_only",
)


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
    reference values inside them; ``applicability`` entries named with canonical case covariate
    names (or ``daily_dose_mg``), listed once, not also covariates, bounded and sourced; the
    concentration unit mg/L; and, when every covariate has a reference value, typical parameters
    at the reference finite and positive.
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
    applicability = _parse_applicability(top, covariates, need_source)
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
        applicability=applicability,
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
    domain_spec = spec.sub("domain", required=False)
    domain = None if domain_spec is None else _parse_domain(domain_spec)
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


def _parse_domain(spec: _Spec, *, default_source: str | None = None) -> CovariateDomain:
    spec.check_keys(("kind",), ("min", "max", "source", "notes"))
    kind_text = spec.text("kind")
    try:
        kind = DomainKind(kind_text)
    except ValueError:
        raise spec.error(f"kind must be 'hard' or 'soft', got {kind_text!r}") from None
    low = spec.number("min", required=False)
    high = spec.number("max", required=False)
    if low is not None and high is not None and low > high:
        raise spec.error(f"min {low:g} is greater than max {high:g}")
    return CovariateDomain(low, high, kind, spec.text("source", required=False) or default_source)


def _parse_applicability(
    top: _Spec, covariates: Sequence[CovariateDefinition], need_source: bool
) -> tuple[ApplicabilityCriterion, ...]:
    """The ``applicability`` list: studied ranges of characteristics that are not covariates."""
    covariate_names = {c.name for c in covariates}
    criteria: list[ApplicabilityCriterion] = []
    seen: set[str] = set()
    for spec in top.items("applicability"):
        spec.check_keys(("name", "unit", "domain"), ("description", "source", "notes"))
        name = str(spec.text("name"))
        if name not in APPLICABILITY_NAMES:
            raise spec.error(
                f"name {name!r} is not a canonical case covariate name; allowed: "
                f"{', '.join(sorted(APPLICABILITY_NAMES))}"
            )
        if name in covariate_names:
            raise spec.error(
                f"{name!r} is also declared as a covariate; the covariate's own domain applies, "
                "so give the studied range there (covariates[].domain) and remove this entry"
            )
        if name in seen:
            raise spec.error(f"{name!r} is listed twice in applicability")
        seen.add(name)
        source = spec.text("source", required=False)
        if need_source and source is None:
            raise spec.error("'source' is required (where the studied range comes from)")
        domain_spec = spec.sub("domain")
        assert domain_spec is not None
        domain = _parse_domain(domain_spec, default_source=source)
        if domain.min_value is None and domain.max_value is None:
            raise domain_spec.error("give 'min', 'max' or both (an unbounded range checks nothing)")
        criteria.append(
            ApplicabilityCriterion(
                name=name,
                unit=str(spec.text("unit")),
                domain=domain,
                description=spec.text("description", required=False),
                source=source,
                notes=spec.text("notes", required=False),
            )
        )
    return tuple(criteria)


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
