"""Prediction with a saved triage model: probability, TDM priority and per-patient contributions.

Priority cut-offs are **software choices**, not clinical thresholds: "high" when the probability
of a trough below the threshold is at least 0.6, "medium" from 0.3, otherwise "low". A centre
should set its own after reading the decision curve of its model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.ml._card import TriageModel
from imatinib_tdm.ml._features import MetastaticSite, encode_rows
from imatinib_tdm.tdm import TriageResult

__all__ = [
    "PRIORITY_CUTOFFS",
    "TriagePrediction",
    "features_from_case",
    "predict_triage",
    "priority_for",
    "triage_case",
]

PRIORITY_CUTOFFS: Mapping[str, float] = {"high": 0.6, "medium": 0.3}
"""Lowest probability for each priority level (software choice; see module docstring)."""


def priority_for(probability: float, cutoffs: Mapping[str, float] = PRIORITY_CUTOFFS) -> str:
    """``"high"``, ``"medium"`` or ``"low"`` for a probability of a trough below threshold.

    >>> priority_for(0.7), priority_for(0.45), priority_for(0.1)
    ('high', 'medium', 'low')
    """
    if probability >= cutoffs["high"]:
        return "high"
    if probability >= cutoffs["medium"]:
        return "medium"
    return "low"


@dataclass(frozen=True)
class TriagePrediction:
    """Triage output for one patient.

    Attributes
    ----------
    probability_below_threshold : float
    priority : str
        "high", "medium" or "low" ("TDM priority").
    threshold_ng_per_ml : float
    base_log_odds : float
    contributions : tuple of (str, float)
        Log-odds contribution of each design-matrix column, largest magnitude first.
    synthetic_model : bool
        The model was trained on synthetic data: a demonstration, not a clinical prediction.
    """

    probability_below_threshold: float
    priority: str
    threshold_ng_per_ml: float
    base_log_odds: float
    contributions: tuple[tuple[str, float], ...]
    synthetic_model: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary."""
        return {
            "probability_below_threshold": self.probability_below_threshold,
            "tdm_priority": self.priority,
            "threshold_ng_per_ml": self.threshold_ng_per_ml,
            "base_log_odds": self.base_log_odds,
            "contributions_log_odds": dict(self.contributions),
            "synthetic_model": self.synthetic_model,
        }


def predict_triage(model: TriageModel, x: NDArray[np.float64]) -> list[TriagePrediction]:
    """Predict for each row of ``x`` (shape (n_patients, n_features)) with a ``TriageModel``."""
    probability = model.predict_probability(x)
    base, terms = model.contributions(x)
    card = model.card
    cutoffs = card.get("priority_cutoffs", PRIORITY_CUTOFFS)
    synthetic = bool(card.get("training_data", {}).get("synthetic", False))
    threshold = float(card.get("threshold_ng_per_ml", np.nan))
    predictions = []
    for i, p in enumerate(probability):
        pairs = sorted(
            zip(model.feature_names, terms[i].tolist(), strict=True), key=lambda kv: -abs(kv[1])
        )
        predictions.append(
            TriagePrediction(
                probability_below_threshold=float(p),
                priority=priority_for(float(p), cutoffs),
                threshold_ng_per_ml=threshold,
                base_log_odds=float(base[i]),
                contributions=tuple(pairs),
                synthetic_model=synthetic,
            )
        )
    return predictions


def features_from_case(case: Case, *, metastatic_site: str | None = None) -> NDArray[np.float64]:
    """Design matrix of shape (1, n_features) from a case file plus the metastatic site.

    The case gives sex, the current daily dose (last dose entry: amount x 24 / interval; a single
    dose entry counts as once daily), RBC, PLT, NEU% and ``patient.metastatic_site``;
    ``metastatic_site`` overrides the latter.

    Raises
    ------
    CaseError
        A needed value is missing or unusable; ``field`` names it.
    """
    sex = case.patient.sex.value
    if sex not in {"male", "female"}:
        raise CaseError(
            "the triage model needs the patient's sex (male or female)", field="patient.sex"
        )
    covariates = case.covariates
    needed = {
        "covariates.rbc_10e12_per_l": covariates.rbc_10e12_per_l,
        "covariates.plt_10e9_per_l": covariates.plt_10e9_per_l,
        "covariates.neutrophils_pct": covariates.neutrophils_pct,
    }
    for name, value in needed.items():
        if value is None:
            raise CaseError(f"the triage model needs {name}", field=name)
    if metastatic_site is None and case.patient.metastatic_site is not None:
        metastatic_site = case.patient.metastatic_site.value
    if metastatic_site is None:
        raise CaseError(
            "the triage model needs the metastatic site "
            f"({', '.join(s.value for s in MetastaticSite)})",
            field="metastatic_site",
        )
    site = metastatic_site.strip().lower().replace(" ", "_")
    if site == "both":
        site = MetastaticSite.LIVER_AND_PERITONEUM.value
    if site not in {s.value for s in MetastaticSite}:
        raise CaseError(f"unknown metastatic site {metastatic_site!r}", field="metastatic_site")
    last = case.doses[-1]
    daily_dose_mg = float(last.amount_mg) * (
        24.0 / float(last.interval_h) if last.interval_h else 1.0
    )
    values: dict[str, tuple[float | str, ...]] = {
        "sex_male": (1.0 if sex == "male" else 0.0,),
        "daily_dose_mg": (daily_dose_mg,),
        "metastatic_site": (site,),
        "rbc_10e12_per_l": (float(needed["covariates.rbc_10e12_per_l"] or 0.0),),
        "plt_10e9_per_l": (float(needed["covariates.plt_10e9_per_l"] or 0.0),),
        "neu_pct": (float(needed["covariates.neutrophils_pct"] or 0.0),),
    }
    return encode_rows(values)


def triage_case(
    model: TriageModel, case: Case, *, metastatic_site: str | None = None
) -> TriageResult:
    """The classifier's prediction for one case, in the form :func:`imatinib_tdm.tdm.interpret`
    takes (``triage=``) to report it at a first visit.

    Raises
    ------
    CaseError
        The case lacks a value the classifier needs (``field`` names it).
    """
    prediction = predict_triage(model, features_from_case(case, metastatic_site=metastatic_site))[0]
    card = model.card
    training = card.get("training_data", {})
    label = (
        f"{card.get('model_kind', 'classifier')} trained on {training.get('n_patients', '?')} "
        f"patients ({training.get('file', 'unknown file')}), imatinib-tdm "
        f"{card.get('package_version', '?')}"
    )
    return TriageResult(
        probability_below_threshold=prediction.probability_below_threshold,
        threshold_ng_per_ml=prediction.threshold_ng_per_ml,
        priority=prediction.priority,
        model_label=label,
        synthetic_model=prediction.synthetic_model,
        top_contributions=prediction.contributions[:3],
    )
