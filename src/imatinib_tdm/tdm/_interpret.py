"""The TDM interpretation of a case: status, findings, trough and advice in one result.

Orchestrates the pieces of :mod:`imatinib_tdm.tdm` (issue 4 in progress): sampling checks,
interaction matching, adherence and patient-factor findings, the Bayesian estimate and the dose
recommendation. With no level yet (first visit) it gives the population-predicted trough for
the dose and covariates instead. It adds no clinical rule of its own: every threshold comes from
the cited knowledge files through the functions it calls.

Imports pk and case; never the web, store or report layers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from imatinib_tdm import __version__
from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm._a_priori import predict_a_priori
from imatinib_tdm.tdm._findings import (
    Finding,
    FindingCategory,
    Severity,
    TroughStatus,
    rank_findings,
)
from imatinib_tdm.tdm._individual import NOTICE, DoseRecommendation, recommend_dose
from imatinib_tdm.tdm._interaction_schema import AffectedDrug, Direction
from imatinib_tdm.tdm._interactions import match_comedications
from imatinib_tdm.tdm._knowledge import Indication, Threshold, load_targets
from imatinib_tdm.tdm._model_choice import default_model
from imatinib_tdm.tdm._patient_factors import assess_patient_factors
from imatinib_tdm.tdm._priority import TriageResult, tdm_priority_finding, triage_finding
from imatinib_tdm.tdm._regimens import current_regimen
from imatinib_tdm.tdm._sampling import check_sampling, classify_sample, classify_trough
from imatinib_tdm.tdm._status_advice import advice_for_status, withheld_advice
from imatinib_tdm.tdm._troubleshooting import assess_adherence

__all__ = ["Interpretation", "interaction_findings", "interpret"]

_EFFECT_CODES = (
    "interaction_decreases",
    "interaction_increases",
    "comedication_not_in_knowledge_base",
)


@dataclass(frozen=True)
class Interpretation:
    """Result of :func:`interpret`; serialise with :meth:`to_dict` (units in key names)."""

    patient_id: str
    status: str
    status_reason: str | None
    target_ng_per_ml: float | None
    target_id: str | None
    alert_ng_per_ml: float | None
    alert_id: str | None
    measured_trough_ng_per_ml: float | None
    trough_ng_per_ml: dict[str, Any] | None
    findings: list[dict[str, Any]]
    recommendation: dict[str, Any] | None
    model: dict[str, Any]
    assumptions: list[str]
    warnings: list[str]
    software_version: str = __version__
    notice: str = NOTICE
    # the full result behind ``recommendation`` (posterior draws, estimate, candidate table) for
    # reports and plots; not serialised
    dose_recommendation: DoseRecommendation | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without :attr:`dose_recommendation`)."""
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if f.name != "dose_recommendation"
        }


def _thresholds(
    case: Case, target_id: str | None, alert_id: str | None
) -> tuple[Threshold | None, Threshold | None]:
    targets = load_targets()
    name = str(case.patient.indication.value).lower()
    indication = Indication(name) if name in ("gist", "cml") else None
    if target_id is not None:
        target: Threshold | None = targets[target_id]
    else:
        target = targets.default_target(indication) if indication is not None else None
    if alert_id is not None:
        alert: Threshold | None = targets[alert_id]
    else:
        alert = targets.default_alert(indication) if indication is not None else None
    return target, alert


