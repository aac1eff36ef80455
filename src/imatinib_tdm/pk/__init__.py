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
from imatinib_tdm.pk._individual import individual_parameters, sample_etas, typical_parameters
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
    "PKParameters",
    "PopPKModel",
    "PopulationSimulation",
    "ResidualErrorKind",
    "ResidualErrorModel",
    "ResolvedCovariates",
    "SteadyStateTroughSimulation",
    "Structure",
    "check_covariates",
    "create_model",
    "individual_parameters",
    "integrate_ode",
    "load_model_file",
    "predict_concentrations",
    "predict_steady_state",
    "predict_steady_state_trough",
    "required_covariates",
    "resolve_covariates",
    "sample_etas",
    "simulate_population",
    "simulate_steady_state_troughs",
    "simulate_typical",
    "typical_parameters",
]
