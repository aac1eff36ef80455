"""Automatic model choice for one patient (``--model auto``): selection by the patient's own data.

Among the library models that can be evaluated for the case, the one with the largest
likelihood weight (:func:`patient_model_weights`: each model's fit to all of the patient's
levels, prior included) is chosen. Selection rather than averaging: on the library-wide
benchmark (``docs/evaluation.md``) averaging over every model with equal prior model
probabilities kept a +13% median bias, selection +6% (with the centre prior: +0.5% and
-0.7%). Models with time-varying parameters are left out (one patient takes seconds with them),
and so is every model that lacks a covariate the case gives no value for. Without a level, the
default model of :func:`imatinib_tdm.tdm.default_model` is used (with a centre prior: the
evaluable model with the largest centre proportion).

**Centre prior** (``interpret --model auto --model-prior FILE``): the weights are multiplied by
the centre's mixture proportions ``π_m`` (``centre_model_prior`` in the JSON written by
``imatinib-tdm evaluate ... --json``; :mod:`._centre_prior`) and renormalised, so that a model
that fitted few of the centre's patients needs much stronger evidence from this patient's
levels to be chosen. Library models absent from the prior (not evaluated in the centre's run:
not in its ``--models``, or missing covariates in its data) are left out of the choice and
listed under ``excluded``: the centre has no evidence about them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError, MissingCovariateError, ModelDomainError
from imatinib_tdm.evaluation._averaging import patient_model_weights
from imatinib_tdm.pk import PopPKModel, resolve_covariates
from imatinib_tdm.pk.inputs import case_to_event_table
from imatinib_tdm.pk.library import get_model, list_models
from imatinib_tdm.tdm import default_model

__all__ = ["AutoModelChoice", "choose_model", "load_centre_model_prior"]


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


def load_centre_model_prior(path: str | Path) -> dict[str, float]:
    """The ``centre_model_prior`` (model id -> proportion) of an ``evaluate --json`` output file.

    Raises
    ------
    CaseError
        The file cannot be read, is not JSON, has no usable ``centre_model_prior`` (e.g. the
        evaluation had too few patients), or a proportion is not a finite number >= 0.
    """
    source = Path(path)
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseError(
            f"--model-prior: cannot read {source}: {exc.strerror}", field="model_prior"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaseError(
            f"--model-prior: {source} is not JSON written by 'imatinib-tdm evaluate --json' "
            f"({exc})",
            field="model_prior",
        ) from None
    if not isinstance(payload, dict) or "centre_model_prior" not in payload:
        raise CaseError(
            f"--model-prior: {source} has no 'centre_model_prior' (write it with "
            "'imatinib-tdm evaluate DATA --models all --json > FILE')",
            field="model_prior",
        )
    prior = payload["centre_model_prior"]
    if prior is None:
        method = payload.get("centre_model_prior_method") or {}
        why = method.get("fallback") if isinstance(method, dict) else None
        raise CaseError(
            f"--model-prior: the evaluation in {source} has no centre prior"
            + (f" ({why})" if why else ""),
            field="model_prior",
        )
    if not isinstance(prior, dict) or not prior:
        raise CaseError(
            f"--model-prior: 'centre_model_prior' in {source} must map model ids to proportions",
            field="model_prior",
        )
    out: dict[str, float] = {}
    bad = []
    for key, value in prior.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or float(value) < 0:
            bad.append(f"{key}: {value!r}")
            continue
        out[str(key)] = float(value)
    if bad:
        raise CaseError(
            f"--model-prior: proportions in {source} must be finite numbers >= 0; got "
            + ", ".join(bad),
            field="model_prior",
        )
    if sum(out.values()) <= 0:
        raise CaseError(f"--model-prior: every proportion in {source} is 0", field="model_prior")
    return out


def choose_model(
    case: Case,
    prior: Mapping[str, float] | None = None,
    *,
    prior_source: str | None = None,
) -> AutoModelChoice:
    """The library model that fits this patient's levels best (see the module notes).

    Parameters
    ----------
    case : Case
    prior : mapping model id -> proportion, optional
        The centre prior (:func:`load_centre_model_prior`); need not be normalised. Candidates
        absent from it are excluded. Default: equal prior probabilities.
    prior_source : str, optional
        Where the prior came from (a file name), quoted in the reason.

    Raises
    ------
    CaseError
        No library model can be evaluated for the case (or none of those is in ``prior``).
    """
    if not case.samples and prior is not None:
        candidates, _ = _candidates(case)
        known = [m for m in candidates if prior.get(m.id, 0.0) > 0]
        if known:
            best_model = max(known, key=lambda m: prior[m.id])
            total = sum(prior[m.id] for m in known)
            weights = {m.id: prior[m.id] / total for m in known}
            source = f" from {prior_source}" if prior_source else ""
            share = 100.0 * weights[best_model.id]
            return AutoModelChoice(
                best_model,
                weights,
                {},
                f"--model auto without a level, with a centre prior{source}: {best_model.id}, "
                f"the model with the largest centre proportion ({share:.0f}% "
                f"among the {len(known)} evaluable models of the prior)",
            )
    if not case.samples:
        chosen = default_model(case)
        return AutoModelChoice(
            get_model(chosen.model_id),
            {},
            {},
            f"--model auto without a level: {chosen.reason}",
        )
    candidates, excluded = _candidates(case)
    if prior is not None:
        for model in candidates:
            if model.id not in prior:
                excluded[model.id] = "not in the centre prior (not evaluated at the centre)"
        candidates = [m for m in candidates if m.id in prior]
    if not candidates:
        raise CaseError(
            "--model auto: no library model can be evaluated for this case ("
            + "; ".join(f"{k}: {v}" for k, v in sorted(excluded.items()))
            + ")",
            field="model",
        )
    result = patient_model_weights(candidates, case_to_event_table(case), prior)
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
    if prior is None:
        reason = (
            f"--model auto: {best} fits this patient's levels best among {len(weights)} "
            "library models (likelihood weights "
            + ", ".join(f"{k} {100.0 * w:.0f}%" for k, w in ranked)
            + f"); {len(excluded)} left out (missing covariates or time-varying parameters). "
            "With few levels the weights are uncertain: check the choice against your "
            "centre's evaluation (imatinib-tdm evaluate)."
        )
    else:
        source = f" from {prior_source}" if prior_source else ""
        reason = (
            f"--model auto with a centre prior{source}: {best} has the largest weight "
            f"(centre proportion x likelihood of this patient's levels) among {len(weights)} "
            "library models ("
            + ", ".join(f"{k} {100.0 * w:.0f}%" for k, w in ranked)
            + f"); {len(excluded)} left out (missing covariates, time-varying parameters or "
            "not in the centre prior)."
        )
    return AutoModelChoice(get_model(best), weights, excluded, reason)
