"""The figure of the interpretation report: individual curve when there is one, else population.

* With a Bayesian estimate (``Interpretation.dose_recommendation``): the individual predicted
  curve with its 90% credible band from the posterior draws (or, without draws, from the Laplace
  approximation, as in the recommendation report), the measured samples, target and alert.
* Without one (first visit, or a level that cannot be used as reported): the population
  prediction for this patient's covariates, i.e. the median and 5th-95th percentiles of the
  curve over the model's between-patient variability (no residual error). For a first visit the
  current regimen is continued up to the laboratory's steady-state sampling day
  (``sampling_arup_days`` in ``trough_correction.yaml``), so the figure shows the dosing interval
  in which the first trough would be drawn.

Imports tdm, pk and case public API only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imatinib_tdm.case import Case
from imatinib_tdm.errors import TdmError
from imatinib_tdm.pk import DoseHistory, PopPKModel, resolve_covariates, sample_etas
from imatinib_tdm.report._html import _laplace_draws, samples_from_estimate
from imatinib_tdm.report._plot import PlotSample, plot_individual_profile
from imatinib_tdm.tdm import Interpretation, covariates_with_current_dose, load_trough_correction

__all__ = ["InterpretationFigure", "plot_interpretation"]

HOURS_PER_DAY = 24.0
_POPULATION_DRAWS = 1000
_POPULATION_SEED = 20261126
# drawn at the size it is printed (A4 text width, low), legend beside the axes
_FIGURE_SIZE_IN = (7.2, 2.2)


@dataclass(frozen=True)
class InterpretationFigure:
    """The figure of an interpretation report.

    Attributes
    ----------
    svg : str or None
        Inline ``<svg>`` produced by this package; None when the figure could not be drawn.
    kind : {"individual", "population", "none"}
    caption : str
        What the curve, band and markers show (or why there is no figure).
    """

    svg: str | None
    kind: str
    caption: str


def _resolved_covariates(case: Case, model: PopPKModel) -> dict[str, float]:
    """The case's covariates with the model's documented substitutions, plus the daily dose."""
    values: dict[str, Any] = dict(covariates_with_current_dose(case))
    resolved = resolve_covariates(model, values)
    out = {name: float(np.asarray(v).reshape(-1)[0]) for name, v in resolved.values.items()}
    if "daily_dose_mg" in values:
        out.setdefault("daily_dose_mg", values["daily_dose_mg"])
    return out


def _case_doses(case: Case, *, continue_to_steady_state: bool) -> DoseHistory:
    events = sorted(case.dose_events())
    times = [t for t, _ in events]
    amounts = [a for _, a in events]
    last = max(case.doses, key=lambda d: case.hours_since_first_dose(d.time))
    if continue_to_steady_state and last.interval_h is not None:
        horizon_h = load_trough_correction().sampling_days.min_days_on_therapy * HOURS_PER_DAY
        interval_h = float(last.interval_h)
        next_h = times[-1] + interval_h
        while next_h < horizon_h:
            times.append(next_h)
            amounts.append(float(last.amount_mg))
            next_h += interval_h
    return DoseHistory.create(times, amounts)


def _case_samples(case: Case) -> list[PlotSample]:
    times = case.sample_times_h()
    conc = case.concentrations_ng_per_ml()
    lloq = case.lloq_ng_per_ml()
    below = case.is_below_lloq()
    return [
        PlotSample(
            time_h=float(times[k]),
            concentration_ng_per_ml=None if below[k] else float(conc[k]),
            below_lloq=bool(below[k]),
            lloq_ng_per_ml=float(lloq[k]) if np.isfinite(lloq[k]) else None,
            label=sample.id,
        )
        for k, sample in enumerate(case.samples)
    ]


def _individual(
    case: Case, interpretation: Interpretation, model: PopPKModel
) -> InterpretationFigure:
    rec = interpretation.dose_recommendation
    assert rec is not None  # checked by the caller
    if rec.eta_draws is None:
        draws = _laplace_draws(model, rec.estimate)
        band_label = "90% band (Laplace approximation)"
        band_text = "90% interval of the individual curve from the Laplace approximation"
    else:
        draws = np.asarray(rec.eta_draws, dtype=np.float64)
        band_label = "90% credible band"
        band_text = "90% credible interval of the individual curve"
    svg = plot_individual_profile(
        model,
        _resolved_covariates(case, model),
        draws,
        _case_doses(case, continue_to_steady_state=False),
        samples_from_estimate(rec.estimate),
        target_ng_per_ml=interpretation.target_ng_per_ml,
        alert_ng_per_ml=interpretation.alert_ng_per_ml,
        band_label=band_label,
        size_in=_FIGURE_SIZE_IN,
        legend_right=True,
    )
    caption = (
        "Line: individual (Bayesian) prediction, median over posterior draws; grey band: "
        f"{band_text} (without residual error); filled circles: measured levels; open circles: "
        "levels below the LLOQ, drawn at the LLOQ; dashed line: target; dotted line: alert."
    )
    return InterpretationFigure(svg=svg, kind="individual", caption=caption)


def _population(
    case: Case, interpretation: Interpretation, model: PopPKModel
) -> InterpretationFigure:
    first_visit = not case.samples
    draws = sample_etas(model, _POPULATION_DRAWS, np.random.default_rng(_POPULATION_SEED))
    svg = plot_individual_profile(
        model,
        _resolved_covariates(case, model),
        draws,
        _case_doses(case, continue_to_steady_state=first_visit),
        _case_samples(case),
        target_ng_per_ml=interpretation.target_ng_per_ml,
        alert_ng_per_ml=interpretation.alert_ng_per_ml,
        band_label="90% population band",
        curve_label="population prediction",
        size_in=_FIGURE_SIZE_IN,
        legend_right=True,
    )
    if first_visit:
        days = load_trough_correction().sampling_days.min_days_on_therapy
        scope = (
            f"for the current regimen continued to day {days:g} of therapy (the steady-state "
            "sampling day of sampling_arup_days)"
        )
    else:
        scope = (
            "for the recorded doses; no individual estimate was made because the latest level "
            "cannot be used as reported (see the findings)"
        )
    caption = (
        "POPULATION PREDICTION, not an individual estimate: line: median curve of patients "
        "with these covariates; grey band: 5th-95th percentiles over the model's "
        f"between-patient variability (without residual error), {scope}. Dashed line: target; "
        "dotted line: alert."
        + ("" if first_visit else " Circles: the reported levels, for comparison only.")
    )
    return InterpretationFigure(svg=svg, kind="population", caption=caption)


def plot_interpretation(
    case: Case, interpretation: Interpretation, model: PopPKModel
) -> InterpretationFigure:
    """Draw the figure of an interpretation: individual curve, or population curve without one.

    Parameters
    ----------
    case : Case
        The interpreted case.
    interpretation : Interpretation
        Result of :func:`imatinib_tdm.tdm.interpret` for ``case`` and ``model``.
    model : PopPKModel

    Returns
    -------
    InterpretationFigure
        The SVG and its caption. When the model cannot be evaluated for this case (e.g. a
        covariate outside its hard domain), ``svg`` is None and the caption gives the error,
        so the rest of the report still renders and says why the figure is missing.
    """
    try:
        if interpretation.dose_recommendation is not None:
            return _individual(case, interpretation, model)
        return _population(case, interpretation, model)
    except TdmError as error:
        return InterpretationFigure(
            svg=None,
            kind="none",
            caption=f"No figure: the profile could not be computed ({error}).",
        )
