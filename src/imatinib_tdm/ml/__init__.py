"""Machine-learning triage: which patients are likely below the trough threshold before any level.

Method after Ran et al., BMC Cancer 2024 (clinical reference ``imatinib_clinical_kb.md`` section 1):
six routine variables, label trough < 1100 ng/mL. Their model is not public; a centre trains,
validates and uses its own. See ``docs/ml.md``.

Imports case, pk, errors; never report, store, service or cli.
"""

from imatinib_tdm.ml._candidates import (
    BalancedXGBClassifier,
    CandidateName,
    PopPKBaselineClassifier,
    build_candidate,
)
from imatinib_tdm.ml._card import TriageModel, load_triage_model, save_triage_model
from imatinib_tdm.ml._cli import ml_app
from imatinib_tdm.ml._data import (
    DEFAULT_THRESHOLD_NG_PER_ML,
    FeatureTable,
    TrainingData,
    load_column_mapping,
    load_feature_table,
    load_training_data,
)
from imatinib_tdm.ml._evaluation import (
    CandidateEvaluation,
    EvaluationResult,
    MetricEstimate,
    nested_cross_validate,
)
from imatinib_tdm.ml._features import FEATURES, FeatureSpec, MetastaticSite, encoded_feature_names
from imatinib_tdm.ml._metrics import (
    auroc,
    average_precision,
    brier_score,
    calibration_intercept_slope,
    net_benefit,
    sensitivity_specificity,
)
from imatinib_tdm.ml._predict import (
    PRIORITY_CUTOFFS,
    TriagePrediction,
    features_from_case,
    predict_triage,
    priority_for,
    triage_case,
)
from imatinib_tdm.ml._report import render_evaluation_html, write_evaluation_report
from imatinib_tdm.ml._synthetic import (
    SYNTHETIC_NOTICE,
    SyntheticCohort,
    generate_synthetic_cohort,
    write_synthetic_csv,
)
from imatinib_tdm.ml._train import train_triage_model

__all__ = [
    "DEFAULT_THRESHOLD_NG_PER_ML",
    "FEATURES",
    "PRIORITY_CUTOFFS",
    "SYNTHETIC_NOTICE",
    "BalancedXGBClassifier",
    "CandidateEvaluation",
    "CandidateName",
    "EvaluationResult",
    "FeatureSpec",
    "FeatureTable",
    "MetastaticSite",
    "MetricEstimate",
    "PopPKBaselineClassifier",
    "SyntheticCohort",
    "TrainingData",
    "TriageModel",
    "TriagePrediction",
    "auroc",
    "average_precision",
    "brier_score",
    "build_candidate",
    "calibration_intercept_slope",
    "encoded_feature_names",
    "features_from_case",
    "generate_synthetic_cohort",
    "load_column_mapping",
    "load_feature_table",
    "load_training_data",
    "load_triage_model",
    "ml_app",
    "nested_cross_validate",
    "net_benefit",
    "predict_triage",
    "priority_for",
    "render_evaluation_html",
    "save_triage_model",
    "sensitivity_specificity",
    "train_triage_model",
    "triage_case",
    "write_evaluation_report",
    "write_synthetic_csv",
]
