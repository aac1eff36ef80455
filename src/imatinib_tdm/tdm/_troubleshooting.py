"""Troubleshooting of an imatinib level: adherence and patient factors (issue #4).

* :func:`assess_adherence` places an observed trough in the model's population distribution for
  this patient's dose and covariates (full adherence assumed), gives the apparent relative
  bioavailability needed to explain it, flags a level below the LLOQ on regular dosing and the
  recorded missed doses, with the published adherent and non-adherent troughs as context.
* :func:`assess_patient_factors` reads each patient factor the case gives against
  ``data/patient_factors.yaml`` and, where the chosen model carries the covariate, gives the
  model-predicted trough ratio at the patient's value versus the model's reference value.

Severity cut-offs below are software choices (how loudly to report), not clinical facts.

Imports pk, case and the tdm knowledge loaders; never report, store or service.
"""

from __future__ import annotations

import numpy as np

from imatinib_tdm.case import Case
from imatinib_tdm.errors import MissingCovariateError, ModelDomainError
from imatinib_tdm.pk import (
    PopPKModel,
    ResolvedCovariates,
    predict_steady_state_trough,
    resolve_covariates,
    simulate_population,
    simulate_steady_state_troughs,
    simulate_typical,
    typical_parameters,
)
from imatinib_tdm.pk.inputs import case_to_dose_history
from imatinib_tdm.tdm._findings import Finding, FindingCategory, Severity
from imatinib_tdm.tdm._knowledge import load_dosing_rules, load_trough_correction
from imatinib_tdm.tdm._patient_factor_rules import PatientFactor, load_patient_factors
from imatinib_tdm.tdm._regimens import current_regimen

__all__ = ["assess_adherence", "assess_patient_factors"]

MG_PER_L_TO_NG_PER_ML = 1000.0  # 1 mg/L = 1000 ng/mL (definition of the units)
HOURS_PER_DAY = 24.0  # definition of the units

# Software choices (report loudness), not clinical facts: see docs/interpretation-rules.md.
WARNING_PERCENTILE = 5.0
"""An observed trough below this percentile of the population distribution is a warning."""
CAUTION_PERCENTILE = 10.0
"""Below this percentile (and not below WARNING_PERCENTILE) it is a caution."""
CRITICAL_PROBABILITY_BELOW_LLOQ = 0.01
"""A level below the LLOQ that the model gives less than this probability under full adherence
is critical (otherwise a warning)."""
MODEL_RATIO_CAUTION = 1.25
"""A model-predicted trough ratio beyond [1/1.25, 1.25] makes a patient-factor finding a caution."""


# --- adherence --------------------------------------------------------------------------------


def _reference_distribution(
    case: Case,
    model: PopPKModel,
    resolved: ResolvedCovariates,
    *,
    n_individuals: int,
    seed: int,
) -> tuple[np.ndarray, float, str] | None:
    """Simulated troughs (ng/mL), the typical trough (ng/mL) and a description; None if impossible.

    Full adherence is assumed: the steady-state trough of the current regimen, or (models with
    time-varying parameters) the prediction at the latest sample time with every missed dose
    taken.
    """
    regimen = current_regimen(case)
    if regimen is not None and not model.time_varying_parameters:
        sim = simulate_steady_state_troughs(
            model,
            resolved,
            dose_mg=regimen.dose_mg,
            interval_h=regimen.interval_h,
            n_individuals=n_individuals,
            seed=seed,
        )
        typical = predict_steady_state_trough(
            model.structure,
            typical_parameters(model, resolved),
            dose_mg=regimen.dose_mg,
            interval_h=regimen.interval_h,
        )[0]
        return (
            np.asarray(sim.troughs_mg_per_l) * MG_PER_L_TO_NG_PER_ML,
            float(typical) * MG_PER_L_TO_NG_PER_ML,
            f"steady-state trough on {regimen.dose_mg:g} mg every {regimen.interval_h:g} h",
        )
    times = case.sample_times_h()
    if times.size == 0:
        return None
    latest = np.array([float(times.max())])
    adherent = case.replace(missed_doses=())
    doses = case_to_dose_history(adherent)
    sim_pop = simulate_population(
        model, resolved, doses, latest, n_individuals=n_individuals, seed=seed
    )
    typical_c = simulate_typical(model, resolved, doses, latest)[0, 0]
    return (
        np.asarray(sim_pop.concentrations_mg_per_l)[:, 0] * MG_PER_L_TO_NG_PER_ML,
        float(typical_c) * MG_PER_L_TO_NG_PER_ML,
        "concentration at the latest sample time with every recorded dose taken",
    )


