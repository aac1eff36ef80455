"""Individual concentration-time profile as an inline SVG (matplotlib, Agg backend, no files).

The curve is the median over posterior draws of the random effects, the band their 5th-95th
percentiles (90% credible band of the individual curve, without residual error). Measured
samples are filled circles; samples below the LLOQ are open circles drawn at the LLOQ with a
"<LLOQ" label. The target and alert are horizontal lines. Styling is black and grey with
distinct line styles so the figure stays readable when printed in black and white.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from imatinib_tdm.errors import CaseError
from imatinib_tdm.pk import DoseHistory, PopPKModel, individual_parameters, predict_concentrations

__all__ = ["PlotSample", "plot_individual_profile"]

MG_PER_L_TO_NG_PER_ML = 1000.0  # unit definition: 1 mg/L = 1000 ng/mL
_BAND = (5.0, 95.0)
_N_GRID = 400
_LOOKBACK_H = 96.0  # shown before the first sample (or before the end without samples)


@dataclass(frozen=True)
class PlotSample:
    """One measured sample for :func:`plot_individual_profile`.

    Attributes
    ----------
    time_h : float
        Hours since the first dose (the clock of the dose history).
    concentration_ng_per_ml : float or None
        Measured value; None for a censored sample.
    below_lloq : bool
        Censored (reported below the LLOQ); drawn as an open marker at the LLOQ.
    lloq_ng_per_ml : float or None
        Limit of quantification; required to draw a censored sample.
    label : str or None
        Sample identifier (not drawn; kept for callers).
    """

    time_h: float
    concentration_ng_per_ml: float | None
    below_lloq: bool = False
    lloq_ng_per_ml: float | None = None
    label: str | None = None


def _pyplot() -> Any:
    os.environ.setdefault("MPLCONFIGDIR", str(Path.home() / ".cache" / "imatinib-tdm-mpl"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _window(doses: DoseHistory, samples: Sequence[PlotSample]) -> tuple[float, float]:
    dose_times = doses.times_h[np.asarray(doses.amounts_mg).reshape(-1, doses.times_h.size)[0] > 0]
    last_dose = float(dose_times.max()) if dose_times.size else float(doses.times_h.max())
    gaps = np.diff(dose_times)
    interval = float(gaps[-1]) if gaps.size else 24.0
    end = last_dose + interval
    if samples:
        start = min(s.time_h for s in samples) - _LOOKBACK_H
        end = max(end, max(s.time_h for s in samples) + 0.1 * interval)
    else:
        start = end - _LOOKBACK_H
    return max(0.0, start), end


def _svg_text(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    svg = buffer.getvalue()
    # inline in HTML: no XML prologue, DOCTYPE or RDF metadata (which carry external URLs)
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    return svg.strip()


def plot_individual_profile(
    model: PopPKModel,
    covariates: Mapping[str, Any],
    eta_draws: ArrayLike,
    doses: DoseHistory,
    samples: Sequence[PlotSample] = (),
    *,
    target_ng_per_ml: float | None = None,
    alert_ng_per_ml: float | None = None,
    window_h: tuple[float, float] | None = None,
    band_label: str = "90% credible band",
    curve_label: str = "individual prediction",
    title: str | None = None,
    size_in: tuple[float, float] = (7.0, 3.6),
    legend_right: bool = False,
) -> str:
    """Inline SVG of the individual predicted profile with its band, samples, target and alert.

    Parameters
    ----------
    model : PopPKModel
    covariates : mapping of str to float
        The individual's covariates in the model's units (as used for the estimate, including
        ``daily_dose_mg`` when the model uses it).
    eta_draws : array-like of shape (n_draws, n_etas)
        Posterior draws of the inter-individual random effects in ``model.eta_names`` order
        (inter-occasion effects set to zero).
    doses : DoseHistory
        One individual's dose history (hours since the first dose).
    samples : sequence of PlotSample
        Measured samples on the same clock.
    target_ng_per_ml, alert_ng_per_ml : float, optional
        Horizontal reference lines.
    window_h : (float, float), optional
        Time axis range in hours; default from 96 h before the first sample (or before the end)
        to one dosing interval after the last dose (or just after the last sample).
    band_label : str
        Legend text of the band.
    curve_label : str
        Legend text of the median curve (e.g. ``"population prediction"`` when the draws come
        from the model's between-patient variability rather than a posterior).
    title : str, optional
    size_in : (float, float), default (7.0, 3.6)
        Figure width and height in inches (the SVG's natural size: draw it at the size it is
        shown so the 9 pt text stays 9 pt).
    legend_right : bool, default False
        Legend in one column right of the axes (for wide, low figures) instead of below.

    Returns
    -------
    str
        An ``<svg>`` element (no XML prologue), text kept as text.

    Raises
    ------
    CaseError
        ``eta_draws`` has the wrong shape.
    """
    draws = np.atleast_2d(np.asarray(eta_draws, dtype=np.float64))
    if draws.ndim != 2 or draws.shape[1] != len(model.eta_names):
        raise CaseError(
            f"eta_draws must have shape (n_draws, {len(model.eta_names)}) for model {model.id}, "
            f"got {draws.shape}",
            field="eta_draws",
        )
    start, end = window_h if window_h is not None else _window(doses, samples)
    grid = np.linspace(start, end, _N_GRID)
    params = individual_parameters(
        model,
        dict(covariates),
        draws,
        dose_times_h=doses.times_h if model.time_varying_parameters else None,
    )
    conc = predict_concentrations(model.structure, params, doses, grid) * MG_PER_L_TO_NG_PER_ML
    median = np.median(conc, axis=0)
    lower, upper = np.percentile(conc, _BAND, axis=0)

    plt = _pyplot()
    with plt.rc_context({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "imatinib"}):
        fig, ax = plt.subplots(figsize=size_in)
        try:
            ax.fill_between(
                grid, lower, upper, color="0.82", linewidth=0, zorder=1, label=band_label
            )
            ax.plot(grid, median, color="black", linewidth=1.6, zorder=3, label=curve_label)
            if target_ng_per_ml is not None:
                ax.axhline(
                    target_ng_per_ml,
                    color="0.25",
                    linestyle="--",
                    linewidth=1.1,
                    zorder=2,
                    label=f"target {target_ng_per_ml:g} ng/mL",
                )
            if alert_ng_per_ml is not None:
                ax.axhline(
                    alert_ng_per_ml,
                    color="0.45",
                    linestyle=":",
                    linewidth=1.3,
                    zorder=2,
                    label=f"alert {alert_ng_per_ml:g} ng/mL",
                )
            measured = [
                s for s in samples if not s.below_lloq and s.concentration_ng_per_ml is not None
            ]
            if measured:
                ax.plot(
                    [s.time_h for s in measured],
                    [s.concentration_ng_per_ml for s in measured],
                    linestyle="none",
                    marker="o",
                    markersize=6,
                    markerfacecolor="black",
                    markeredgecolor="black",
                    zorder=4,
                    label="measured",
                )
            censored = [s for s in samples if s.below_lloq and s.lloq_ng_per_ml is not None]
            if censored:
                ax.plot(
                    [s.time_h for s in censored],
                    [s.lloq_ng_per_ml for s in censored],
                    linestyle="none",
                    marker="o",
                    markersize=6,
                    markerfacecolor="white",
                    markeredgecolor="black",
                    zorder=4,
                    label="below LLOQ (at LLOQ)",
                )
                for s in censored:
                    ax.annotate(
                        "<LLOQ",
                        (s.time_h, float(s.lloq_ng_per_ml or 0.0)),
                        textcoords="offset points",
                        xytext=(5, 5),
                        fontsize=8,
                    )
            ax.set_xlim(start, end)
            ax.set_ylim(bottom=0.0)
            ax.set_xlabel("Time since first dose (h)")
            ax.set_ylabel("Imatinib plasma concentration (ng/mL)")
            if title:
                ax.set_title(title)
            ax.grid(True, color="0.9", linewidth=0.6)
            if legend_right:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)
            else:
                ax.legend(
                    loc="upper center",
                    bbox_to_anchor=(0.5, -0.16),
                    fontsize=7.5,
                    frameon=False,
                    ncols=3,
                )
            return _svg_text(fig)
        finally:
            plt.close(fig)
