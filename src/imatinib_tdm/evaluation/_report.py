"""The evaluation as one self-contained HTML page (inline SVG plots made with matplotlib).

Contents: the ranking table (forecast, individual and population metrics; models that could not
be evaluated with the reason; averaging and selection with the uniform and the centre prior),
the centre prior's mixing proportions, subgroup tables, and per model: observed vs predicted
(individual and forecast), relative error vs time and vs a covariate, and the pcVPC.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from imatinib_tdm.evaluation._evaluate import ModelEvaluation
from imatinib_tdm.evaluation._metrics import relative_errors
from imatinib_tdm.evaluation._ranking import RankingRow
from imatinib_tdm.evaluation._study import EvaluationStudy

__all__ = ["render_evaluation_html", "write_evaluation_report"]

_MG_TO_NG = 1000.0  # 1 mg/L = 1000 ng/mL

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
td.l,th.l{text-align:left}
.err{color:#a00}
figure{margin:0}
"""


def _fmt(value: float, digits: int = 1) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _ranking_table(rows: Sequence[RankingRow]) -> str:
    head = (
        "<tr><th>rank</th><th class=l>model</th><th>n</th><th>MPE %</th><th>MDPE %</th>"
        "<th>MAPE %</th><th>MDAPE %</th><th>rRMSE %</th><th>F20 %</th><th>F30 %</th>"
        "<th>IPRED MDPE %</th><th>IPRED MDAPE %</th><th>PRED MDPE %</th><th>PRED MDAPE %</th>"
        "<th>PI90 %</th></tr>"
    )
    body = []
    for row in rows:
        if row.error is not None:
            body.append(
                f"<tr><td>–</td><td class=l>{html.escape(row.model_id)}</td>"
                f"<td class='l err' colspan=13>not evaluated: {html.escape(row.error)}</td></tr>"
            )
            continue
        f, i, p = (row.metrics[k] for k in ("forecast", "individual", "population"))
        main = row.metrics[row.basis]
        cells = [main.n, main.mpe, main.mdpe, main.mape, main.mdape, main.relative_rmse]
        cells += [main.f20, main.f30, i.mdpe, i.mdape, p.mdpe, p.mdape, p.pi90]
        text = "".join(
            f"<td>{c}</td>" if isinstance(c, int) else f"<td>{_fmt(float(c))}</td>" for c in cells
        )
        del f
        body.append(
            f"<tr><td>{row.rank}</td><td class=l title='{html.escape(row.label)}'>"
            f"{html.escape(row.model_id)}</td>{text}</tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _model_figure(evaluation: ModelEvaluation) -> str:
    pred = evaluation.predictions
    assert pred is not None
    obs = pred.observed_mg_per_l * _MG_TO_NG
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    ax = axes[0]
    for values, label, marker in (
        (pred.individual_mg_per_l, "individual (all data)", "o"),
        (pred.forecast_mg_per_l, "forecast (earlier occasions)", "x"),
    ):
        ax.scatter(obs, values * _MG_TO_NG, s=8, marker=marker, alpha=0.6, label=label)
    finite = obs[np.isfinite(obs) & (obs > 0)]
    if finite.size:
        lims = [finite.min() / 2, finite.max() * 2]
        ax.plot(lims, lims, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("observed (ng/mL)")
    ax.set_ylabel("predicted (ng/mL)")
    ax.legend(fontsize=7)
    basis = (
        pred.forecast_mg_per_l
        if np.isfinite(pred.forecast_mg_per_l).any()
        else pred.individual_mg_per_l
    )
    errors = relative_errors(basis, pred.observed_mg_per_l)
    axes[1].scatter(pred.time_h / 24.0, errors, s=8, alpha=0.6)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set_xlabel("time since first dose (days)")
    axes[1].set_ylabel("relative error (%)")
    name = next(iter(sorted(pred.covariates)), None)
    if "weight_kg" in pred.covariates:
        name = "weight_kg"
    x = pred.covariates[name] if name is not None else pred.time_after_dose_h
    axes[2].scatter(x, errors, s=8, alpha=0.6)
    axes[2].axhline(0, color="k", lw=0.8)
    axes[2].set_xlabel(name or "time after dose (h)")
    axes[2].set_ylabel("relative error (%)")
    ax = axes[3]
    vpc = evaluation.vpc
    if vpc is not None and vpc.bin_centre_h.size:
        for j, colour in enumerate(("tab:blue", "tab:red", "tab:blue")):
            ax.fill_between(
                vpc.bin_centre_h,
                vpc.simulated_low[:, j] * _MG_TO_NG,
                vpc.simulated_high[:, j] * _MG_TO_NG,
                color=colour,
                alpha=0.2,
            )
            ax.plot(vpc.bin_centre_h, vpc.observed[:, j] * _MG_TO_NG, color=colour, lw=1.2)
        ax.set_xlabel("time after dose (h)")
        ax.set_ylabel("prediction-corrected (ng/mL)")
        ax.set_title("pcVPC: observed 5/50/95th (lines), simulated 90% CI", fontsize=8)
    else:
        ax.set_axis_off()
    fig.suptitle(evaluation.label, fontsize=9)
    return _svg(fig)


def _centre_prior_paragraph(study: EvaluationStudy) -> str:
    prior = study.centre_prior
    if prior is None:
        return ""
    text = (
        "<p>model_averaging / model_selection weight the models by each patient's likelihood "
        "with equal prior probabilities; model_averaging_centre / model_selection_centre with "
        f"the {html.escape(prior.describe())}: a patient's prior never uses the patient's own "
        "data.</p>"
    )
    if prior.fallback is not None:
        return text
    ranked = sorted(prior.as_mapping().items(), key=lambda kv: -kv[1])
    items = "".join(
        f"<tr><td class=l>{html.escape(k)}</td><td>{100.0 * v:.1f}</td></tr>" for k, v in ranked
    )
    return (
        text + "<h3>Centre prior: estimated share of the centre's patients per model (%)</h3>"
        f"<table><tr><th class=l>model</th><th>share %</th></tr>{items}</table>"
    )


def render_evaluation_html(study: EvaluationStudy, *, plots: bool = True) -> str:
    """The evaluation report as a self-contained HTML string (no external assets)."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>External evaluation of popPK models</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>External evaluation of imatinib popPK models</h1>",
        f"<p>Data: {html.escape(study.source or 'dataset')} — {study.n_patients} patients, "
        f"{study.n_observations} observations. Simulations: {study.n_replicates} replicates, "
        f"seed {study.seed}. Relative errors (pred − obs)/obs × 100; ranking on the Bayesian "
        "forecasts (each sampling occasion predicted from the earlier ones only) by |MDPE| and "
        "MDAPE. PRED = population, IPRED = individual (all data) predictions; PI90 = share of "
        "observations inside the 90% prediction interval. Research software, not a medical "
        "device.</p>",
        "<h2>Ranking</h2>",
        _ranking_table(study.ranking),
        _centre_prior_paragraph(study),
    ]
    for group, rows in study.subgroups.items():
        parts += [f"<h2>Subgroup: {html.escape(group)}</h2>", _ranking_table(rows)]
    if plots:
        parts.append("<h2>Diagnostics per model</h2>")
        for evaluation in study.evaluations:
            if evaluation.predictions is None or evaluation.vpc is None:
                continue
            parts.append(f"<figure>{_model_figure(evaluation)}</figure>")
            if evaluation.warnings:
                items = "".join(f"<li>{html.escape(w)}</li>" for w in evaluation.warnings)
                parts.append(
                    f"<details><summary>covariate warnings</summary><ul>{items}</ul></details>"
                )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_evaluation_report(
    study: EvaluationStudy, path: str | Path, *, plots: bool = True
) -> Path:
    """Write :func:`render_evaluation_html` to ``path`` (UTF-8); returns the path."""
    target = Path(path)
    target.write_text(render_evaluation_html(study, plots=plots), encoding="utf-8")
    return target
