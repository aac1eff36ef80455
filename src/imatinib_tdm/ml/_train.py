"""Training a triage model: nested-CV comparison, choice of family, refit, model card.

Only the families that can be saved in the safe format (penalised logistic regression and XGBoost)
can become the saved model; the others (random forest, SVM, popPK baseline) are evaluated for
comparison. The family with the highest pooled out-of-fold AUROC among the savable ones is
refitted on all data (hyper-parameters by inner CV). Global importance is permutation importance
(scikit-learn, AUROC drop, 5 repeats) of the refitted model on the training data, so it is
in-sample and describes the model, not causality.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sklearn.inspection import permutation_importance

from imatinib_tdm import __version__
from imatinib_tdm.ml._candidates import CandidateName
from imatinib_tdm.ml._card import TriageModel
from imatinib_tdm.ml._data import TrainingData
from imatinib_tdm.ml._evaluation import EvaluationResult, fit_candidate, nested_cross_validate
from imatinib_tdm.ml._features import FEATURES
from imatinib_tdm.ml._predict import PRIORITY_CUTOFFS

__all__ = ["SAVABLE", "train_triage_model"]

SAVABLE: tuple[str, ...] = (CandidateName.LOGISTIC.value, CandidateName.XGBOOST.value)

INTENDED_USE = (
    "Rank patients on imatinib by the probability that their steady-state trough is below the "
    "threshold, to decide whom to test first where TDM capacity is limited. Decision support for "
    "research; not a medical device; never a substitute for measuring the level."
)
LIMITS = (
    "Valid only for patients like the training cohort (centre, indication, assay, sampling time). "
    "Trained on six routine variables chosen by Ran et al. 2024 (clinical reference "
    "imatinib_clinical_kb.md section 1); this is the method, not their model, which is not public. "
    "Metrics are internal (nested cross-validation); external validation is needed before use. "
    "Class weighting shifts probabilities towards 0.5; read the calibration figures."
)


def _parameters(kind: str, estimator: Any) -> dict[str, Any]:
    if kind == CandidateName.LOGISTIC.value:
        scaler, logistic = estimator.named_steps["scale"], estimator.named_steps["model"]
        return {
            "coef": logistic.coef_[0].tolist(),
            "intercept": float(logistic.intercept_[0]),
            "mean": scaler.mean_.tolist(),
            "scale": scaler.scale_.tolist(),
        }
    raw = estimator.model_.get_booster().save_raw(raw_format="json")
    return {"booster_json": bytes(raw).decode("utf-8")}


def train_triage_model(
    data: TrainingData,
    *,
    candidates: Sequence[CandidateName | str] = tuple(CandidateName),
    outer_folds: int = 5,
    inner_folds: int = 3,
    seed: int = 0,
    n_bootstrap: int = 500,
    fast: bool = False,
) -> tuple[TriageModel, EvaluationResult]:
    """Compare candidates by nested CV, refit the best savable family on all data, write its card.

    Returns
    -------
    (TriageModel, EvaluationResult)
    """
    chosen_names = [CandidateName(c).value for c in candidates]
    if not set(chosen_names) & set(SAVABLE):
        raise ValueError(f"candidates must include one of {list(SAVABLE)} (the savable families)")
    evaluation = nested_cross_validate(
        data,
        candidates=chosen_names,
        outer_folds=outer_folds,
        inner_folds=inner_folds,
        seed=seed,
        n_bootstrap=n_bootstrap,
        fast=fast,
    )
    kind = evaluation.best(among=SAVABLE)
    estimator, hyper = fit_candidate(
        kind,
        data.x,
        data.y,
        inner_folds=inner_folds,
        seed=seed,
        threshold_ng_per_ml=data.threshold_ng_per_ml,
        fast=fast,
    )
    importance = permutation_importance(
        estimator, data.x, data.y, scoring="roc_auc", n_repeats=5, random_state=seed, n_jobs=1
    )
    card: dict[str, Any] = {
        "title": "imatinib trough triage model"
        + (" (SYNTHETIC training data)" if data.synthetic else ""),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "package_version": __version__,
        "model_kind": kind,
        "hyperparameters": {k: (v.item() if hasattr(v, "item") else v) for k, v in hyper.items()},
        "label": f"trough below {data.threshold_ng_per_ml:g} ng/mL",
        "threshold_ng_per_ml": data.threshold_ng_per_ml,
        "threshold_source": "Demetri et al. J Clin Oncol 2009 (GIST), as used by Ran et al. 2024; "
        "clinical reference imatinib_clinical_kb.md sections 1 and 2a",
        "features": [
            {"name": s.name, "unit": s.unit, "description": s.description} for s in FEATURES
        ],
        "training_data": {
            "file": Path(data.source).name,
            "sha256": data.sha256,
            "n_patients": data.n_patients,
            "n_below_threshold": data.n_below,
            "fraction_below_threshold": data.n_below / data.n_patients,
            "synthetic": data.synthetic,
        },
        "class_weighting": evaluation.class_weighting,
        "evaluation": {
            "method": f"nested CV: {outer_folds} outer x {inner_folds} inner stratified folds; "
            f"95% intervals = percentile bootstrap ({n_bootstrap} resamples) over patients of the "
            "pooled out-of-fold predictions",
            "operating_point": evaluation.operating_point,
            "metrics": {
                name: {m: [e.value, e.low, e.high] for m, e in cand.metrics.items()}
                for name, cand in evaluation.candidates.items()
            },
        },
        "global_importance": {
            "method": "permutation importance (scikit-learn), mean AUROC drop over 5 repeats, "
            "in-sample on the training data",
            "values": dict(
                zip(data.feature_names, importance.importances_mean.tolist(), strict=True)
            ),
        },
        "explanations": "per-patient contributions on the log-odds scale: exact coef x (x - mean) "
        "for logistic regression, TreeSHAP (xgboost pred_contribs) for XGBoost",
        "priority_cutoffs": dict(PRIORITY_CUTOFFS),
        "intended_use": INTENDED_USE,
        "limits": LIMITS,
        "method_source": "Ran P et al. BMC Cancer 2024;24:264, doi:10.1186/s12885-024-11930-6 "
        "(clinical reference imatinib_clinical_kb.md section 1)",
    }
    model = TriageModel(
        kind=kind,
        feature_names=data.feature_names,
        parameters=_parameters(kind, estimator),
        card=card,
    )
    return model, evaluation
