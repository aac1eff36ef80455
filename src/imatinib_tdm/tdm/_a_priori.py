"""A priori (population) prediction for a TDM case: what the model expects before using levels.

For every blood sample of the case: the typical individual's prediction, the population
prediction interval of an observation (IIV, IOV and residual error by Monte Carlo), and where
the measured level falls in that distribution. For the current regimen: the predicted
steady-state trough with its interval. No individual (Bayesian) estimate is made here.

Imports pk and case; never the web, store or report layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from imatinib_tdm import __version__
from imatinib_tdm.case import Case
from imatinib_tdm.pk import (
    PopPKModel,
    percentiles,
    predict_steady_state_trough,
    resolve_covariates,
    simulate_population,
    simulate_steady_state_troughs,
    simulate_typical,
    typical_parameters,
)
from imatinib_tdm.pk.inputs import case_to_dose_history
from imatinib_tdm.tdm._regimens import current_regimen

__all__ = ["APrioriPrediction", "SamplePrediction", "TroughPrediction", "predict_a_priori"]

NOTICE = (
    "Research and decision support software, not a medical device. Population (a priori) "
    "predictions only: they describe patients like this one, not this patient."
)
MG_PER_L_TO_NG_PER_ML = 1000.0  # 1 mg/L = 1 ug/mL = 1000 ng/mL (definition of the units)


@dataclass(frozen=True)
class SamplePrediction:
    """One blood sample against the model's population prediction (concentrations in ng/mL)."""

    sample_id: str | None
    time_h: float
    observed_ng_per_ml: float
    below_lloq: bool
    lloq_ng_per_ml: float | None
    typical_ng_per_ml: float
    interval_5_ng_per_ml: float
    median_ng_per_ml: float
    interval_95_ng_per_ml: float
    observed_percentile: float | None
    probability_below_lloq: float | None


@dataclass(frozen=True)
class TroughPrediction:
    """Steady-state trough of a regular regimen (ng/mL), population distribution."""

    dose_mg: float
    interval_h: float
    typical_ng_per_ml: float
    interval_5_ng_per_ml: float
    median_ng_per_ml: float
    interval_95_ng_per_ml: float
    probability_below_target_frac: float | None = None
    probability_above_alert_frac: float | None = None


