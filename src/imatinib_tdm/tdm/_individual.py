"""Bayesian individualisation of a TDM case: MAP estimate, posterior, individual trough, advice.

Orchestrates pk (MAP, posterior sampling, steady state) and the dosing knowledge for one case:

* the patient's own random effects (MAP, NONMEM FOCE-I objective, M3 for levels below the
  LLOQ) with their posterior (Laplace and sampling-importance-resampling);
* individual predictions at the samples with 90% credible intervals;
* the individual steady-state trough of the current regimen with its 90% credible interval,
  and the model-free log-linear correction of the latest sample beside it;
* the regimen table and dose advice from the posterior draws (future occasions are predicted
  without inter-occasion variability: KAPPA = 0), and when to re-sample.

Imports pk and case; never the web, store or report layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from imatinib_tdm import __version__
from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.pk import (
    PKParameters,
    PopPKModel,
    individual_parameters,
    percentiles,
    predict_steady_state_trough,
)
from imatinib_tdm.pk._events import EventTable
from imatinib_tdm.pk._map import (
    MapProblem,
    MapResult,
    estimate_map,
    predict_observations,
    prepare_map_problem,
)
from imatinib_tdm.pk._posterior import PosteriorSample, sample_posterior
from imatinib_tdm.pk.inputs import case_to_event_table
from imatinib_tdm.tdm._dosing import DoseAdvice, evaluate_regimens, recommend_regimen
from imatinib_tdm.tdm._knowledge import Indication, Threshold, load_targets
from imatinib_tdm.tdm._regimens import (
    Regimen,
    candidate_regimens,
    covariates_with_current_dose,
    current_regimen,
)
from imatinib_tdm.tdm._resampling import SteadyStateTiming, predict_time_to_steady_state
from imatinib_tdm.tdm._trough import correct_trough_log_linear

__all__ = [
    "DoseRecommendation",
    "IndividualEstimate",
    "estimate_individual",
    "estimate_table",
    "recommend_dose",
]

NOTICE = (
    "Research and decision support software, not a medical device. Bayesian estimates combine "
    "the published model with this patient's levels; they are only as good as the model, the "
    "dosing history and the sample times entered."
)
MG_PER_L_TO_NG_PER_ML = 1000.0  # unit definition: 1 mg/L = 1000 ng/mL
_INTERVAL = (5.0, 95.0)


@dataclass(frozen=True)
class IndividualEstimate:
    """Result of :func:`estimate_individual`; serialise with :meth:`to_dict`.

    Concentrations are in ng/mL; intervals are 90% credible intervals from posterior draws.
    """

    patient_id: str
    model_id: str
    model_name: str
    model_citation: str
    model_doi: str | None
    etas: dict[str, float]
    eta_laplace_sd: dict[str, float | None]
    ofv: float
    converged: bool
    multimodal: bool
    message: str
    n_iterations: int
    individual_parameters: dict[str, dict[str, float]]
    predictions: list[dict[str, Any]]
    trough_ng_per_ml: dict[str, float] | None
    log_linear_trough: dict[str, Any] | None
    posterior: dict[str, Any]
    warnings: list[str]
    assumptions: list[str]
    software_version: str = __version__
    notice: str = NOTICE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class DoseRecommendation:
    """Result of :func:`recommend_dose`: the estimate, the regimen table and the advice."""

    estimate: IndividualEstimate
    advice: DoseAdvice
    resampling: SteadyStateTiming | None
    eta_draws: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Posterior draws of the ETAs, shape (n_draws, n_etas), for plots (not serialised)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "estimate": self.estimate.to_dict(),
            "advice": self.advice.to_dict(),
            "resampling": None if self.resampling is None else self.resampling.to_dict(),
        }


@dataclass(frozen=True, eq=False)
class _Fit:
    problem: MapProblem
    result: MapResult
    posterior: PosteriorSample
    covariates: dict[str, float]
    regimen: Regimen | None
    # results of pure functions of this fit, shared by the estimate and the dose advice
    memo: dict[str, Any] = field(default_factory=dict, repr=False)


def _draw_parameters(model: PopPKModel, fit: _Fit) -> PKParameters:
    """Parameters of the posterior draws without KAPPAs (the typical occasion), computed once.

    From the covariates resolved (and checked against the model) for the MAP problem: the same
    values :func:`individual_parameters` would resolve again from a plain mapping.
    """
    cached = fit.memo.get("draw_parameters")
    if isinstance(cached, PKParameters):
        return cached
    params = individual_parameters(
        model, fit.problem.covariates, _eta_part(model, fit.posterior.draws[0])
    )
    fit.memo["draw_parameters"] = params
    return params


def _fit(case: Case, model: PopPKModel, *, n_draws: int, n_proposals: int, seed: int) -> _Fit:
    table = case_to_event_table(case)
    covariates = covariates_with_current_dose(case)
    regimen = current_regimen(case)
    if regimen is not None:
        extra = {"daily_dose_mg": np.full(table.time_h.shape, regimen.daily_dose_mg)}
        table = dataclasses.replace(table, covariates={**table.covariates, **extra})
    problem = prepare_map_problem(model, table)
    result = estimate_map(problem)
    posterior = sample_posterior(
        problem, result, n_draws=n_draws, n_proposals=n_proposals, seed=seed
    )
    return _Fit(problem, result, posterior, covariates, regimen)


def _eta_part(model: PopPKModel, effects: np.ndarray) -> np.ndarray:
    return effects[..., : len(model.eta_names)]


def _summary(values: np.ndarray) -> dict[str, float]:
    lo, hi = percentiles(values, _INTERVAL)
    return {"lower": float(lo), "upper": float(hi)}


def estimate_individual(
    case: Case,
    model: PopPKModel,
    *,
    n_draws: int = 1000,
    n_proposals: int = 4000,
    seed: int = 20261126,
) -> IndividualEstimate:
    """Bayesian (MAP + posterior) estimate of a case's pharmacokinetics under ``model``.

    Parameters
    ----------
    case : Case
        At least one dose; samples are optional (none gives the typical individual).
    model : PopPKModel
    n_draws, n_proposals : int
        Posterior draws kept and importance-sampling proposals.
    seed : int
        The same seed gives the same intervals.

    Raises
    ------
    EstimationError, MissingCovariateError, ModelDomainError
        From the estimator and the model's covariate checks.
    """
    fit = _fit(case, model, n_draws=n_draws, n_proposals=n_proposals, seed=seed)
    return _estimate_from_fit(case, model, fit)


def _estimate_from_fit(case: Case, model: PopPKModel, fit: _Fit) -> IndividualEstimate:
    result, problem, post = fit.result, fit.problem, fit.posterior
    names = result.effect_names
    draws = post.draws[0]
    cov = result.covariance[0]
    laplace_sd = {
        n: (float(np.sqrt(cov[i, i])) if np.isfinite(cov[i, i]) else None)
        for i, n in enumerate(names)
    }
    # individual parameters: MAP value and credible interval over the draws
    map_params = result.individual_parameters
    n_kappa = len(model.kappa_names)
    kappas = draws[:, len(model.eta_names) : len(model.eta_names) + n_kappa] if n_kappa else None
    if kappas is None and not model.time_varying_parameters:
        draw_params = _draw_parameters(model, fit)
    else:
        draw_params = individual_parameters(
            model,
            problem.covariates,
            _eta_part(model, draws),
            kappas=kappas,
            dose_times_h=problem.doses.times_h[0] if model.time_varying_parameters else None,
        )
    params: dict[str, dict[str, float]] = {}
    for param_field in dataclasses.fields(map_params):
        value = getattr(map_params, param_field.name)
        if value is None or value.ndim != 1:
            continue
        params[param_field.name] = {"value": float(value[0])} | _summary(
            getattr(draw_params, param_field.name)
        )
    # predictions at the samples
    rows = np.zeros(draws.shape[0], dtype=np.intp)
    draw_pred = predict_observations(problem, draws, rows) * MG_PER_L_TO_NG_PER_ML
    predictions: list[dict[str, Any]] = []
    sample_times = case.sample_times_h()
    observed = case.concentrations_ng_per_ml()
    below = case.is_below_lloq()
    lloq = case.lloq_ng_per_ml()
    order = np.argsort(sample_times, kind="stable")  # the event table lists samples by time
    for column, k in enumerate(order.tolist()):
        sample = case.samples[k]
        lo, hi = percentiles(draw_pred[:, column], _INTERVAL)
        predictions.append(
            {
                "sample_id": sample.id,
                "time_h": float(sample_times[k]),
                "observed_ng_per_ml": None if below[k] else float(observed[k]),
                "below_lloq": bool(below[k]),
                "lloq_ng_per_ml": float(lloq[k]) if np.isfinite(lloq[k]) else None,
                "individual_prediction_ng_per_ml": float(
                    result.predictions_mg_per_l[0, column] * MG_PER_L_TO_NG_PER_ML
                ),
                "lower": float(lo),
                "upper": float(hi),
            }
        )
    trough = None
    assumptions = [
        f"Model {model.id}: {model.name}.",
        "Doses taken as recorded; the sample clock times are exact.",
        "Individual estimates: maximum a posteriori (NONMEM FOCE-I individual objective); "
        "levels below the LLOQ enter as censored (M3). Intervals: 90% credible intervals from "
        f"{post.draws.shape[1]} posterior draws ({post.method}).",
    ]
    if fit.regimen is not None and not model.time_varying_parameters:
        reg = fit.regimen
        map_trough = predict_steady_state_trough(
            model.structure,
            _map_params_no_kappa(model, problem, result),
            dose_mg=reg.dose_mg,
            interval_h=reg.interval_h,
        )[0]
        no_kappa = _draw_parameters(model, fit)
        draw_troughs = (
            predict_steady_state_trough(
                model.structure, no_kappa, dose_mg=reg.dose_mg, interval_h=reg.interval_h
            )
            * MG_PER_L_TO_NG_PER_ML
        )
        trough = {
            "value": float(map_trough * MG_PER_L_TO_NG_PER_ML),
            "dose_mg": reg.dose_mg,
            "interval_h": reg.interval_h,
        } | _summary(draw_troughs)
        assumptions.append(
            f"Individual steady-state trough: end of the interval of {reg.dose_mg:g} mg every "
            f"{reg.interval_h:g} h, predicted without inter-occasion variability."
        )
    log_linear = _log_linear(case, fit.regimen)
    warnings = [w.message for w in result.warnings]
    warnings += [w.message for w in case.plausibility_warnings()]
    if not result.converged[0]:
        warnings.append(f"MAP estimation: {result.messages[0]}")
    elif result.multimodal[0]:
        warnings.append("MAP estimation: the posterior is multimodal; the best mode is reported")
    if post.effective_sample_size[0] < 200:
        warnings.append(
            f"posterior sampling: effective sample size {post.effective_sample_size[0]:.0f} is "
            "small; intervals are approximate"
        )
    for pred in predictions:
        lloq_value = pred["lloq_ng_per_ml"]
        if pred["below_lloq"] and lloq_value and pred["lower"] > lloq_value:
            warnings.append(
                f"sample {pred['sample_id'] or ''} is below the LLOQ ({lloq_value:g} ng/mL) but "
                f"the individual prediction is {pred['individual_prediction_ng_per_ml']:.0f} ng/mL "
                f"(90% CrI from {pred['lower']:.0f}): the model cannot explain it at the recorded "
                "doses; check adherence, the dosing history and the sample before using the "
                "estimate"
            )
    if case.comedications:
        names_ = ", ".join(c.name for c in case.comedications)
        assumptions.append(
            f"Co-medications ({names_}) are not model covariates: their effect is only "
            "reflected through the measured levels."
        )
    return IndividualEstimate(
        patient_id=case.patient.id,
        model_id=model.id,
        model_name=model.name,
        model_citation=model.citation,
        model_doi=model.doi,
        etas=dict(zip(names, result.etas[0].tolist(), strict=True)),
        eta_laplace_sd=laplace_sd,
        ofv=float(result.ofv[0]),
        converged=bool(result.converged[0]),
        multimodal=bool(result.multimodal[0]),
        message=result.messages[0],
        n_iterations=int(result.n_iterations[0]),
        individual_parameters=params,
        predictions=predictions,
        trough_ng_per_ml=trough,
        log_linear_trough=None if log_linear is None else log_linear,
        posterior={
            "method": post.method,
            "n_draws": int(post.draws.shape[1]),
            "n_proposals": post.n_proposals,
            "effective_sample_size": float(post.effective_sample_size[0]),
            "seed": post.seed,
        },
        warnings=warnings,
        assumptions=assumptions,
    )


def _map_params_no_kappa(model: PopPKModel, problem: MapProblem, result: MapResult) -> Any:
    return individual_parameters(model, problem.covariates, _eta_part(model, result.etas))


def _log_linear(case: Case, regimen: Regimen | None) -> dict[str, Any] | None:
    """Log-linear correction of the latest uncensored sample (model-free, beside Bayes)."""
    if regimen is None or not case.samples:
        return None
    times = case.sample_times_h()
    below = case.is_below_lloq()
    conc = case.concentrations_ng_per_ml()
    candidates = [k for k in range(len(case.samples)) if not below[k]]
    if not candidates:
        return None
    k = max(candidates, key=lambda i: times[i])
    dose_times = [t for t, amount in case.dose_events() if amount > 0 and t <= times[k]]
    if not dose_times:
        return None
    since = float(times[k] - max(dose_times))
    try:
        corrected = correct_trough_log_linear(float(conc[k]), since, regimen.interval_h)
    except CaseError:
        return None
    return corrected.to_dict() | {"sample_id": case.samples[k].id}


def recommend_dose(
    case: Case,
    model: PopPKModel,
    *,
    target_id: str | None = None,
    alert_id: str | None = None,
    probability: float = 0.8,
    max_alert_probability: float = 0.5,
    n_draws: int = 1000,
    n_proposals: int = 4000,
    seed: int = 20261126,
) -> DoseRecommendation:
    """Individual estimate plus the regimen table and dose advice for a case.

    Parameters
    ----------
    case, model
        As for :func:`estimate_individual`.
    target_id, alert_id : str, optional
        Threshold ids from the targets knowledge base (``data/targets.yaml``); default: the
        indication's default target and alert.
    probability : float, default 0.8
        Required posterior probability of a trough at or above the target.
    max_alert_probability : float, default 0.5
        Largest acceptable probability of a trough above the alert.

    Raises
    ------
    CaseError
        The indication has no default target (e.g. "other") and none was chosen.
    """
    fit = _fit(case, model, n_draws=n_draws, n_proposals=n_proposals, seed=seed)
    estimate = _estimate_from_fit(case, model, fit)
    targets = load_targets()
    indication_name = str(case.patient.indication.value).lower()
    indication = Indication(indication_name) if indication_name in ("gist", "cml") else None
    if target_id is not None:
        target = targets[target_id]
    elif indication is not None:
        target = targets.default_target(indication)
    else:
        raise CaseError(
            f"no default target for indication {case.patient.indication.value!r}; choose one "
            "with --target ID (see data/targets.yaml)",
            field="patient.indication",
        )
    if alert_id is not None:
        alert: Threshold | None = targets[alert_id]
    else:
        alert = targets.default_alert(indication) if indication is not None else None
    patient = case.patient
    regimens = candidate_regimens(
        age_years=float(patient.age_years) if patient.age_years is not None else 18.0,
        weight_kg=patient.weight_kg,
        height_cm=patient.height_cm,
    )
    covariates = {k: float(v[0]) for k, v in fit.problem.covariates.values.items()}
    eta_draws = _eta_part(model, fit.posterior.draws[0])
    table = evaluate_regimens(model, covariates, eta_draws, regimens, target=target, alert=alert)
    advice = recommend_regimen(
        table, probability=probability, max_alert_probability=max_alert_probability
    )
    resampling = None
    chosen = advice.recommended or advice.best_available
    if chosen is not None and not model.time_varying_parameters:
        draw_params = _draw_parameters(model, fit)
        resampling = predict_time_to_steady_state(
            model, draw_params, chosen.regimen, previous_regimen=fit.regimen
        )
    return DoseRecommendation(
        estimate=estimate, advice=advice, resampling=resampling, eta_draws=eta_draws
    )


def estimate_table(
    table: EventTable,
    model: PopPKModel,
    *,
    n_draws: int = 1000,
    n_proposals: int = 4000,
    seed: int = 20261126,
) -> list[dict[str, Any]]:
    """MAP and posterior for every individual of an event table (e.g. a NONMEM dataset).

    Returns one JSON-ready dict per ID with ``etas``, ``individual_parameters`` (MAP values),
    ``ofv``, diagnostics, ``predictions`` (individual predictions at the observations, ng/mL,
    with 90% credible intervals) and ``trough_ng_per_ml`` (steady state of the last dose amount
    repeated at the last dosing interval — II of an SS/ADDL record or the gap between the last
    two doses — with its 90% credible interval; None when there is a single dose).
    """
    problem = prepare_map_problem(model, table)
    result = estimate_map(problem)
    post = sample_posterior(problem, result, n_draws=n_draws, n_proposals=n_proposals, seed=seed)
    out: list[dict[str, Any]] = []
    n_draws_kept = post.draws.shape[1]
    for p, pid in enumerate(result.ids):
        draws = post.draws[p]
        rows = np.full(n_draws_kept, p, dtype=np.intp)
        draw_pred = predict_observations(problem, draws, rows) * MG_PER_L_TO_NG_PER_ML
        mask = problem.observed[p] | problem.censored[p]
        predictions = []
        for j in np.flatnonzero(mask).tolist():
            lo, hi = percentiles(draw_pred[:, j], _INTERVAL)
            predictions.append(
                {
                    "time_h": float(problem.obs_times_h[p, j]),
                    "observed_ng_per_ml": None
                    if problem.censored[p, j]
                    else float(problem.dv_mg_per_l[p, j] * MG_PER_L_TO_NG_PER_ML),
                    "below_lloq": bool(problem.censored[p, j]),
                    "individual_prediction_ng_per_ml": float(
                        result.predictions_mg_per_l[p, j] * MG_PER_L_TO_NG_PER_ML
                    ),
                    "lower": float(lo),
                    "upper": float(hi),
                }
            )
        params = {
            f.name: float(getattr(result.individual_parameters, f.name)[p])
            for f in dataclasses.fields(result.individual_parameters)
            if getattr(result.individual_parameters, f.name) is not None
            and getattr(result.individual_parameters, f.name).ndim == 1
        }
        trough = None
        dose_times = problem.doses.times_h[p][problem.doses.amounts_mg[p] > 0]
        if dose_times.size >= 2 and not model.time_varying_parameters:
            interval = float(dose_times[-1] - dose_times[-2])
            amount = float(problem.doses.amounts_mg[p][problem.doses.amounts_mg[p] > 0][-1])
            covariates = {k: float(v[p]) for k, v in problem.covariates.values.items()}
            map_trough = predict_steady_state_trough(
                model.structure,
                individual_parameters(model, covariates, _eta_part(model, result.etas[p : p + 1])),
                dose_mg=amount,
                interval_h=interval,
            )[0]
            draw_troughs = (
                predict_steady_state_trough(
                    model.structure,
                    individual_parameters(model, covariates, _eta_part(model, draws)),
                    dose_mg=amount,
                    interval_h=interval,
                )
                * MG_PER_L_TO_NG_PER_ML
            )
            trough = {
                "value": float(map_trough * MG_PER_L_TO_NG_PER_ML),
                "dose_mg": amount,
                "interval_h": interval,
            } | _summary(draw_troughs)
        out.append(
            {
                "id": pid,
                "model_id": model.id,
                "etas": dict(zip(result.effect_names, result.etas[p].tolist(), strict=True)),
                "ofv": float(result.ofv[p]),
                "converged": bool(result.converged[p]),
                "multimodal": bool(result.multimodal[p]),
                "message": result.messages[p],
                "individual_parameters": params,
                "predictions": predictions,
                "trough_ng_per_ml": trough,
                "posterior_effective_sample_size": float(post.effective_sample_size[p]),
            }
        )
    return out