def _missed_dose_finding(case: Case) -> Finding | None:
    missed = case.missed_dose_times_h()
    if not missed:
        return None
    days_rule = load_trough_correction().sampling_days
    window_days = days_rule.min_days_after_dose_change
    times = case.sample_times_h()
    end_h = float(times.max()) if times.size else max(t for t, _ in case.dose_events())
    start_h = end_h - window_days * HOURS_PER_DAY
    recent = [t for t in missed if start_h <= t <= end_h]
    severity = Severity.WARNING if recent else Severity.CAUTION
    message = (
        f"{len(missed)} missed dose(s) recorded, {len(recent)} in the {window_days:g} days before "
        "the latest sample: the level reflects reduced intake."
    )
    return Finding(
        code="missed_doses_recorded",
        category=FindingCategory.ADHERENCE,
        severity=severity,
        message=message,
        evidence={
            "n_missed_doses": len(missed),
            "n_missed_doses_in_window": len(recent),
            "window_days": window_days,
        },
        recommendation=(
            "Discuss adherence with the patient; re-sample after uninterrupted dosing before "
            "changing the dose."
        ),
        references=(days_rule.id,),
    )


def assess_adherence(
    case: Case,
    model: PopPKModel,
    *,
    observed_trough_ng_per_ml: float | None,
    below_lloq: bool,
    n_individuals: int = 2000,
    seed: int = 20261126,
) -> list[Finding]:
    """Adherence findings for an observed trough under ``model``.

    Parameters
    ----------
    case : Case
    model : PopPKModel
    observed_trough_ng_per_ml : float or None
        The (measured or estimated) trough; when ``below_lloq`` it is the LLOQ (an upper bound).
        None when there is no level (only recorded missed doses are then reported).
    below_lloq : bool
        The level was reported below the LLOQ.
    n_individuals : int, default 2000
        Monte Carlo draws (virtual patients with this patient's covariates).
    seed : int, default 20261126

    Returns
    -------
    list of Finding
        Category ``adherence``; empty when nothing points to reduced intake.

    Notes
    -----
    The reference distribution assumes full adherence: the steady-state trough of the current
    regimen (IIV, IOV and residual error), or, for a model with time-varying parameters or a case
    without a repeating regimen, the concentration at the latest sample time with every missed
    dose taken. Findings:

    * ``trough_low_for_adherent_population``: percentile below ``WARNING_PERCENTILE`` (5,
      warning) or ``CAUTION_PERCENTILE`` (10, caution). Cut-offs are software choices.
    * ``below_lloq_on_regular_dosing``: critical when the model gives a level below the LLOQ a
      probability under ``CRITICAL_PROBABILITY_BELOW_LLOQ`` (1%), else warning.
    * ``missed_doses_recorded``: warning when a missed dose falls in the steady-state window
      (``sampling_arup_days``) before the latest sample, else caution.
    * ``adherence_not_assessable`` (info): the model cannot be evaluated for this case.

    The apparent relative bioavailability is observed / typical trough (linear kinetics: the
    fraction of the dose the patient would have to absorb, or take, to explain the level).
    The published adherent and non-adherent troughs (``adherence_cmin_bjc2025``) are context.
    """
    findings: list[Finding] = []
    missed = _missed_dose_finding(case)
    if observed_trough_ng_per_ml is None:
        return [missed] if missed is not None else []
    figures = load_patient_factors().adherence
    context: dict[str, float | int | bool | None] = {
        "published_adherent_cmin_ng_per_ml": figures.adherent_cmin,
        "published_non_adherent_cmin_ng_per_ml": figures.non_adherent_cmin,
        "published_non_adherence_cutoff_ng_per_ml": figures.non_adherence_cutoff,
    }
    try:
        resolved = resolve_covariates(model, case.covariate_values())
        reference = _reference_distribution(
            case, model, resolved, n_individuals=n_individuals, seed=seed
        )
    except (MissingCovariateError, ModelDomainError) as exc:
        reference = None
        reason = str(exc)
    else:
        reason = "the case has neither a repeating regimen nor a sample time"
    if reference is None:
        findings.append(
            Finding(
                code="adherence_not_assessable",
                category=FindingCategory.ADHERENCE,
                severity=Severity.INFO,
                message=f"The level cannot be placed in the {model.id} population: {reason}.",
                evidence=context,
                references=(figures.id,),
            )
        )
        return findings + ([missed] if missed is not None else [])
    troughs, typical, basis = reference
    observed = float(observed_trough_ng_per_ml)
    percentile = float(100.0 * np.mean(troughs <= observed))
    apparent_f = observed / typical if typical > 0 else None
    lo, med, hi = (float(v) for v in np.percentile(troughs, [5.0, 50.0, 95.0]))
    evidence: dict[str, float | int | bool | None] = {
        "observed_trough_ng_per_ml": observed,
        "observed_is_upper_bound": below_lloq,
        "observed_percentile": percentile,
        "typical_trough_ng_per_ml": typical,
        "median_trough_ng_per_ml": med,
        "interval_5_ng_per_ml": lo,
        "interval_95_ng_per_ml": hi,
        "apparent_relative_bioavailability_frac": apparent_f,
        "n_individuals": n_individuals,
        **context,
    }
    refs = (figures.id,)
    f_text = "" if apparent_f is None else f"{100.0 * apparent_f:.0f}%"
    if below_lloq:
        p_below = float(np.mean(troughs < observed))
        regular = current_regimen(case) is not None
        if regular:
            severity = (
                Severity.CRITICAL if p_below < CRITICAL_PROBABILITY_BELOW_LLOQ else Severity.WARNING
            )
            findings.append(
                Finding(
                    code="below_lloq_on_regular_dosing",
                    category=FindingCategory.ADHERENCE,
                    severity=severity,
                    message=(
                        f"Level below the LLOQ ({observed:g} ng/mL) on regular dosing; model "
                        f"{model.id} gives this a probability of {100.0 * p_below:.1f}% under full "
                        f"adherence ({basis}). Non-adherence, a sampling or a labelling error is "
                        "the likely explanation; the apparent relative bioavailability is at most "
                        f"{f_text}."
                    ),
                    evidence={**evidence, "probability_below_lloq_frac": p_below},
                    recommendation=(
                        "Ask about intake in the days before sampling and the timing of the last "
                        "dose; check sample identity; re-sample before any dose change."
                    ),
                    references=refs,
                )
            )
    elif percentile < CAUTION_PERCENTILE:
        severity = Severity.WARNING if percentile < WARNING_PERCENTILE else Severity.CAUTION
        findings.append(
            Finding(
                code="trough_low_for_adherent_population",
                category=FindingCategory.ADHERENCE,
                severity=severity,
                message=(
                    f"Trough {observed:g} ng/mL is at the {percentile:.1f}th percentile of model "
                    f"{model.id} for this patient ({basis}, full adherence; median {med:.0f} "
                    f"ng/mL); explaining it needs an apparent relative bioavailability of "
                    f"{f_text}. Published means: {figures.adherent_cmin:g} (adherent) versus "
                    f"{figures.non_adherent_cmin:g} ng/mL (non-adherent)."
                ),
                evidence=evidence,
                recommendation=(
                    "Check adherence (pill count, interview) and interacting co-medications "
                    "before increasing the dose."
                ),
                references=refs,
            )
        )
    if missed is not None:
        findings.append(missed)
    return findings


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


