"""A whole evaluation run: every chosen model on one dataset, averaging, selection, ranking."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from imatinib_tdm.evaluation._averaging import combine_models
from imatinib_tdm.evaluation._evaluate import (
    DEFAULT_SEED,
    DEFAULT_TIME_VARYING_PATIENT_LIMIT,
    ModelEvaluation,
    evaluate_model,
)
from imatinib_tdm.evaluation._layout import DEFAULT_OCCASION_GAP_H
from imatinib_tdm.evaluation._ranking import (
    RankingRow,
    rank_models,
    subgroup_masks,
    subgroup_tables,
)
from imatinib_tdm.pk import EventTable, PopPKModel

__all__ = ["EvaluationStudy", "evaluate_dataset"]


@dataclass(frozen=True, eq=False)
class EvaluationStudy:
    """Result of :func:`evaluate_dataset`.

    Attributes
    ----------
    source : str, where the data came from
    n_patients, n_observations : int
    seed, n_replicates : simulation settings
    evaluations : tuple of ModelEvaluation, one per model, then averaging and selection
    ranking : list of RankingRow (all of ``evaluations``)
    subgroups : mapping group -> ranking rows
    """

    source: str
    n_patients: int
    n_observations: int
    seed: int
    n_replicates: int
    evaluations: tuple[ModelEvaluation, ...]
    ranking: list[RankingRow]
    subgroups: dict[str, list[RankingRow]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (nan encoded as None)."""
        cleaned: dict[str, Any] = _clean(
            {
                "source": self.source,
                "n_patients": self.n_patients,
                "n_observations": self.n_observations,
                "seed": self.seed,
                "n_replicates": self.n_replicates,
                "ranking": [row.to_dict() for row in self.ranking],
                "subgroups": {g: [r.to_dict() for r in rows] for g, rows in self.subgroups.items()},
                "warnings": {e.model_id: list(e.warnings) for e in self.evaluations if e.warnings},
            }
        )
        return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def evaluate_dataset(
    table: EventTable,
    models: Sequence[PopPKModel],
    *,
    seed: int = DEFAULT_SEED,
    n_replicates: int = 200,
    forecasting: bool = True,
    occasion_gap_h: float = DEFAULT_OCCASION_GAP_H,
    n_starts: int = 1,
    time_varying_patient_limit: int | None = DEFAULT_TIME_VARYING_PATIENT_LIMIT,
    on_model_done: Callable[[str], None] | None = None,
    workers: int = 1,
) -> EvaluationStudy:
    """Evaluate ``models`` on ``table``, add model averaging and selection, rank them all.

    Parameters
    ----------
    table : EventTable (mg/L)
    models : sequence of PopPKModel
    seed, n_replicates, forecasting, occasion_gap_h, n_starts, time_varying_patient_limit
        As :func:`~imatinib_tdm.evaluation.evaluate_model`.
    on_model_done : callable, optional
        Called with each model id when its evaluation ends (progress bars).
    workers : int, default 1
        Processes to spread the models over (the evaluations are pure functions of model and
        table); 1 runs in this process.

    Returns
    -------
    EvaluationStudy
        Models that cannot be evaluated are in the ranking with their reason; nothing raises
        because of one model.
    """
    run = partial(
        evaluate_model,
        table=table,
        seed=seed,
        n_replicates=n_replicates,
        forecasting=forecasting,
        occasion_gap_h=occasion_gap_h,
        n_starts=n_starts,
        time_varying_patient_limit=time_varying_patient_limit,
    )
    evaluations: list[ModelEvaluation] = []
    if workers > 1 and len(models) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for evaluation in pool.map(run, models):
                evaluations.append(evaluation)
                if on_model_done is not None:
                    on_model_done(evaluation.model_id)
    else:
        for model in models:
            evaluations.append(run(model))
            if on_model_done is not None:
                on_model_done(model.id)
    averaging, selection = combine_models(evaluations)
    evaluations += [averaging, selection]
    first = next((e.predictions for e in evaluations if e.predictions is not None), None)
    masks = subgroup_masks(table, first.patient_id) if first is not None else {}
    return EvaluationStudy(
        source=table.source,
        n_patients=table.n_patients,
        n_observations=0 if first is None else first.n_obs,
        seed=seed,
        n_replicates=n_replicates,
        evaluations=tuple(evaluations),
        ranking=rank_models(evaluations),
        subgroups=subgroup_tables(evaluations, masks) if len(masks) else {},
    )
