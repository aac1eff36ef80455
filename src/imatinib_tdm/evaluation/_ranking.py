"""Ranking of models by their forecasting performance, and the same table per subgroup.

Ranking rule (this package's): models that could be evaluated are ordered by the sum of their
ranks on |MDPE| (bias) and MDAPE (imprecision) of the Bayesian forecasts, ties broken by MDAPE;
when a dataset has no forecast (one occasion per patient) the individual predictions are used.
Medians are used because relative errors are skewed (an observation near 0 gives a huge |PE|).
Models that could not be evaluated follow, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.evaluation._evaluate import ModelEvaluation, model_metrics
from imatinib_tdm.evaluation._metrics import PredictionMetrics
from imatinib_tdm.pk import EventTable, RecordKind

__all__ = ["ADULT_AGE_YEARS", "RankingRow", "rank_models", "subgroup_masks", "subgroup_tables"]

ADULT_AGE_YEARS = 18.0
"""Children are patients younger than this (the usual legal age of majority; a convention)."""


@dataclass(frozen=True)
class RankingRow:
    """One line of the ranking table.

    Attributes
    ----------
    rank : int or None (None: not evaluable)
    model_id, label : str
    basis : "forecast" or "individual": the predictions the rank is based on
    metrics : mapping prediction kind -> PredictionMetrics
    error : str or None, why the model could not be evaluated
    """

    rank: int | None
    model_id: str
    label: str
    basis: str
    metrics: Mapping[str, PredictionMetrics]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row."""
        return {
            "rank": self.rank,
            "model_id": self.model_id,
            "label": self.label,
            "basis": self.basis,
            "error": self.error,
            "metrics": {kind: m.to_dict() for kind, m in self.metrics.items()},
        }


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(np.where(np.isfinite(values), values, np.inf), kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    return ranks


def rank_models(
    evaluations: Sequence[ModelEvaluation],
    metrics: Mapping[str, Mapping[str, PredictionMetrics]] | None = None,
) -> list[RankingRow]:
    """The ranking table (see module docstring).

    Parameters
    ----------
    evaluations : sequence of ModelEvaluation
    metrics : mapping model_id -> metrics, optional
        Metrics to rank on instead of each evaluation's own (used for subgroups).
    """
    chosen = {e.model_id: (metrics or {}).get(e.model_id, e.metrics) for e in evaluations}
    ok = [e for e in evaluations if e.error is None and chosen[e.model_id]]
    has_forecast = any(chosen[e.model_id]["forecast"].n > 0 for e in ok)
    basis = "forecast" if has_forecast else "individual"
    bias = np.array([abs(chosen[e.model_id][basis].mdpe) for e in ok])
    imprecision = np.array([chosen[e.model_id][basis].mdape for e in ok])
    score = _ranks(bias) + _ranks(imprecision)
    order = np.lexsort((np.where(np.isfinite(imprecision), imprecision, np.inf), score))
    rows = [
        RankingRow(i + 1, ok[j].model_id, ok[j].label, basis, chosen[ok[j].model_id])
        for i, j in enumerate(order.tolist())
    ]
    rows += [
        RankingRow(None, e.model_id, e.label, basis, {}, e.error or "no observations")
        for e in evaluations
        if e not in ok
    ]
    return rows


def subgroup_masks(table: EventTable, patient_id: NDArray[np.str_]) -> dict[str, NDArray[np.bool_]]:
    """Boolean masks over flat observations for the standard subgroups present in the data.

    ``children`` / ``adults`` (``age_years`` below / at least 18), ``GIST`` / ``CML``
    (``indication_gist`` 1 / 0); a subgroup is returned only when the covariate is in the table
    and the group is not empty. The value used is the patient's last known one.
    """
    real = table.kind != RecordKind.PAD
    by_patient: dict[str, dict[str, float]] = {pid: {} for pid in table.ids}
    for name in ("age_years", "indication_gist"):
        values = table.covariates.get(name)
        if values is None:
            continue
        for p, pid in enumerate(table.ids):
            known = values[p][real[p] & np.isfinite(values[p])]
            if known.size:
                by_patient[pid][name] = float(known[-1])
    out: dict[str, NDArray[np.bool_]] = {}
    tests: dict[str, tuple[str, Callable[[float], bool]]] = {
        "children": ("age_years", lambda v: v < ADULT_AGE_YEARS),
        "adults": ("age_years", lambda v: v >= ADULT_AGE_YEARS),
        "GIST": ("indication_gist", lambda v: v == 1.0),
        "CML": ("indication_gist", lambda v: v == 0.0),
    }
    for group, (name, test) in tests.items():
        flags = [
            name in by_patient.get(str(pid), {}) and test(by_patient[str(pid)][name])
            for pid in patient_id
        ]
        mask = np.asarray(flags, dtype=np.bool_)
        if mask.any():
            out[group] = mask
    return out


def subgroup_tables(
    evaluations: Sequence[ModelEvaluation], masks: Mapping[str, NDArray[np.bool_]]
) -> dict[str, list[RankingRow]]:
    """A ranking table per subgroup (metrics recomputed on the subgroup's observations)."""
    tables = {}
    for group, mask in masks.items():
        metrics = {
            e.model_id: model_metrics(e.predictions, e.pi_low_mg_per_l, e.pi_high_mg_per_l, mask)
            for e in evaluations
            if e.predictions is not None
        }
        tables[group] = rank_models(evaluations, metrics)
    return tables
