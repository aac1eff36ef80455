"""A whole evaluation run: every chosen model on one dataset, averaging, selection, ranking.

Four combined rows are added to the single models: averaging and selection with equal prior
model probabilities (``model_averaging``, ``model_selection``) and with the centre prior
estimated from the dataset itself, cross-fitted (``model_averaging_centre``,
``model_selection_centre``; :mod:`._centre_prior`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from imatinib_tdm.evaluation._averaging import (
    AVERAGING_CENTRE_ID,
    SELECTION_CENTRE_ID,
    combine_models,
    estimate_centre_prior,
)
from imatinib_tdm.evaluation._centre_prior import CentreModelPrior
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
        (uniform prior), then averaging and selection with the centre prior
    ranking : list of RankingRow (all of ``evaluations``)
    subgroups : mapping group -> ranking rows
    centre_prior : CentreModelPrior or None
        The centre's mixture proportions over the evaluable models (None with fewer than two);
        ``to_dict`` writes them as ``centre_model_prior`` (model id -> proportion; null when
        the prior fell back to uniform for lack of patients) and the settings as
        ``centre_model_prior_method``.
    """

    source: str
    n_patients: int
    n_observations: int
    seed: int
    n_replicates: int
    evaluations: tuple[ModelEvaluation, ...]
    ranking: list[RankingRow]
    subgroups: dict[str, list[RankingRow]] = field(default_factory=dict)
    centre_prior: CentreModelPrior | None = None

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
                "centre_model_prior": (
                    None
                    if self.centre_prior is None or self.centre_prior.fallback is not None
                    else self.centre_prior.as_mapping()
                ),
                "centre_model_prior_method": (
                    None if self.centre_prior is None else self.centre_prior.to_dict()
                ),
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

    Averaging and selection are added twice: with equal prior model probabilities and with the
    centre prior estimated on ``table`` (cross-fitted, see :mod:`._centre_prior`).

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
    centre_prior = estimate_centre_prior(evaluations)
    averaging, selection = combine_models(evaluations)
    if centre_prior is not None:
        centre_averaging, centre_selection = combine_models(evaluations, prior=centre_prior)
    else:  # fewer than two evaluable models: the same reason as the uniform rows
        centre_averaging, centre_selection = (
            ModelEvaluation(
                AVERAGING_CENTRE_ID, "model averaging with the centre prior", error=averaging.error
            ),
            ModelEvaluation(
                SELECTION_CENTRE_ID, "model selection with the centre prior", error=selection.error
            ),
        )
    evaluations += [averaging, selection, centre_averaging, centre_selection]
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
        centre_prior=centre_prior,
    )
