"""Self-contained HTML evaluation report: metric table, ROC, calibration and decision curves.

Figures are matplotlib SVG inlined in the page (no network, no external assets). A report on
synthetic data carries a banner saying so at the top.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from imatinib_tdm.ml._evaluation import EvaluationResult
from imatinib_tdm.ml._metrics import roc_curve_points
from imatinib_tdm.ml._synthetic import SYNTHETIC_NOTICE

__all__ = ["render_evaluation_html", "write_evaluation_report"]

_METRICS = (
    ("auroc", "AUROC"),
    ("aupr", "AUPR"),
    ("brier", "Brier"),
    ("calibration_intercept", "Cal. intercept"),
    ("calibration_slope", "Cal. slope"),
    ("sensitivity", "Sensitivity"),
    ("specificity", "Specificity"),
    ("net_benefit", "Net benefit"),
)


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figures(result: EvaluationResult) -> list[str]:
    y = result.y
    roc, axis_roc = plt.subplots(figsize=(4.5, 4))
    cal, axis_cal = plt.subplots(figsize=(4.5, 4))
    dca, axis_dca = plt.subplots(figsize=(5.5, 4))
    for name, candidate in result.candidates.items():
        fpr, tpr = roc_curve_points(y, candidate.probability)
        axis_roc.plot(fpr, tpr, label=f"{name} ({candidate.metrics['auroc'].value:.2f})")
        edges = np.quantile(candidate.probability, np.linspace(0, 1, 6))
        groups = np.clip(np.searchsorted(edges, candidate.probability, side="right") - 1, 0, 4)
        mean_p = [
            candidate.probability[groups == g].mean() for g in range(5) if np.any(groups == g)
        ]
        observed = [y[groups == g].mean() for g in range(5) if np.any(groups == g)]
        axis_cal.plot(mean_p, observed, marker="o", label=name)
        axis_dca.plot(result.decision_thresholds, candidate.net_benefit_curve, label=name)
    axis_roc.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axis_roc.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC (out-of-fold)")
    axis_cal.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axis_cal.set(
        xlabel="predicted probability (quintile mean)",
        ylabel="observed fraction below",
        title="Calibration (out-of-fold)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis_dca.plot(
        result.decision_thresholds,
        result.treat_all_net_benefit(),
        color="grey",
        linestyle="--",
        label="test all",
    )
    axis_dca.axhline(0.0, color="black", linewidth=0.8, label="test none")
    low = min(-0.05, float(np.min(result.treat_all_net_benefit())))
    axis_dca.set(
        xlabel="threshold probability",
        ylabel="net benefit",
        title="Decision curve",
        ylim=(max(low, -0.3), None),
    )
    for axis in (axis_roc, axis_cal, axis_dca):
        axis.legend(fontsize=7)
    return [_svg(roc), _svg(cal), _svg(dca)]


def render_evaluation_html(
    result: EvaluationResult, *, title: str = "Triage model evaluation"
) -> str:
    """The evaluation report as one HTML string (inline SVG figures)."""
    rows = []
    for name, candidate in result.candidates.items():
        cells = "".join(
            f"<td>{candidate.metrics[key].value:.3f}<br><small>({candidate.metrics[key].low:.3f}"
            f"–{candidate.metrics[key].high:.3f})</small></td>"
            for key, _ in _METRICS
        )
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    header = "".join(f"<th>{label}</th>" for _, label in _METRICS)
    banner = (
        f'<p class="synthetic"><strong>{html.escape(SYNTHETIC_NOTICE)}</strong></p>'
        if result.synthetic
        else ""
    )
    figures = "".join(f"<figure>{svg}</figure>" for svg in _figures(result))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:4px 6px;text-align:right}}.synthetic{{background:#fde2a7;
padding:0.8em;border:2px solid #c77}}figure{{display:inline-block;margin:0.5em}}</style></head>
<body>{banner}<h1>{html.escape(title)}</h1>
<p>Label: trough below {result.threshold_ng_per_ml:g} ng/mL. Patients: {result.n_patients},
below threshold: {result.n_below} ({result.n_below / result.n_patients:.0%}).
Class imbalance: {html.escape(result.class_weighting)}.</p>
<p>Nested cross-validation: {result.outer_folds} outer × {result.inner_folds} inner stratified
folds (seed {result.seed}). Metrics on pooled out-of-fold predictions; 95% intervals are percentile
bootstrap intervals over patients ({result.n_bootstrap} resamples). Sensitivity, specificity and net
benefit at operating point {result.operating_point:g}. Data SHA-256 {result.data_sha256[:16]}….</p>
<table><tr><th>model</th>{header}</tr>{"".join(rows)}</table>
{figures}
<p><small>Method after Ran et al., BMC Cancer 2024 (clinical reference imatinib_clinical_kb.md
section 1); their model is not public and is not reproduced. Decision support for research, not a
medical device.</small></p></body></html>
"""


def write_evaluation_report(result: EvaluationResult, path: str | Path) -> Path:
    """Write :func:`render_evaluation_html` to ``path``; returns it."""
    path = Path(path)
    path.write_text(render_evaluation_html(result), encoding="utf-8")
    return path
