"""Patient factors of an imatinib level (issue #4): BMI, AGP, albumin, WBC, haemoglobin,
gastrectomy, time on therapy, sex and age, read against ``data/patient_factors.yaml``.

Where the chosen model carries a factor's covariate, the finding gives the model-predicted typical
trough ratio at the patient's value versus the model's reference value; where it does not, the
ratio comes from a library model that carries it (the entry's ``reference_models``), labelled so.
Severity cut-offs are software choices (how loudly to report), not clinical facts.

Imports pk, case and the tdm knowledge loaders; never report, store or service.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imatinib_tdm.case import Case
from imatinib_tdm.errors import MissingCovariateError, ModelDomainError, UnknownModelError
from imatinib_tdm.pk import (
    PopPKModel,
    predict_steady_state_trough,
    resolve_covariates,
    typical_parameters,
)
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm._findings import Finding, FindingCategory, Severity
from imatinib_tdm.tdm._knowledge import load_dosing_rules
from imatinib_tdm.tdm._patient_factor_rules import PatientFactor, load_patient_factors
from imatinib_tdm.tdm._regimens import Regimen, current_regimen

__all__ = ["MODEL_RATIO_CAUTION", "assess_patient_factors"]

HOURS_PER_DAY = 24.0  # definition of the units

MODEL_RATIO_CAUTION = 1.25
"""A model-predicted trough ratio beyond [1/1.25, 1.25] makes a patient-factor finding a caution
(software choice: see docs/interpretation-rules.md)."""


# --- patient factors --------------------------------------------------------------------------

_LAB_FACTORS: tuple[tuple[str, str, str], ...] = (
    ("agp", "agp_g_per_l", "g/L"),
    ("albumin", "albumin_g_per_l", "g/L"),
    ("wbc", "wbc_10e9_per_l", "10^9/L"),
    ("haemoglobin", "hemoglobin_g_per_dl", "g/dL"),
)

_DIRECTION_TEXT = {
    "higher_exposure": "raises exposure",
    "lower_exposure": "lowers exposure",
    "conflicting": "has a conflicting published effect on exposure",
    "unknown": "has an effect on exposure of unreported direction",
}


# Typical steady-state troughs already computed in one assess_patient_factors call, by model
# object and covariate values: the patient's own trough is the numerator of every factor's
# ratio. The model is kept in the value so that its id() cannot be reused while the memo lives.
_MemoKey = tuple[int, tuple[tuple[str, float], ...]]
_TroughMemo = dict[_MemoKey, tuple[PopPKModel, float | None]]


def _memo_key(model: PopPKModel, values: dict[str, float]) -> _MemoKey:
    return id(model), tuple(sorted(values.items()))


def _typical_trough(
    model: PopPKModel, values: dict[str, float], regimen: Regimen, memo: _TroughMemo
) -> float | None:
    """Typical steady-state trough (mg/L) of ``regimen`` at ``values``; None when the covariates
    are missing or outside the model's hard domain."""
    key = _memo_key(model, values)
    if key not in memo:
        try:
            resolved = resolve_covariates(model, values)
            # typical parameters can be out of range too (e.g. an additive covariate model at
            # an extreme value): no ratio then, never an error in the interpretation
            trough = predict_steady_state_trough(
                model.structure,
                typical_parameters(model, resolved),
                dose_mg=regimen.dose_mg,
                interval_h=regimen.interval_h,
            )[0]
        except (MissingCovariateError, ModelDomainError):
            memo[key] = (model, None)
        else:
            memo[key] = (model, float(trough))
    return memo[key][1]


@dataclass(frozen=True)
class _Patient:
    """What every factor of one assessment reads from the case, derived once."""

    regimen: Regimen | None
    values: dict[str, float]  # case.covariate_values(); copied before any change


def _ratio_values(
    patient: _Patient, model: PopPKModel, names: tuple[str, ...], *, fill_missing: bool
) -> tuple[str, float, dict[str, float], dict[str, float]] | None:
    """(covariate, reference value, covariates at the patient, the same with the covariate at
    its reference) for the first of ``names`` that the model carries and the case gives."""
    if patient.regimen is None or model.time_varying_parameters:
        return None
    values = dict(patient.values)
    if fill_missing:
        # a reference model's other covariates at its own reference values when the case lacks
        # them: in a ratio of two troughs at the same values they largely cancel
        for covariate in model.covariates:
            if covariate.name not in values and covariate.reference is not None:
                values[covariate.name] = float(covariate.reference)
    for name in names:
        if name not in model.covariate_names or name not in values:
            continue
        reference = model.covariate(name).reference
        if reference is None:
            return None
        return name, float(reference), values, {**values, name: float(reference)}
    return None


