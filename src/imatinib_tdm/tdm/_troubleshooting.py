"""Troubleshooting of an imatinib level: adherence (issue #4); patient factors are in
:mod:`imatinib_tdm.tdm._patient_factors`.

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
    percentiles,
    predict_steady_state_trough,
    resolve_covariates,
    simulate_population,
    simulate_steady_state_troughs,
    simulate_typical,
    typical_parameters,
)
from imatinib_tdm.pk.inputs import case_to_dose_history
from imatinib_tdm.tdm._findings import Finding, FindingCategory, Severity
from imatinib_tdm.tdm._knowledge import load_trough_correction
from imatinib_tdm.tdm._patient_factor_rules import load_patient_factors
from imatinib_tdm.tdm._regimens import current_regimen

__all__ = ["assess_adherence"]

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
    lo, med, hi = (float(v) for v in percentiles(troughs, [5.0, 50.0, 95.0]))
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
                    f"Trough {observed:g} ng/mL is at percentile {percentile:.1f} of model "
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
    else:
        # a subtherapeutic level within the adherent distribution: adherence is still the
        # first cause to check (the troubleshooting order), louder when the level lies below
        # the published mean of non-adherent patients
        in_non_adherent_range = observed < figures.non_adherent_cmin
        findings.append(
            Finding(
                code="adherence_to_check",
                category=FindingCategory.ADHERENCE,
                severity=Severity.CAUTION if in_non_adherent_range else Severity.INFO,
                message=(
                    f"Trough {observed:g} ng/mL is at percentile {percentile:.1f} of model "
                    f"{model.id} for this patient ({basis}, full adherence; median {med:.0f} "
                    "ng/mL): possible with full adherence, "
                    + (
                        f"but below the published mean of non-adherent patients "
                        f"({figures.non_adherent_cmin:g} ng/mL; adherent "
                        f"{figures.adherent_cmin:g} ng/mL)."
                        if in_non_adherent_range
                        else f"yet adherence is the first cause to rule out (published means: "
                        f"{figures.adherent_cmin:g} adherent versus "
                        f"{figures.non_adherent_cmin:g} ng/mL non-adherent)."
                    )
                    + f" Apparent relative bioavailability {f_text}."
                ),
                evidence=evidence,
                recommendation=(
                    "Ask about intake (missed doses, timing, with food), check interacting "
                    "co-medications, then consider a dose change."
                ),
                references=refs,
            )
        )
    if missed is not None:
        findings.append(missed)
    return findings
