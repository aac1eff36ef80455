"""Pharmacokinetic engine: closed-form predictions, steady state, ODE reference, popPK models.

* :func:`predict_concentrations`, :func:`predict_steady_state`,
  :func:`predict_steady_state_trough` — exact closed forms, vectorised over individuals
  (concentrations in mg/L).
* :func:`integrate_ode` — the numerical reference the closed forms are tested against.
* :class:`PopPKModel` and :mod:`imatinib_tdm.pk.library` — published models as data;
  :func:`individual_parameters` turns covariates and random effects into :class:`PKParameters`.
* :func:`simulate_population` and friends — Monte Carlo with IIV and residual error.

Imports nothing from tdm, report, store or service (``inputs`` alone reads a case).
"""

from imatinib_tdm.pk._closed_form import predict_concentrations
from imatinib_tdm.pk._covariates import check_covariates, required_covariates, resolve_covariates
from imatinib_tdm.pk._custom import load_model_file
from imatinib_tdm.pk._event_engine import RecordParameters, predict_event_table
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk._individual import individual_parameters, sample_etas, typical_parameters
from imatinib_tdm.pk._map import MapProblem, MapResult, estimate_map, prepare_map_problem
from imatinib_tdm.pk._map_objective import predict_observations
from imatinib_tdm.pk._model import (
    CovariateDefinition,
    DomainKind,
    DomainWarning,
    PopPKModel,
    ResidualErrorKind,
    ResidualErrorModel,
    ResolvedCovariates,
)
from imatinib_tdm.pk._model_spec import create_model
from imatinib_tdm.pk._ode import integrate_ode
from imatinib_tdm.pk._posterior import PosteriorSample, sample_posterior
from imatinib_tdm.pk._quantiles import percentiles
from imatinib_tdm.pk._simulation import (
    PopulationSimulation,
    SteadyStateTroughSimulation,
    simulate_population,
    simulate_steady_state_troughs,
    simulate_typical,
)
from imatinib_tdm.pk._steady_state import predict_steady_state, predict_steady_state_trough
from imatinib_tdm.pk._structures import Absorption, DoseHistory, PKParameters, Structure

__all__ = [
    "Absorption",
    "CovariateDefinition",
    "DomainKind",
    "DomainWarning",
    "DoseHistory",
    "EventTable",
    "MapProblem",
    "MapResult",
    "PKParameters",
    "PopPKModel",
    "PopulationSimulation",
    "PosteriorSample",
    "RecordKind",
    "RecordParameters",
    "ResidualErrorKind",
    "ResidualErrorModel",
    "ResolvedCovariates",
    "Route",
    "SteadyStateTroughSimulation",
    "Structure",
    "check_covariates",
    "create_model",
    "estimate_map",
    "individual_parameters",
    "integrate_ode",
    "load_model_file",
    "percentiles",
    "predict_concentrations",
    "predict_event_table",
    "predict_observations",
    "predict_steady_state",
    "predict_steady_state_trough",
    "prepare_map_problem",
    "required_covariates",
    "resolve_covariates",
    "sample_etas",
    "sample_posterior",
    "simulate_population",
    "simulate_steady_state_troughs",
    "simulate_typical",
    "typical_parameters",
]
