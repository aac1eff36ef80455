"""Self-contained HTML report of a dose recommendation (Jinja2, autoescaped, works offline).

The page has no external assets (inline CSS, inline SVG plot, no scripts, no links) and is laid
out for one to two A4 pages in print. Every value that comes from a case or a knowledge file is
escaped by Jinja2's autoescaping; the only markup inserted unescaped is the plot, which this
package generates itself.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from numpy.typing import ArrayLike

from imatinib_tdm import __version__
from imatinib_tdm.case import Case
from imatinib_tdm.pk import DoseHistory, PopPKModel
from imatinib_tdm.report._plot import PlotSample, plot_individual_profile
from imatinib_tdm.tdm import DoseRecommendation, IndividualEstimate, covariates_with_current_dose

__all__ = [
    "DEVICE_NOTICE",
    "render_recommendation_html",
    "samples_from_estimate",
    "write_recommendation_report",
]

DEVICE_NOTICE = "Research and decision support software, not a medical device."
_LAPLACE_DRAWS = 1000
_LAPLACE_SEED = 20261126

_PARAMETER_LABELS = {
    "cl_l_per_h": ("Clearance CL", "L/h"),
    "v_l": ("Central volume V", "L"),
    "q_l_per_h": ("Intercompartmental clearance Q", "L/h"),
    "v2_l": ("Peripheral volume V2", "L"),
    "ka_per_h": ("Absorption rate constant ka", "1/h"),
    "bioavailability_frac": ("Relative bioavailability F", ""),
    "tlag_h": ("Lag time", "h"),
    "mtt_h": ("Mean transit time", "h"),
    "n_transit": ("Number of transit compartments", ""),
    "d1_h": ("Zero-order absorption duration", "h"),
}


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("imatinib_tdm.report", "templates"),
        # every template, whatever its extension (.html.j2 is not in select_autoescape's list)
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}".replace(",", "\u2009")


def _sig(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100.0 * value:.0f}%"


def _reported(value: float, unit: str) -> str:
    return "" if unit == "ng/mL" else f" (reported {value:g} {unit})"


def _when(case: Case, time: datetime | float) -> str:
    if isinstance(time, datetime):
        return time.strftime("%Y-%m-%d %H:%M")
    return f"{case.hours_since_first_dose(time):g} h after the first dose"


def _context(
    case: Case, recommendation: DoseRecommendation, plot_svg: str | None
) -> dict[str, Any]:
    est = recommendation.estimate
    advice = recommendation.advice
    table = advice.table
    patient = case.patient
    chosen = advice.recommended or advice.best_available
    below = case.is_below_lloq()
    conc = case.concentrations_ng_per_ml()
    lloq = case.lloq_ng_per_ml()
    times = case.sample_times_h()
    predictions = {p["sample_id"]: p for p in est.predictions}
    samples = []
    for k, sample in enumerate(case.samples):
        pred = predictions.get(sample.id, {})
        samples.append(
            {
                "id": sample.id or f"#{k + 1}",
                "when": _when(case, sample.time),
                "time_h": _fmt(float(times[k]), 1),
                "measured": (
                    f"< {_fmt(float(lloq[k]))} (below LLOQ)"
                    if below[k]
                    else _fmt(float(conc[k])) + _reported(sample.concentration, str(sample.unit))
                ),
                "lloq": _fmt(float(lloq[k])) if np.isfinite(lloq[k]) else "–",
                "assay": sample.assay or "not stated",
                "predicted": (
                    f"{_fmt(pred['individual_prediction_ng_per_ml'])} "
                    f"({_fmt(pred['lower'])}–{_fmt(pred['upper'])})"
                    if pred
                    else "–"
                ),
            }
        )
    doses = [
        {
            "start": _when(case, d.time),
            "amount": f"{d.amount_mg:g} mg",
            "schedule": (
                "single dose"
                if d.interval_h is None
                else f"every {d.interval_h:g} h × {d.n_administrations}"
            ),
        }
        for d in sorted(case.doses, key=lambda d: case.hours_since_first_dose(d.time))
    ]
    parameters = []
    for name, summary in est.individual_parameters.items():
        label, unit = _PARAMETER_LABELS.get(name, (name, ""))
        fixed = math.isclose(summary["lower"], summary["upper"], rel_tol=1e-9)
        parameters.append(
            {
                "label": label,
                "unit": unit,
                "value": _sig(summary["value"]),
                "interval": "fixed"
                if fixed
                else f"{_sig(summary['lower'])}–{_sig(summary['upper'])}",
            }
        )
    trough = est.trough_ng_per_ml
    log_linear = est.log_linear_trough
    rows = [
        {
            "label": row.regimen.label,
            "median": _fmt(row.trough_median_ng_per_ml),
            "interval": f"{_fmt(row.trough_p5_ng_per_ml)}–{_fmt(row.trough_p95_ng_per_ml)}",
            "p_target": _pct(row.probability_target_attained),
            "p_alert": _pct(row.probability_above_alert),
            "chosen": chosen is not None and row.regimen == chosen.regimen,
            "caveats": [c.message for c in row.caveats],
        }
        for row in table.rows
    ]
    resampling = recommendation.resampling
    return {
        "notice": DEVICE_NOTICE,
        "estimate_notice": est.notice,
        "patient": {
            "id": patient.id,
            "indication": patient.indication.value,
            "diagnosis": patient.diagnosis,
            "sex": patient.sex.value,
            "age": None if patient.age_years is None else f"{patient.age_years:g} years",
            "weight": None if patient.weight_kg is None else f"{patient.weight_kg:g} kg",
            "height": None if patient.height_cm is None else f"{patient.height_cm:g} cm",
        },
        "comedications": [c.name for c in case.comedications],
        "notes": case.notes,
        "samples": samples,
        "doses": doses,
        "missed_doses": len(case.missed_doses),
        "plot_svg": None if plot_svg is None else Markup(plot_svg),  # generated here, trusted
        "model": {
            "id": est.model_id,
            "name": est.model_name,
            "citation": est.model_citation,
            "doi": est.model_doi,
        },
        "parameters": parameters,
        "etas": [{"name": k, "value": f"{v:+.3f}"} for k, v in est.etas.items()],
        "converged": est.converged,
        "posterior": est.posterior,
        "ess": _fmt(float(est.posterior.get("effective_sample_size", math.nan))),
        "trough": None
        if trough is None
        else {
            "value": _fmt(trough["value"]),
            "interval": f"{_fmt(trough['lower'])}–{_fmt(trough['upper'])}",
            "regimen": f"{trough['dose_mg']:g} mg every {trough['interval_h']:g} h",
        },
        "log_linear": None
        if log_linear is None
        else {
            "value": _fmt(log_linear["trough_ng_per_ml"]),
            "range": f"{_fmt(log_linear['range_low_ng_per_ml'])}–"
            f"{_fmt(log_linear['range_high_ng_per_ml'])}",
            "sample_id": log_linear.get("sample_id") or "latest sample",
            "time_after_dose": f"{log_linear['time_after_dose_h']:g} h",
            "reliable": bool(log_linear.get("is_reliable", True)),
            "citation": log_linear.get("method_citation"),
        },
        "target": {
            "id": table.target_id,
            "value": f"{table.target_ng_per_ml:g}",
            "verification": table.target_verification,
        },
        "alert": None
        if table.alert_id is None or table.alert_ng_per_ml is None
        else {
            "id": table.alert_id,
            "value": f"{table.alert_ng_per_ml:g}",
            "verification": table.alert_verification,
        },
        "rows": rows,
        "table_caveats": [c.message for c in table.caveats],
        "advice": {
            "status": advice.status.value.replace("_", " "),
            "recommended": advice.recommended is not None,
            "regimen": None if chosen is None else chosen.regimen.label,
            "reason": advice.reason,
            "rule": advice.rule,
        },
        "resampling": None
        if resampling is None
        else {
            "days": f"{resampling.resample_after_days:.0f}",
            "rule": resampling.lab_rule_applied.replace("_", " "),
            "trough": _fmt(resampling.predicted_trough_at_resampling_median_ng_per_ml),
        },
        "assumptions": est.assumptions,
        "warnings": est.warnings,
        "software_version": est.software_version or __version__,
    }


def render_recommendation_html(
    case: Case, recommendation: DoseRecommendation, *, plot_svg: str | None
) -> str:
    """Render a dose recommendation as a self-contained, printable HTML page.

    Parameters
    ----------
    case : Case
        The case the recommendation was computed from (patient, doses, samples).
    recommendation : DoseRecommendation
        Result of :func:`imatinib_tdm.tdm.recommend_dose`.
    plot_svg : str or None
        An inline ``<svg>`` (e.g. from :func:`plot_individual_profile`), inserted unescaped;
        pass only SVG produced by this package. None leaves the figure out.

    Returns
    -------
    str
        The HTML document (UTF-8 text): inline CSS, no scripts, no external references; all
        case and knowledge text escaped.
    """
    template = _environment().get_template("recommendation.html.j2")
    return template.render(**_context(case, recommendation, plot_svg))


def samples_from_estimate(estimate: IndividualEstimate) -> list[PlotSample]:
    """The measured samples of an estimate as :class:`PlotSample` (ng/mL, hours)."""
    return [
        PlotSample(
            time_h=float(p["time_h"]),
            concentration_ng_per_ml=p["observed_ng_per_ml"],
            below_lloq=bool(p["below_lloq"]),
            lloq_ng_per_ml=p["lloq_ng_per_ml"],
            label=p["sample_id"],
        )
        for p in estimate.predictions
    ]


def _plot_inputs(case: Case) -> tuple[dict[str, float], DoseHistory]:
    """Covariates (with ``daily_dose_mg`` of the current regimen) and the dose history."""
    covariates = covariates_with_current_dose(case)
    events = case.dose_events()
    doses = DoseHistory.create([t for t, _ in events], [a for _, a in events])
    return covariates, doses


def _laplace_draws(model: PopPKModel, estimate: IndividualEstimate) -> np.ndarray:
    """Approximate posterior draws: independent normals at the MAP with the Laplace SDs."""
    mean = np.array([estimate.etas[n] for n in model.eta_names], dtype=np.float64)
    sd = np.array(
        [estimate.eta_laplace_sd.get(n) or 0.0 for n in model.eta_names], dtype=np.float64
    )
    rng = np.random.default_rng(_LAPLACE_SEED)
    return mean + rng.standard_normal((_LAPLACE_DRAWS, mean.size)) * sd


def write_recommendation_report(
    case: Case,
    model: PopPKModel,
    recommendation: DoseRecommendation,
    path: str | Path,
    *,
    eta_draws: ArrayLike | None = None,
) -> Path:
    """Plot the individual profile and write the HTML report of a recommendation to ``path``.

    Parameters
    ----------
    case : Case
    model : PopPKModel
        The model the recommendation was computed with.
    recommendation : DoseRecommendation
        Result of :func:`imatinib_tdm.tdm.recommend_dose` for ``case`` and ``model``.
    path : str or Path
        Output file (UTF-8 HTML), overwritten.
    eta_draws : array-like of shape (n_draws, n_etas), optional
        Posterior draws of the random effects (``model.eta_names`` order); default: the draws
        the recommendation carries (``recommendation.eta_draws``). When neither is available,
        the band is drawn from the Laplace approximation of the posterior (independent normals
        at the MAP estimate with ``eta_laplace_sd``, seed fixed), and the legend says so.

    Returns
    -------
    Path
        The written file.
    """
    estimate = recommendation.estimate
    table = recommendation.advice.table
    covariates, doses = _plot_inputs(case)
    if eta_draws is None:
        eta_draws = recommendation.eta_draws
    if eta_draws is None:
        draws = _laplace_draws(model, estimate)
        band_label = "90% band (Laplace approximation)"
    else:
        draws = np.asarray(eta_draws, dtype=np.float64)
        band_label = "90% credible band"
    svg = plot_individual_profile(
        model,
        covariates,
        draws,
        doses,
        samples_from_estimate(estimate),
        target_ng_per_ml=table.target_ng_per_ml,
        alert_ng_per_ml=table.alert_ng_per_ml,
        band_label=band_label,
    )
    html = render_recommendation_html(case, recommendation, plot_svg=svg)
    out = Path(path)
    out.write_text(html, encoding="utf-8")
    return out