def _model_ratio(
    patient: _Patient,
    model: PopPKModel,
    names: tuple[str, ...],
    *,
    fill_missing: bool = False,
    memo: _TroughMemo | None = None,
) -> tuple[str, float, float] | None:
    """(covariate, reference value, typical-trough ratio patient / reference) for the first of
    ``names`` that the model carries and the case gives; None when it cannot be computed.

    The ratio is of typical steady-state troughs of the current regimen, every other covariate
    at the patient's value. None for a model with time-varying parameters, without a repeating
    regimen, without a reference value, or when the case lacks a covariate the model needs.
    ``memo`` shares troughs between the calls of one assessment (same case, same regimen).
    """
    request = _ratio_values(patient, model, names, fill_missing=fill_missing)
    regimen = patient.regimen
    if request is None or regimen is None:
        return None
    memo = {} if memo is None else memo
    name, reference, at_patient_values, at_reference_values = request
    at_patient = _typical_trough(model, at_patient_values, regimen, memo)
    if at_patient is None:
        return None
    at_reference = _typical_trough(model, at_reference_values, regimen, memo)
    if at_reference is None or at_reference <= 0:
        return None
    return name, reference, float(at_patient / at_reference)


def _prefetch_troughs(
    patient: _Patient, model: PopPKModel, entries: list[PatientFactor], memo: _TroughMemo
) -> None:
    """Compute, one array call per model, every typical trough the factor findings will ask for.

    Each finding compares two typical troughs (patient vs reference value); computed one by one
    that is ~10 small calls per interpretation. Batched, the findings read them from ``memo``.
    A batch that fails (a value outside a model's hard domain) is left to the per-finding path,
    which records that one value as not computable.
    """
    regimen = patient.regimen
    if regimen is None:
        return
    requests: list[tuple[PopPKModel, dict[str, float]]] = []
    for entry in entries:
        for source in _ratio_sources(model, entry):
            found = _ratio_values(
                patient, source, entry.model_covariates, fill_missing=source is not model
            )
            if found is not None:
                requests += [(source, found[2]), (source, found[3])]
    groups: dict[tuple[int, tuple[str, ...]], tuple[PopPKModel, list[dict[str, float]]]] = {}
    for one_model, values in requests:
        key = (id(one_model), tuple(sorted(values)))
        if _memo_key(one_model, values) in memo:
            continue
        group = groups.setdefault(key, (one_model, []))
        if values not in group[1]:
            group[1].append(values)
    for (_, names), (one_model, value_sets) in groups.items():
        if len(value_sets) < 2:
            continue
        columns = {n: np.array([v[n] for v in value_sets], dtype=np.float64) for n in names}
        try:
            troughs = predict_steady_state_trough(
                one_model.structure,
                typical_parameters(one_model, resolve_covariates(one_model, columns)),
                dose_mg=regimen.dose_mg,
                interval_h=regimen.interval_h,
            )
        except (MissingCovariateError, ModelDomainError):
            continue
        for values, trough in zip(value_sets, troughs, strict=True):
            memo[_memo_key(one_model, values)] = (one_model, float(trough))


def _reference_models(entry: PatientFactor) -> list[PopPKModel]:
    models = []
    for model_id in entry.reference_models:
        try:
            models.append(get_model(model_id))
        except UnknownModelError:  # a knowledge file naming a removed model: skip, not fail
            continue
    return models


def _carries(model: PopPKModel, entry: PatientFactor) -> bool:
    return bool(set(entry.model_covariates) & set(model.covariate_names))


def _ratio_sources(model: PopPKModel, entry: PatientFactor) -> list[PopPKModel]:
    """The models a factor's trough ratio is taken from, in order: the chosen model, then, when
    it does not carry the factor, the entry's reference models (the first that gives one)."""
    return [model] if _carries(model, entry) else [model, *_reference_models(entry)]