def interaction_findings(case: Case) -> list[Finding]:
    """One finding per co-medication: its known effect on imatinib, or that it is unknown."""
    findings: list[Finding] = []
    names = [c.name for c in case.comedications]
    for match in match_comedications(names):
        entry = match.entry
        if entry is None:
            hint = f" (did you mean {', '.join(match.suggestions)}?)" if match.suggestions else ""
            findings.append(
                Finding(
                    code="comedication_not_in_knowledge_base",
                    category=FindingCategory.INTERACTION,
                    severity=Severity.INFO,
                    message=f"{match.query}: not in the interaction knowledge base{hint}; "
                    "check its interaction potential with imatinib elsewhere",
                )
            )
            continue
        evidence: dict[str, float] = {"match_score_frac": float(match.score)}
        effect = entry.effect
        if entry.affected_drug is AffectedDrug.COMEDICATION:
            # imatinib changes the other drug: relevant to its safety, explains no imatinib level
            if effect is not None and effect.fold_change is not None:
                evidence["comedication_fold_change"] = float(effect.fold_change)
            size = (
                f" ({effect.parameter} x{effect.fold_change:g})"
                if effect is not None and effect.fold_change is not None
                else ""
            )
            findings.append(
                Finding(
                    code="interaction_affects_comedication",
                    category=FindingCategory.INTERACTION,
                    severity=Severity.INFO,
                    message=f"{match.query} ({entry.generic_name}): imatinib "
                    f"{entry.direction.value.replace('_', ' ')} the exposure of "
                    f"{entry.generic_name}{size}; this does not explain the imatinib level",
                    evidence=evidence,
                    recommendation=entry.action.text,
                    references=(entry.id,),
                )
            )
            continue
        if effect is not None and effect.change_pct is not None:
            evidence["exposure_change_pct"] = float(effect.change_pct)
        if entry.direction is Direction.DECREASES:
            severity = Severity.WARNING
        elif entry.direction is Direction.INCREASES:
            severity = Severity.CAUTION
        else:
            severity = Severity.INFO
        size = (
            f" ({effect.parameter} {effect.change_pct:+g}%, {effect.population})"
            if effect is not None and effect.change_pct is not None
            else ""
        )
        findings.append(
            Finding(
                code=f"interaction_{entry.direction.value}",
                category=FindingCategory.INTERACTION,
                severity=severity,
                message=f"{match.query} ({entry.generic_name}, {entry.drug_class.value}): "
                f"{entry.direction.value.replace('_', ' ')} imatinib exposure{size}",
                evidence=evidence,
                recommendation=entry.action.text,
                references=(entry.id,),
            )
        )
    return findings


