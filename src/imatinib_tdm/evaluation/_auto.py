"""Automatic model choice for one patient (``--model auto``): selection by the patient's own data.

Among the library models that can be evaluated for the case, the one with the largest
likelihood weight (:func:`patient_model_weights`: each model's fit to all of the patient's
levels, prior included) is chosen. Selection rather than averaging: on the library-wide
benchmark (``docs/evaluation.md``) averaging over every model kept a +13% median bias, selection
+6%. Models with time-varying parameters are left out (one patient takes seconds with them), and
so is every model that lacks a covariate the case gives no value for. Without a level, the
default model of :func:`imatinib_tdm.tdm.default_model` is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError, MissingCovariateError, ModelDomainError
from imatinib_tdm.evaluation._averaging import patient_model_weights
from imatinib_tdm.pk import PopPKModel, resolve_covariates
from imatinib_tdm.pk.inputs import case_to_event_table
from imatinib_tdm.pk.library import get_model, list_models
from imatinib_tdm.tdm import default_model

__all__ = ["AutoModelChoice", "choose_model"]


@dataclass(frozen=True)
class AutoModelChoice:
    """The chosen model, the weights of the candidates, and why others were left out."""

    model: PopPKModel
    weights: dict[str, float]
    excluded: dict[str, str]
    reason: str


def _candidates(case: Case) -> tuple[list[PopPKModel], dict[str, str]]:
    values = case.covariate_values()
    usable: list[PopPKModel] = []
    excluded: dict[str, str] = {}
    for model in list_models():
        if model.time_varying_parameters:
            excluded[model.id] = "parameters change with time on therapy (not in --model auto)"
            continue
        try:
            resolve_covariates(model, values)
        except (MissingCovariateError, ModelDomainError) as error:
            excluded[model.id] = str(error)
            continue
        usable.append(model)
    return usable, excluded


def choose_model(case: Case) -> AutoModelChoice:
    """The library model that fits this patient's levels best (see the module notes).

    Raises
    ------
    CaseError
        No library model can be evaluated for the case.
    """
    if not case.samples:
        chosen = default_model(case)
        return AutoModelChoice(
            get_model(chosen.model_id),
            {},
            {},
            f"--model auto without a level: {chosen.reason}",
        )
    candidates, excluded = _candidates(case)
    if not candidates:
        raise CaseError(
            "--model auto: no library model can be evaluated for this case ("
            + "; ".join(f"{k}: {v}" for k, v in sorted(excluded.items()))
            + ")",
            field="model",
        )
    result = patient_model_weights(candidates, case_to_event_table(case))
    excluded.update(result.errors)
    row = result.weights[0]
    if not np.isfinite(row).any() or float(np.nansum(row)) <= 0.0:
        raise CaseError("--model auto: no candidate model fits the levels", field="model")
    weights = {
        model_id: float(w)
        for model_id, w in zip(result.model_ids, row, strict=True)
        if np.isfinite(w) and model_id not in result.errors
    }
    best = max(weights, key=lambda k: weights[k])
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])[:3]
    reason = (
        f"--model auto: {best} fits this patient's levels best among {len(weights)} library "
        "models (likelihood weights "
        + ", ".join(f"{k} {100.0 * w:.0f}%" for k, w in ranked)
        + f"); {len(excluded)} left out (missing covariates or time-varying parameters). "
        "With few levels the weights are uncertain: check the choice against your centre's "
        "evaluation (imatinib-tdm evaluate)."
    )
    return AutoModelChoice(get_model(best), weights, excluded, reason)
