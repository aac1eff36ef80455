"""External evaluation, ranking, selection and averaging of popPK models on a centre's data.

* :func:`predict_model` — population, individual (MAP) and Bayesian-forecasting predictions of
  one model at every observation of an event table (batch-first, chunkable;
  :func:`concatenate_predictions` joins chunks).
* :func:`prediction_metrics` — MPE, MDPE, MAPE, MDAPE, RMSE, F20, F30, PI90 (published
  definitions in ``_metrics``).
* :func:`evaluate_model` — predictions + 90% PI, NPDE, pcVPC + metrics; never raises for data a
  model cannot use (``error`` says why).
* :func:`combine_models` — model averaging and selection weighted by each model's likelihood of
  the patient's own data; :func:`patient_model_weights` — those weights for each patient given
  all of their data (the basis of an automatic model choice); with the centre prior
  (:func:`estimate_centre_prior`, :func:`centre_model_prior`): the centre's population as a
  finite mixture of models, proportions by EM, cross-fitted per patient.
* :func:`evaluate_dataset` — all of it for a list of models, with the ranking and subgroup
  tables; :func:`write_evaluation_report` writes the HTML report.
* :func:`choose_model` — the automatic model choice of ``interpret --model auto``.
* :func:`allometric_model` — optional allometric scaling of adult models for children.
* :func:`simulate_dataset` — synthetic TDM datasets from a model (tests, benchmarks).

Imports case, pk, io, tdm, units, errors; never report, store, service or cli.
"""

from imatinib_tdm.evaluation._allometry import allometric_model
from imatinib_tdm.evaluation._auto import AutoModelChoice, choose_model, load_centre_model_prior
from imatinib_tdm.evaluation._averaging import (
    AVERAGING_CENTRE_ID,
    AVERAGING_ID,
    SELECTION_CENTRE_ID,
    SELECTION_ID,
    PatientModelWeights,
    combine_models,
    estimate_centre_prior,
    patient_model_weights,
)
from imatinib_tdm.evaluation._centre_prior import (
    CentreModelPrior,
    centre_model_prior,
    mixture_proportions,
)
from imatinib_tdm.evaluation._evaluate import DEFAULT_SEED, ModelEvaluation, evaluate_model
from imatinib_tdm.evaluation._layout import ObservationLayout, observation_layout
from imatinib_tdm.evaluation._metrics import PredictionMetrics, prediction_metrics, relative_errors
from imatinib_tdm.evaluation._npde import VpcData, npde, pcvpc, prediction_interval
from imatinib_tdm.evaluation._predictions import (
    ModelPredictions,
    concatenate_predictions,
    predict_model,
)
from imatinib_tdm.evaluation._ranking import (
    RankingRow,
    rank_models,
    subgroup_masks,
    subgroup_tables,
)
from imatinib_tdm.evaluation._report import render_evaluation_html, write_evaluation_report
from imatinib_tdm.evaluation._simulate import simulate_dataset, simulate_replicates
from imatinib_tdm.evaluation._study import EvaluationStudy, evaluate_dataset
from imatinib_tdm.evaluation._weights import likelihood_weights

__all__ = [
    "AVERAGING_CENTRE_ID",
    "AVERAGING_ID",
    "DEFAULT_SEED",
    "SELECTION_CENTRE_ID",
    "SELECTION_ID",
    "AutoModelChoice",
    "CentreModelPrior",
    "EvaluationStudy",
    "ModelEvaluation",
    "ModelPredictions",
    "ObservationLayout",
    "PatientModelWeights",
    "PredictionMetrics",
    "RankingRow",
    "VpcData",
    "allometric_model",
    "centre_model_prior",
    "choose_model",
    "combine_models",
    "concatenate_predictions",
    "estimate_centre_prior",
    "evaluate_dataset",
    "evaluate_model",
    "likelihood_weights",
    "load_centre_model_prior",
    "mixture_proportions",
    "npde",
    "observation_layout",
    "patient_model_weights",
    "pcvpc",
    "predict_model",
    "prediction_interval",
    "prediction_metrics",
    "rank_models",
    "relative_errors",
    "render_evaluation_html",
    "simulate_dataset",
    "simulate_replicates",
    "subgroup_masks",
    "subgroup_tables",
    "write_evaluation_report",
]
