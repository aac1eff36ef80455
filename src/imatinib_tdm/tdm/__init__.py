"""TDM layer: clinical use of popPK models for a case (imports pk and case, never the web).

* a priori (population) prediction: :func:`predict_a_priori`;
* Bayesian individualisation: :func:`estimate_individual` (one case), :func:`estimate_table`
  (every ID of an event table, e.g. a NONMEM dataset);
* dose advice: :func:`recommend_dose`, built on :func:`candidate_regimens`,
  :func:`evaluate_regimens`, :func:`recommend_regimen`, :func:`predict_time_to_steady_state`;
* model-free trough correction: :func:`correct_trough_log_linear`;
* drug interactions: :func:`match_comedications` against the cited knowledge base;
* interpretation (issue 4, in progress): :func:`interpret` — status, ranked findings, trough,
  advice;
* sampling checks and findings: :func:`check_sampling`,
  :func:`classify_trough`, :class:`Finding`, :func:`rank_findings`, :func:`assess_adherence`,
  :func:`assess_patient_factors`;
* knowledge (targets, dosing rules, trough correction) with sources: ``load_*``; the sources
  of any entry by id: :func:`find_knowledge_reference`.
"""

from imatinib_tdm.tdm._a_priori import (
    NOTICE,
    APrioriPrediction,
    SamplePrediction,
    TroughPrediction,
    predict_a_priori,
)
from imatinib_tdm.tdm._dosing import (
    AdviceStatus,
    DoseAdvice,
    RegimenEvaluation,
    RegimenTable,
    evaluate_regimens,
    recommend_regimen,
)
from imatinib_tdm.tdm._findings import (
    Finding,
    FindingCategory,
    Severity,
    TroughStatus,
    rank_findings,
)
from imatinib_tdm.tdm._individual import NOTICE as BAYESIAN_NOTICE
from imatinib_tdm.tdm._individual import (
    DoseRecommendation,
    IndividualEstimate,
    estimate_individual,
    estimate_table,
    recommend_dose,
)
from imatinib_tdm.tdm._interactions import (
    InteractionMatch,
    interaction_names,
    load_interactions,
    match_comedications,
)
from imatinib_tdm.tdm._interpret import Interpretation, interaction_findings, interpret
from imatinib_tdm.tdm._knowledge import (
    Threshold,
    load_dosing_rules,
    load_targets,
    load_trough_correction,
)
from imatinib_tdm.tdm._model_choice import DefaultModel, default_model
from imatinib_tdm.tdm._patient_factor_rules import load_patient_factors
from imatinib_tdm.tdm._patient_factors import assess_patient_factors
from imatinib_tdm.tdm._priority import TriageResult
from imatinib_tdm.tdm._references import KnowledgeReference, find_knowledge_reference
from imatinib_tdm.tdm._regimens import (
    Regimen,
    candidate_regimens,
    compute_body_surface_area,
    covariates_with_current_dose,
)
from imatinib_tdm.tdm._resampling import SteadyStateTiming, predict_time_to_steady_state
from imatinib_tdm.tdm._sampling import check_sampling, classify_sample, classify_trough
from imatinib_tdm.tdm._sampling_rules import load_sampling_rules
from imatinib_tdm.tdm._troubleshooting import assess_adherence
from imatinib_tdm.tdm._trough import Caveat, LogLinearTrough, correct_trough_log_linear

__all__ = [
    "BAYESIAN_NOTICE",
    "NOTICE",
    "APrioriPrediction",
    "AdviceStatus",
    "Caveat",
    "DefaultModel",
    "DoseAdvice",
    "DoseRecommendation",
    "Finding",
    "FindingCategory",
    "IndividualEstimate",
    "InteractionMatch",
    "Interpretation",
    "KnowledgeReference",
    "LogLinearTrough",
    "Regimen",
    "RegimenEvaluation",
    "RegimenTable",
    "SamplePrediction",
    "Severity",
    "SteadyStateTiming",
    "Threshold",
    "TriageResult",
    "TroughPrediction",
    "TroughStatus",
    "assess_adherence",
    "assess_patient_factors",
    "candidate_regimens",
    "check_sampling",
    "classify_sample",
    "classify_trough",
    "compute_body_surface_area",
    "correct_trough_log_linear",
    "covariates_with_current_dose",
    "default_model",
    "estimate_individual",
    "estimate_table",
    "evaluate_regimens",
    "find_knowledge_reference",
    "interaction_findings",
    "interaction_names",
    "interpret",
    "load_dosing_rules",
    "load_interactions",
    "load_patient_factors",
    "load_sampling_rules",
    "load_targets",
    "load_trough_correction",
    "match_comedications",
    "predict_a_priori",
    "predict_time_to_steady_state",
    "rank_findings",
    "recommend_dose",
    "recommend_regimen",
]