@dataclass(frozen=True)
class APrioriPrediction:
    """Result of :func:`predict_a_priori`; serialise with :meth:`to_dict`."""

    patient_id: str
    model_id: str
    model_name: str
    model_citation: str
    model_doi: str | None
    samples: tuple[SamplePrediction, ...]
    steady_state_trough: TroughPrediction | None
    covariate_warnings: tuple[str, ...]
    assumptions: tuple[str, ...]
    n_individuals: int
    seed: int
    software_version: str = __version__
    notice: str = NOTICE
    kind: str = field(default="a_priori_population_prediction")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (units in the key names)."""
        return asdict(self)


def predict_a_priori(
    case: Case,
    model: PopPKModel,
    *,
    n_individuals: int = 2000,
    seed: int = 20261126,
    target_ng_per_ml: float | None = None,
    alert_ng_per_ml: float | None = None,
) -> APrioriPrediction:
    """Population prediction of the case's samples and steady-state trough under ``model``.

    Parameters
    ----------
    case : Case
    model : PopPKModel
    n_individuals : int, default 2000
        Monte Carlo draws (virtual patients with this patient's covariates).
    seed : int
        Random seed; the same seed gives the same numbers.
    target_ng_per_ml, alert_ng_per_ml : float, optional
        When given, the steady-state trough carries P(trough < target) and P(trough > alert)
        over the population draws.

    Raises
    ------
    MissingCovariateError
        The case lacks covariates the model needs (all listed).
    ModelDomainError
        A covariate is outside the model's hard domain.
    """
    resolved = resolve_covariates(model, case.covariate_values())
    doses = case_to_dose_history(case)
    times = case.sample_times_h()
    observed = case.concentrations_ng_per_ml()
    lloq = case.lloq_ng_per_ml()
    below = case.is_below_lloq()
    assumptions = [
        f"Model {model.id}: {model.name}.",
        "Doses taken as recorded (missed doses only where recorded); oral administration.",
        "Monte Carlo over inter-individual variability"
        + (" and inter-occasion variability" if model.iov is not None else "")
        + " and residual error; intervals are 90% prediction intervals of an observation.",
    ]
    if case.comedications:
        names = ", ".join(c.name for c in case.comedications)
        assumptions.append(
            f"Co-medications ({names}) are not covariates of this model: a drug interaction "
            "(e.g. CYP3A4 induction) is NOT reflected in these predictions."
        )
    samples: list[SamplePrediction] = []
    if times.size:
        sim = simulate_population(
            model, resolved, doses, times, n_individuals=n_individuals, seed=seed
        )
        typical = simulate_typical(model, resolved, doses, times)[0] * MG_PER_L_TO_NG_PER_ML
        draws = sim.concentrations_mg_per_l * MG_PER_L_TO_NG_PER_ML
        for k, sample in enumerate(case.samples):
            column = draws[:, k]
            lo, med, hi = percentiles(column, [5.0, 50.0, 95.0])
            has_lloq = bool(np.isfinite(lloq[k]))
            samples.append(
                SamplePrediction(
                    sample_id=sample.id,
                    time_h=float(times[k]),
                    observed_ng_per_ml=float(observed[k]),
                    below_lloq=bool(below[k]),
                    lloq_ng_per_ml=float(lloq[k]) if has_lloq else None,
                    typical_ng_per_ml=float(typical[k]),
                    interval_5_ng_per_ml=float(lo),
                    median_ng_per_ml=float(med),
                    interval_95_ng_per_ml=float(hi),
                    # A censored level has no percentile: only P(< LLOQ) is meaningful.
                    observed_percentile=None
                    if below[k]
                    else float(100.0 * np.mean(column <= observed[k])),
                    probability_below_lloq=float(np.mean(column < lloq[k])) if has_lloq else None,
                )
            )
    trough: TroughPrediction | None = None
    current = current_regimen(case)
    regimen = None if current is None else (current.dose_mg, current.interval_h)
    if regimen is not None and not model.time_varying_parameters:
        dose_mg, interval_h = regimen
        ss = simulate_steady_state_troughs(
            model,
            resolved,
            dose_mg=dose_mg,
            interval_h=interval_h,
            n_individuals=n_individuals,
            seed=seed,
        )
        values = ss.troughs_mg_per_l * MG_PER_L_TO_NG_PER_ML
        lo, med, hi = percentiles(values, [5.0, 50.0, 95.0])
        typical_trough = predict_steady_state_trough(
            model.structure,
            typical_parameters(model, resolved),
            dose_mg=dose_mg,
            interval_h=interval_h,
        )[0]
        trough = TroughPrediction(
            dose_mg=dose_mg,
            interval_h=interval_h,
            typical_ng_per_ml=float(typical_trough * MG_PER_L_TO_NG_PER_ML),
            interval_5_ng_per_ml=float(lo),
            median_ng_per_ml=float(med),
            interval_95_ng_per_ml=float(hi),
            probability_below_target_frac=None
            if target_ng_per_ml is None
            else float(np.mean(values < target_ng_per_ml)),
            probability_above_alert_frac=None
            if alert_ng_per_ml is None
            else float(np.mean(values > alert_ng_per_ml)),
        )
        assumptions.append(
            f"Steady-state trough for {dose_mg:g} mg every {interval_h:g} h taken at the end of "
            "the dosing interval."
        )
    elif regimen is not None:
        assumptions.append(
            f"No steady-state trough: {model.id} has parameters that change with time on therapy."
        )
    return APrioriPrediction(
        patient_id=case.patient.id,
        model_id=model.id,
        model_name=model.name,
        model_citation=model.citation,
        model_doi=model.doi,
        samples=tuple(samples),
        steady_state_trough=trough,
        covariate_warnings=tuple(w.message for w in resolved.warnings),
        assumptions=tuple(assumptions),
        n_individuals=n_individuals,
        seed=seed,
    )