def _factor_finding(
    patient: _Patient,
    model: PopPKModel,
    entry: PatientFactor,
    *,
    label: str,
    value: float | None,
    value_key: str | None,
    outside: bool,
    detail: str,
    memo: _TroughMemo | None = None,
) -> Finding:
    evidence: dict[str, float | int | bool | None] = {}
    if value_key is not None:
        evidence[value_key] = value
    if entry.effect is not None:
        evidence[entry.effect.evidence_key] = entry.effect.value
    carried = _carries(model, entry)
    ratio, source_model = None, model
    for source in _ratio_sources(model, entry):
        ratio = _model_ratio(
            patient, source, entry.model_covariates, fill_missing=source is not model, memo=memo
        )
        if ratio is not None:
            source_model = source
            break
    severity = Severity.CAUTION if outside else Severity.INFO
    parts = [f"{label}{detail}; published: {entry.condition} {_DIRECTION_TEXT[entry.direction]}."]
    if entry.effect is not None:
        parts.append(entry.effect.statement)
    if not carried:
        parts.append(f"Model {model.id} does not carry it: its predictions ignore this factor.")
    if ratio is not None:
        name, reference, trough_ratio = ratio
        evidence["model_reference_value"] = reference
        evidence["model_trough_ratio"] = trough_ratio
        if source_model is model:
            parts.append(
                f"Model {model.id} ({name}): typical trough x{trough_ratio:.2f} at the "
                f"patient's value versus its reference {reference:g}."
            )
        else:
            parts.append(
                f"Published model {source_model.id} carries {name}: "
                f"typical trough x{trough_ratio:.2f} at the patient's value versus its "
                f"reference {reference:g} (its other covariates at the patient's values or its "
                "reference values)."
            )
        if not 1.0 / MODEL_RATIO_CAUTION <= trough_ratio <= MODEL_RATIO_CAUTION:
            severity = Severity.CAUTION
    elif carried:
        parts.append(f"Model {model.id} carries it, but its effect could not be computed here.")
    return Finding(
        code=f"patient_factor_{entry.factor}",
        category=FindingCategory.PATIENT_FACTORS,
        severity=severity,
        message=" ".join(parts),
        evidence=evidence,
        recommendation=(
            "Take this factor into account when explaining the level; prefer a model that "
            "carries it."
            if severity is not Severity.INFO
            else ""
        ),
        references=(entry.id,),
    )


def _child_body_size_finding(
    bmi: float, adult_age: float, model: PopPKModel, entry: PatientFactor
) -> Finding:
    """Body size of a child: the adult BMI categories and their effect size do not apply."""
    carried = _carries(model, entry)
    carried_text = (
        f"model {model.id} carries weight, so it is in the individual estimate"
        if carried
        else f"model {model.id} does not carry weight"
    )
    return Finding(
        code="patient_factor_bmi",
        category=FindingCategory.PATIENT_FACTORS,
        severity=Severity.INFO,
        message=(
            f"BMI {bmi:.1f} kg/m2 in a patient younger than {adult_age:g} years: the published "
            "BMI categories and their effect on imatinib exposure come from adults and are not "
            "applied; body size is carried by the body-surface-area dose and "
            f"{carried_text}. The knowledge base has no BMI-for-age reference."
        ),
        evidence={"bmi_kg_per_m2": bmi, "adult_min_age_years": adult_age},
        recommendation="",
        references=(entry.id,),
    )