def interpret(
    case: Case,
    model: PopPKModel | None = None,
    *,
    target_id: str | None = None,
    alert_id: str | None = None,
    probability: float = 0.8,
    n_draws: int = 1000,
    seed: int = 20261126,
    triage: TriageResult | None = None,
) -> Interpretation:
    """Interpret a case: trough status, ranked findings, individual trough and dose advice.

    Parameters
    ----------
    case : Case
    model : PopPKModel, optional
        Default: :func:`~imatinib_tdm.tdm.default_model` for the case (the choice and its reason
        are listed first under ``assumptions``).
    target_id, alert_id : str, optional
        Threshold ids (``data/targets.yaml``); default: the indication's defaults.
    probability : float, default 0.8
        Required probability of target attainment for the dose advice.
    n_draws, seed
        Posterior draws and random seed.
    triage : TriageResult, optional
        A triage classifier's prediction (``imatinib_tdm.ml``), reported as the ``ml_triage``
        finding when no level is measured yet; ignored once there is a level.

    Notes
    -----
    Status comes from the measured level when the latest sample is an interpretable trough,
    otherwise from the Bayesian individual trough estimate; the output says which.
    """
    target, alert = _thresholds(case, target_id, alert_id)
    assumptions: list[str] = []
    if model is None:
        chosen = default_model(case)
        model = get_model(chosen.model_id)
        assumptions.append(f"Model: {chosen.reason}")
    warnings: list[str] = [w.message for w in case.plausibility_warnings()]
    findings: list[Finding] = []
    sampling = check_sampling(case)
    findings.extend(sampling.findings)
    interactions = interaction_findings(case)
    # a co-medication with a known or unknown effect comes before the factors; one with no
    # effect only after them, so that it never heads a list of equal severity
    with_effect = [f for f in interactions if f.code in _EFFECT_CODES]
    findings.extend(with_effect)
    factors = assess_patient_factors(case, model)
    findings.extend(factors)
    findings.extend(f for f in interactions if f.code not in _EFFECT_CODES)
    # missing optional data lowers confidence and is said under the assumptions too
    assumptions.extend(f.message for f in factors if f.code == "patient_factors_missing")
    model_info = {
        "id": model.id,
        "name": model.name,
        "citation": model.citation,
        "doi": model.doi,
    }

    def result(
        status: TroughStatus,
        reason: str | None,
        *,
        measured: float | None = None,
        trough: dict[str, Any] | None = None,
        recommendation: dict[str, Any] | None = None,
        dose_recommendation: DoseRecommendation | None = None,
    ) -> Interpretation:
        return Interpretation(
            patient_id=case.patient.id,
            status=status.value,
            status_reason=reason,
            target_ng_per_ml=None if target is None else target.value,
            target_id=None if target is None else target.id,
            alert_ng_per_ml=None if alert is None else alert.value,
            alert_id=None if alert is None else alert.id,
            measured_trough_ng_per_ml=measured,
            trough_ng_per_ml=trough,
            findings=[f.to_dict() for f in rank_findings(findings)],
            recommendation=recommendation,
            model=model_info,
            assumptions=assumptions,
            warnings=warnings,
            dose_recommendation=dose_recommendation,
        )

    if target is None:
        assumptions.append(
            f"No default target for indication {case.patient.indication.value!r}: status is "
            "not classified; choose a target id to classify it."
        )
    latest = sampling.latest
    if latest is None:
        # first visit: no level, the population prediction for the dose and covariates
        prior = predict_a_priori(
            case,
            model,
            n_individuals=2000,
            seed=seed,
            target_ng_per_ml=None if target is None else target.value,
            alert_ng_per_ml=None if alert is None else alert.value,
        )
        trough = None
        if prior.steady_state_trough is not None:
            t = prior.steady_state_trough
            trough = {
                "value": t.median_ng_per_ml,
                "lower": t.interval_5_ng_per_ml,
                "upper": t.interval_95_ng_per_ml,
                "method": "population prediction (no level measured)",
            }
        findings.append(
            tdm_priority_finding(
                prior.steady_state_trough,
                target_ng_per_ml=None if target is None else target.value,
                alert_ng_per_ml=None if alert is None else alert.value,
                model_id=model.id,
                interaction_findings=interactions,
            )
        )
        if triage is not None:
            findings.append(triage_finding(triage))
        assumptions.extend(prior.assumptions)
        warnings.extend(prior.covariate_warnings)
        return result(
            TroughStatus.NOT_INTERPRETABLE,
            "no level measured yet: population prediction only",
            trough=trough,
        )
    if target is None:
        raise CaseError(
            "interpreting a level needs a target: the indication has no default, pass a target id",
            field="patient.indication",
        )
    if latest.has_overriding_reason:
        # e.g. a suspected unit mix-up: no estimate or dose advice may rest on this value
        assumptions.append(
            "No Bayesian estimate or dose advice: the latest level cannot be used as "
            "reported (see the findings); confirm it with the laboratory first."
        )
        return result(
            TroughStatus.NOT_INTERPRETABLE,
            latest.not_interpretable_reason,
            recommendation=withheld_advice(
                "No dose advice: the latest level cannot be used as reported "
                f"({latest.not_interpretable_reason}); confirm it with the laboratory first."
            ),
        )
    rec = recommend_dose(
        case,
        model,
        target_id=target.id,
        alert_id=None if alert is None else alert.id,
        probability=probability,
        n_draws=n_draws,
        seed=seed,
    )
    estimate = rec.estimate
    warnings.extend(w for w in estimate.warnings if w not in warnings)
    assumptions.extend(estimate.assumptions)
    measured = None
    status_reason = None
    if latest.not_interpretable_reason is None and latest.is_trough:
        status = classify_sample(latest, target, alert)
        measured = None if latest.is_below_lloq else latest.concentration_ng_per_ml
        status_reason = "measured trough"
    elif estimate.trough_ng_per_ml is not None:
        status = classify_trough(estimate.trough_ng_per_ml["value"], False, target, alert)
        status_reason = (
            f"latest sample not a usable trough ({latest.not_interpretable_reason or 'off-time'})"
            "; status from the Bayesian individual trough estimate"
        )
    else:
        status = TroughStatus.NOT_INTERPRETABLE
        status_reason = latest.not_interpretable_reason or "no trough estimate available"
    if status in (TroughStatus.SUBTHERAPEUTIC, TroughStatus.BELOW_LLOQ):
        # after the patient factors: among findings of equal severity a specific cause found
        # in the case comes before the general reminder to check adherence
        findings.extend(
            assess_adherence(
                case,
                model,
                observed_trough_ng_per_ml=latest.concentration_ng_per_ml,
                below_lloq=latest.is_below_lloq,
                seed=seed,
            )
        )
    trough = None
    if estimate.trough_ng_per_ml is not None:
        trough = dict(estimate.trough_ng_per_ml) | {"method": "Bayesian individual estimate"}
    current = current_regimen(case)
    recommendation = advice_for_status(
        rec.advice,
        status,
        measured_trough_ng_per_ml=measured,
        at_steady_state=latest.is_steady_state,
        below_lloq_on_regular_dosing=latest.is_below_lloq and current is not None,
        current=current,
    )
    return result(
        status,
        status_reason,
        measured=measured,
        trough=trough,
        recommendation=recommendation,
        dose_recommendation=rec,
    )