def _model_ratio(
    case: Case, model: PopPKModel, names: tuple[str, ...]
) -> tuple[str, float, float] | None:
    """(covariate, reference value, typical-trough ratio patient / reference) for the first of
    ``names`` that the model carries and the case gives; None when it cannot be computed.

    The ratio is of typical steady-state troughs of the current regimen, every other covariate
    at the patient's value. None for a model with time-varying parameters, without a repeating
    regimen, without a reference value, or when the case lacks a covariate the model needs.
    """
    regimen = current_regimen(case)
    if regimen is None or model.time_varying_parameters:
        return None
    values = case.covariate_values()
    for name in names:
        if name not in model.covariate_names or name not in values:
            continue
        reference = model.covariate(name).reference
        if reference is None:
            return None
        try:
            at_patient = resolve_covariates(model, values)
            at_reference = resolve_covariates(model, {**values, name: reference})
        except (MissingCovariateError, ModelDomainError):
            return None
        troughs = [
            predict_steady_state_trough(
                model.structure,
                typical_parameters(model, resolved),
                dose_mg=regimen.dose_mg,
                interval_h=regimen.interval_h,
            )[0]
            for resolved in (at_patient, at_reference)
        ]
        if troughs[1] <= 0:
            return None
        return name, float(reference), float(troughs[0] / troughs[1])
    return None