def assess_patient_factors(case: Case, model: PopPKModel) -> list[Finding]:
    """Patient-factor findings: each factor the case gives, read against the knowledge base.

    Parameters
    ----------
    case : Case
    model : PopPKModel
        The chosen model; where it carries a factor's covariate, the finding gives the
        model-predicted typical-trough ratio at the patient's value versus the model's reference.

    Returns
    -------
    list of Finding
        Category ``patient_factors``, in the order BMI, AGP, albumin, WBC, haemoglobin,
        gastrectomy, time on therapy, sex, age, then ``patient_factors_missing`` (info) listing
        what the case does not give. Never raises for missing data.

    Notes
    -----
    * BMI (weight / height^2) is compared with the bands of ``bmi_exposure_r9``; outside the
      normal band it is a caution.
    * The knowledge base gives no typical range for AGP, albumin, WBC or haemoglobin, so their
      level alone is never judged abnormal: the finding is a caution only when the model-predicted
      trough ratio lies outside [0.8, 1.25] (``MODEL_RATIO_CAUTION``, a software choice), else info.
    * A prior gastrectomy is a caution (lower exposure, magnitude unpublished); no gastrectomy
      gives no finding. Time on therapy, sex and age are info (conflicting, unquantified or of
      unreported direction in the knowledge base).
    """
    rules = load_patient_factors()
    values = case.covariate_values()
    patient = case.patient
    findings: list[Finding] = []
    missing: list[str] = []
    memo: _TroughMemo = {}
    view = _Patient(current_regimen(case), dict(values))
    _prefetch_troughs(view, model, list(rules.factors), memo)

    bmi_entry = rules.for_factor("bmi")
    if bmi_entry is not None:
        if patient.weight_kg is not None and patient.height_cm is not None:
            bmi = float(patient.weight_kg) / (float(patient.height_cm) / 100.0) ** 2  # cm -> m
            adult_age = load_dosing_rules().adult_min_age.value
            is_child = patient.age_years is not None and float(patient.age_years) < adult_age
            if is_child:
                findings.append(_child_body_size_finding(bmi, adult_age, model, bmi_entry))
            else:
                band = bmi_entry.band_for(bmi)
                findings.append(
                    _factor_finding(
                        view,
                        model,
                        bmi_entry,
                        label="BMI",
                        value=bmi,
                        value_key="bmi_kg_per_m2",
                        outside=band is not None and band.exposure != "reference",
                        detail=f" {bmi:.1f} kg/m2" + (f" ({band.name})" if band else ""),
                        memo=memo,
                    )
                )
        else:
            missing.extend(n for n in ("weight_kg", "height_cm") if getattr(patient, n) is None)

    for factor, field, unit in _LAB_FACTORS:
        entry = rules.for_factor(factor)
        if entry is None:
            continue
        if field not in values:
            missing.append(field)
            continue
        findings.append(
            _factor_finding(
                view,
                model,
                entry,
                label=factor.upper() if factor in ("agp", "wbc") else factor.capitalize(),
                value=values[field],
                value_key=field,
                outside=False,
                detail=f" {values[field]:g} {unit} (no typical range in the knowledge base)",
                memo=memo,
            )
        )

    gastrectomy = rules.for_factor("gastrectomy")
    if gastrectomy is not None:
        if patient.gastrectomy is None:
            missing.append("gastrectomy")
        elif patient.gastrectomy:
            findings.append(
                _factor_finding(
                    view,
                    model,
                    gastrectomy,
                    label="Prior gastrectomy",
                    value=None,
                    value_key=None,
                    outside=True,
                    detail=" (magnitude not published)",
                    memo=memo,
                )
            )

    time_entry = rules.for_factor("time_on_therapy")
    times = case.sample_times_h()
    if time_entry is not None and times.size:
        days = float(times.max()) / HOURS_PER_DAY
        findings.append(
            _factor_finding(
                view,
                model,
                time_entry,
                label="Time on therapy",
                value=days,
                value_key="days_on_therapy",
                outside=False,
                detail=f" {days:.0f} days at the latest sample",
                memo=memo,
            )
        )

    sex_entry = rules.for_factor("sex")
    if sex_entry is not None:
        if "sex_male" in values:
            female = values["sex_male"] == 0.0
            findings.append(
                _factor_finding(
                    view,
                    model,
                    sex_entry,
                    label="Sex",
                    value=values["sex_male"],
                    value_key="sex_male",
                    outside=False,
                    detail=" female" if female else " male",
                    memo=memo,
                )
            )
        else:
            missing.append("sex")

    age_entry = rules.for_factor("age")
    if age_entry is not None:
        if "age_years" in values:
            findings.append(
                _factor_finding(
                    view,
                    model,
                    age_entry,
                    label="Age",
                    value=values["age_years"],
                    value_key="age_years",
                    outside=False,
                    detail=f" {values['age_years']:g} years",
                    memo=memo,
                )
            )
        else:
            missing.append("age_years")

    if missing:
        findings.append(
            Finding(
                code="patient_factors_missing",
                category=FindingCategory.PATIENT_FACTORS,
                severity=Severity.INFO,
                message=(
                    "Not given, so not assessed as patient factors: " + ", ".join(missing) + "."
                ),
                evidence={"n_missing_factors": len(missing)},
                recommendation="Add the missing values to the case when available.",
                references=tuple(
                    e.id
                    for e in rules.factors
                    if set(e.case_fields) & set(missing) or (e.factor == "sex" and "sex" in missing)
                ),
            )
        )
    return findings
