"""Plotly figures (as JSON-ready dicts) for the pages: no drawing or arithmetic in templates.

* :func:`interpretation_figure` — the individual predicted curve (median over the posterior
  draws) with its 90% band, the measured samples, the target and the alert;
* :func:`history_figure` — a patient's measured levels and daily doses over calendar time.

Concentrations come from :mod:`imatinib_tdm.pk` (the same functions the report's SVG plot
uses); this module only picks the time grid and arranges the traces. Colours are greys with
distinct dash styles so the figures stay readable when printed in black and white.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

import numpy as np

from imatinib_tdm.case import Case
from imatinib_tdm.pk import DoseHistory, PopPKModel, individual_parameters, predict_concentrations
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.tdm import Interpretation, covariates_with_current_dose
from imatinib_tdm.units import convert_concentration

__all__ = ["history_figure", "interpretation_figure"]

_N_GRID = 300
_LOOKBACK_H = 96.0  # shown before the first sample, as in the report's plot
_BAND_PERCENTILES = (5.0, 95.0)
_LAYOUT: dict[str, Any] = {
    "template": "simple_white",
    "font": {"family": "DejaVu Sans, sans-serif", "size": 12},
    "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
    "height": 380,
}


def _doses(case: Case) -> tuple[DoseHistory, dict[str, float]]:
    events = case.dose_events()
    doses = DoseHistory.create([t for t, _ in events], [a for _, a in events])
    return doses, covariates_with_current_dose(case)


def interpretation_figure(
    case: Case, model: PopPKModel, interpretation: Interpretation
) -> dict[str, Any] | None:
    """Figure of an interpretation, or None when it has no posterior (no usable sample).

    Time axis: hours since the first dose, from 96 h before the first sample to one dosing
    interval after the last dose (or just after the last sample).
    """
    recommendation = interpretation.dose_recommendation
    if recommendation is None or recommendation.eta_draws is None:
        return None
    doses, covariates = _doses(case)
    sample_times = case.sample_times_h()
    dose_times = np.asarray(doses.times_h)
    interval = float(np.diff(dose_times)[-1]) if dose_times.size > 1 else 24.0
    end = float(dose_times.max()) + interval
    if sample_times.size:
        start = float(sample_times.min()) - _LOOKBACK_H
        end = max(end, float(sample_times.max()) + 0.1 * interval)
    else:
        start = end - _LOOKBACK_H
    grid = np.linspace(max(0.0, start), end, _N_GRID)
    params = individual_parameters(
        model,
        covariates,
        recommendation.eta_draws,
        dose_times_h=doses.times_h if model.time_varying_parameters else None,
    )
    conc = convert_concentration(
        predict_concentrations(model.structure, params, doses, grid), "mg/L", "ng/mL"
    )
    lower, upper = np.percentile(conc, _BAND_PERCENTILES, axis=0)
    median = np.median(conc, axis=0)
    traces: list[dict[str, Any]] = [
        {"x": grid, "y": upper, "mode": "lines", "line": {"width": 0}, "showlegend": False,
         "hoverinfo": "skip", "name": "95th percentile"},
        {"x": grid, "y": lower, "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": "rgba(120,120,120,0.3)", "name": "90% credible band"},
        {"x": grid, "y": median, "mode": "lines", "line": {"color": "black", "width": 2},
         "name": "individual prediction"},
    ]  # fmt: skip
    measured = case.concentrations_ng_per_ml()
    censored = case.is_below_lloq()
    lloq = case.lloq_ng_per_ml()
    if sample_times.size:
        keep = ~censored
        traces.append(
            {"x": sample_times[keep], "y": measured[keep], "mode": "markers",
             "marker": {"color": "black", "size": 9}, "name": "measured"}
        )  # fmt: skip
        if censored.any():
            traces.append(
                {"x": sample_times[censored], "y": lloq[censored], "mode": "markers",
                 "marker": {"color": "white", "size": 9, "line": {"color": "black", "width": 2}},
                 "name": "below LLOQ (drawn at the LLOQ)"}
            )  # fmt: skip
    for value, label, dash in (
        (interpretation.target_ng_per_ml, "target", "dash"),
        (interpretation.alert_ng_per_ml, "alert", "dot"),
    ):
        if value is not None:
            traces.append(
                {"x": [grid[0], grid[-1]], "y": [value, value], "mode": "lines",
                 "line": {"color": "#444", "dash": dash, "width": 1.5},
                 "name": f"{label} {value:g} ng/mL"}
            )  # fmt: skip
    layout = {
        **_LAYOUT,
        "xaxis": {"title": {"text": "time since first dose (h)"}},
        "yaxis": {"title": {"text": "imatinib (ng/mL)"}, "rangemode": "tozero"},
    }
    return to_jsonable({"data": traces, "layout": layout})  # type: ignore[no-any-return]


def history_figure(cases: Sequence[tuple[str, Case]]) -> dict[str, Any] | None:
    """Levels (ng/mL) and prescribed daily doses (mg/day) of a patient's episodes over time.

    Parameters
    ----------
    cases : sequence of (label, Case)
        The episodes' cases; only those with clock times can be placed on a calendar axis.

    Returns
    -------
    dict or None
        None when no episode has clock times.
    """
    level_x: list[str] = []
    level_y: list[float | None] = []
    level_text: list[str] = []
    dose_x: list[str] = []
    dose_y: list[float] = []
    for raw_label, case in cases:
        if not case.uses_clock_times:
            continue
        # Plotly reads a subset of HTML in hover text (<b>, <a href>...): user text goes in
        # escaped, so it is shown as typed and never becomes a link or markup
        label = escape(raw_label, quote=False)
        values = case.concentrations_ng_per_ml()
        for sample, value, censored in zip(case.samples, values, case.is_below_lloq(), strict=True):
            level_x.append(_iso(sample.time))
            level_y.append(None if censored else float(value))
            level_text.append(f"{label}: below LLOQ" if censored else label)
        for dose in sorted(case.doses, key=lambda d: case.hours_since_first_dose(d.time)):
            if dose.interval_h is None or dose.count is None or not isinstance(dose.time, datetime):
                dose_x.append(_iso(dose.time))
                dose_y.append(float(dose.amount_mg))
                continue
            daily = float(dose.amount_mg) * 24.0 / float(dose.interval_h)
            last = dose.time + timedelta(hours=float(dose.interval_h) * (dose.count - 1))
            # a regimen is a flat step from its first to its last administration
            dose_x.extend([_iso(dose.time), _iso(last)])
            dose_y.extend([daily, daily])
    if not level_x and not dose_x:
        return None
    traces = [
        {"x": level_x, "y": level_y, "text": level_text, "mode": "markers+lines",
         "marker": {"color": "black", "size": 9}, "line": {"color": "black"},
         "name": "measured level (ng/mL)", "connectgaps": False},
        {"x": dose_x, "y": dose_y, "mode": "lines+markers", "yaxis": "y2",
         "line": {"shape": "hv", "color": "#555", "dash": "dash"},
         "marker": {"symbol": "square-open", "color": "#555", "size": 7},
         "name": "daily dose (mg/day)"},
    ]  # fmt: skip
    layout = {
        **_LAYOUT,
        "margin": {**_LAYOUT["margin"], "r": 80},
        "xaxis": {"title": {"text": "date"}, "type": "date"},
        "yaxis": {"title": {"text": "imatinib (ng/mL)"}, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "dose (mg/day)"}, "overlaying": "y", "side": "right",
                   "rangemode": "tozero"},
    }  # fmt: skip
    return to_jsonable({"data": traces, "layout": layout})  # type: ignore[no-any-return]


def _iso(time: Any) -> str:
    return time.isoformat() if hasattr(time, "isoformat") else str(time)
