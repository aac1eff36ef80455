"""First visit (no level yet): how urgent is TDM for this patient?

Issue 4 asks the interpretation to say, before any level exists, whether TDM is urgent. The
answer rests on the population-predicted steady-state trough for the patient's regimen and
covariates (:func:`~imatinib_tdm.tdm.predict_a_priori`) and on the interaction findings:

* ``high`` (urgent): P(trough < target) >= ``HIGH_PROBABILITY`` or P(trough > alert) >=
  ``HIGH_PROBABILITY``, or a co-medication known to lower imatinib exposure;
* ``medium``: either probability >= ``MEDIUM_PROBABILITY``;
* ``low``: otherwise (TDM at steady state as routine).

The probability cut-offs are software choices (how loudly to report), not clinical facts; they are
stated in the finding and in ``docs/interpretation-rules.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imatinib_tdm.tdm._a_priori import TroughPrediction
from imatinib_tdm.tdm._findings import Finding, FindingCategory, Severity

__all__ = [
    "HIGH_PROBABILITY",
    "MEDIUM_PROBABILITY",
    "TriageResult",
    "tdm_priority_finding",
    "triage_finding",
]

HIGH_PROBABILITY = 0.5
"""P(trough outside target/alert) from which TDM is urgent (the median is outside)."""
MEDIUM_PROBABILITY = 0.25
"""P(trough outside target/alert) from which TDM has medium priority."""

_RANK: dict[str, int | None] = {"high": 2, "medium": 1, "low": 0, "unknown": None}
_SEVERITY = {"high": Severity.CAUTION, "medium": Severity.INFO, "low": Severity.INFO}
_ADVICE = {
    "high": (
        "TDM is urgent: draw the first trough (24 h after a dose, or 12 h on twice-daily dosing) "
        "as soon as steady state is reached, and review the co-medications now."
    ),
    "medium": "TDM recommended: draw a trough at steady state.",
    "low": "TDM not urgent: a routine trough at steady state confirms the prediction.",
}


def tdm_priority_finding(
    trough: TroughPrediction | None,
    *,
    target_ng_per_ml: float | None,
    alert_ng_per_ml: float | None,
    model_id: str,
    interaction_findings: Iterable[Finding] = (),
) -> Finding:
    """The ``tdm_priority`` finding of a first visit.

    Parameters
    ----------
    trough : TroughPrediction or None
        Population steady-state trough of the current regimen, with
        ``probability_below_target_frac`` / ``probability_above_alert_frac`` (None when the
        model cannot give it).
    target_ng_per_ml, alert_ng_per_ml : float or None
    model_id : str
    interaction_findings : iterable of Finding
        The case's interaction findings (a co-medication lowering exposure makes TDM urgent).

    Returns
    -------
    Finding
        Category ``sampling``; the priority word (high, medium, low, unknown) in the message,
        evidence ``priority_rank`` (2, 1, 0, None) and the probabilities.
    """
    inducers = [f for f in interaction_findings if f.code == "interaction_decreases"]
    below = None if trough is None else trough.probability_below_target_frac
    above = None if trough is None else trough.probability_above_alert_frac
    if trough is None or below is None:
        priority = "high" if inducers else "unknown"
    else:
        worst = max(below, above or 0.0)
        if inducers or worst >= HIGH_PROBABILITY:
            priority = "high"
        elif worst >= MEDIUM_PROBABILITY:
            priority = "medium"
        else:
            priority = "low"
    parts = [f"First visit, no level yet: TDM priority {priority}"]
    if priority == "high":
        parts[0] += " (urgent)"
    if trough is not None and below is not None and target_ng_per_ml is not None:
        parts.append(
            f"model {model_id} predicts a steady-state trough of {trough.median_ng_per_ml:.0f} "
            f"ng/mL (90% prediction interval {trough.interval_5_ng_per_ml:.0f}-"
            f"{trough.interval_95_ng_per_ml:.0f}) on {trough.dose_mg:g} mg every "
            f"{trough.interval_h:g} h for patients like this one; P(below "
            f"{target_ng_per_ml:g} ng/mL) = {100.0 * below:.0f}%"
            + (
                f", P(above the alert {alert_ng_per_ml:g} ng/mL) = {100.0 * above:.0f}%"
                if above is not None and alert_ng_per_ml is not None
                else ""
            )
        )
    else:
        parts.append("the population trough could not be predicted for this case")
    if inducers:
        parts.append("a co-medication lowers imatinib exposure")
    parts[-1] += (
        f". Cut-offs (software choice): urgent from a probability of {HIGH_PROBABILITY:.0%}, "
        f"medium from {MEDIUM_PROBABILITY:.0%}."
    )
    advice = _ADVICE.get(priority, "Draw a trough at steady state.")
    return Finding(
        code="tdm_priority",
        category=FindingCategory.SAMPLING,
        severity=_SEVERITY.get(priority, Severity.INFO),
        message="; ".join(parts),
        evidence={
            "priority_rank": _RANK[priority],
            "probability_below_target_frac": below,
            "probability_above_alert_frac": above,
            "n_interacting_inducers": len(inducers),
        },
        recommendation=advice,
        references=tuple(ref for f in inducers for ref in f.references),
    )


@dataclass(frozen=True)
class TriageResult:
    """A triage classifier's answer for one patient, computed by the caller (``imatinib_tdm.ml``).

    tdm does not import the classifier (scikit-learn/XGBoost): the CLI and the service run it and
    pass the result in, so the interpretation can report it beside the popPK-based priority.

    Attributes
    ----------
    probability_below_threshold : float
        P(trough < ``threshold_ng_per_ml``), in [0, 1].
    threshold_ng_per_ml : float
    priority : str
        "high", "medium" or "low" (the classifier's own cut-offs).
    model_label : str
        Which classifier (name, version, training-data summary) — shown in the finding.
    synthetic_model : bool
        Trained on synthetic data: a demonstration, never a clinical prediction.
    top_contributions : tuple of (str, float)
        The largest per-patient contributions (log-odds), for the explanation.
    """

    probability_below_threshold: float
    threshold_ng_per_ml: float
    priority: str
    model_label: str
    synthetic_model: bool = False
    top_contributions: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability_below_threshold <= 1.0:
            raise ValueError(
                f"probability_below_threshold must be in [0, 1], got "
                f"{self.probability_below_threshold!r}"
            )
        if self.priority not in ("high", "medium", "low"):
            raise ValueError(f"priority must be high, medium or low, got {self.priority!r}")


def triage_finding(triage: TriageResult) -> Finding:
    """The ``ml_triage`` finding of a first visit (category ``sampling``)."""
    drivers = ", ".join(f"{name} {value:+.2f}" for name, value in triage.top_contributions[:3])
    message = (
        f"ML triage ({triage.model_label}): P(trough < {triage.threshold_ng_per_ml:g} ng/mL) = "
        f"{100.0 * triage.probability_below_threshold:.0f}%, TDM priority {triage.priority}"
        + (f"; main contributions (log-odds): {drivers}" if drivers else "")
        + "."
    )
    if triage.synthetic_model:
        message += (
            " The classifier was trained on SYNTHETIC data: a demonstration, not a clinical "
            "prediction."
        )
    return Finding(
        code="ml_triage",
        category=FindingCategory.SAMPLING,
        severity=(
            Severity.CAUTION
            if triage.priority == "high" and not triage.synthetic_model
            else Severity.INFO
        ),
        message=message,
        evidence={
            "probability_below_threshold_frac": triage.probability_below_threshold,
            "threshold_ng_per_ml": triage.threshold_ng_per_ml,
            "priority_rank": _RANK[triage.priority],
            "synthetic_model": triage.synthetic_model,
        },
        recommendation=_ADVICE[triage.priority],
    )