def _factor_finding(
    case: Case,
    model: PopPKModel,
    entry: PatientFactor,
    *,
    label: str,
    value: float | None,
    value_key: str | None,
    outside: bool,
    detail: str,
) -> Finding:
    evidence: dict[str, float | int | bool | None] = {}
    if value_key is not None:
        evidence[value_key] = value
    if entry.effect is not None:
        evidence[entry.effect.evidence_key] = entry.effect.value
    ratio = _model_ratio(case, model, entry.model_covariates)
    severity = Severity.CAUTION if outside else Severity.INFO
    parts = [f"{label}{detail}; published: {entry.condition} {_DIRECTION_TEXT[entry.direction]}."]
    if entry.effect is not None:
        parts.append(entry.effect.statement)
    if ratio is not None:
        name, reference, trough_ratio = ratio
        evidence["model_reference_value"] = reference
        evidence["model_trough_ratio"] = trough_ratio
        parts.append(
            f"Model {model.id} ({name}): typical trough x{trough_ratio:.2f} at the patient's "
            f"value versus its reference {reference:g}."
        )
        if not 1.0 / MODEL_RATIO_CAUTION <= trough_ratio <= MODEL_RATIO_CAUTION:
            severity = Severity.CAUTION
    elif set(entry.model_covariates) & set(model.covariate_names):
        parts.append(f"Model {model.id} carries it, but its effect could not be computed here.")
    else:
        parts.append(f"Model {model.id} does not carry it: its predictions ignore this factor.")
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

    bmi_entry = rules.for_factor("bmi")
    if bmi_entry is not None:
        if patient.weight_kg is not None and patient.height_cm is not None:
            bmi = float(patient.weight_kg) / (float(patient.height_cm) / 100.0) ** 2  # cm -> m
            adult_age = load_dosing_rules().adult_min_age.value
            is_child = patient.age_years is not None and float(patient.age_years) < adult_age
            # the published BMI bands are adult categories: never applied to a child
            band = None if is_child else bmi_entry.band_for(bmi)
            outside = band is not None and band.exposure != "reference"
            detail = f" {bmi:.1f} kg/m2" + (f" ({band.name})" if band is not None else "")
            if is_child:
                detail += f" (adult BMI categories not applied below {adult_age:g} years)"
            findings.append(
                _factor_finding(
                    case,
                    model,
                    bmi_entry,
                    label="BMI",
                    value=bmi,
                    value_key="bmi_kg_per_m2",
                    outside=outside,
                    detail=detail,
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
                case,
                model,
                entry,
                label=factor.upper() if factor in ("agp", "wbc") else factor.capitalize(),
                value=values[field],
                value_key=field,
                outside=False,
                detail=f" {values[field]:g} {unit} (no typical range in the knowledge base)",
            )
        )

    gastrectomy = rules.for_factor("gastrectomy")
    if gastrectomy is not None:
        if patient.gastrectomy is None:
            missing.append("gastrectomy")
        elif patient.gastrectomy:
            findings.append(
                _factor_finding(
                    case,
                    model,
                    gastrectomy,
                    label="Prior gastrectomy",
                    value=None,
                    value_key=None,
                    outside=True,
                    detail=" (magnitude not published)",
                )
            )

    time_entry = rules.for_factor("time_on_therapy")
    times = case.sample_times_h()
    if time_entry is not None and times.size:
        days = float(times.max()) / HOURS_PER_DAY
        findings.append(
            _factor_finding(
                case,
                model,
                time_entry,
                label="Time on therapy",
                value=days,
                value_key="days_on_therapy",
                outside=False,
                detail=f" {days:.0f} days at the latest sample",
            )
        )

    sex_entry = rules.for_factor("sex")
    if sex_entry is not None:
        if "sex_male" in values:
            female = values["sex_male"] == 0.0
            findings.append(
                _factor_finding(
                    case,
                    model,
                    sex_entry,
                    label="Sex",
                    value=values["sex_male"],
                    value_key="sex_male",
                    outside=False,
                    detail=" female" if female else " male",
                )
            )
        else:
            missing.append("sex")

    age_entry = rules.for_factor("age")
    if age_entry is not None:
        if "age_years" in values:
            findings.append(
                _factor_finding(
                    case,
                    model,
                    age_entry,
                    label="Age",
                    value=values["age_years"],
                    value_key="age_years",
                    outside=False,
                    detail=f" {values['age_years']:g} years",
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
