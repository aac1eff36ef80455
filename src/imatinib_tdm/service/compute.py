"""The library calls behind the API and the pages (parse, choose the model, interpret).

No PK or clinical rule here: it calls :func:`imatinib_tdm.case.parse_case`,
:func:`imatinib_tdm.pk.library.get_model`, :func:`imatinib_tdm.tdm.interpret` and
:func:`imatinib_tdm.tdm.recommend_dose`, exactly as the CLI does, and shapes errors so that
they name the request field they came from.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from imatinib_tdm.case import Case, load_demo_case, parse_case
from imatinib_tdm.errors import CaseError, TdmError, UnknownModelError
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm import DoseRecommendation, Interpretation, interpret, recommend_dose

__all__ = [
    "AUTO_MODEL",
    "configure_model_prior",
    "configure_triage",
    "interpret_auto",
    "interpret_case",
    "interpret_request_json",
    "parse_request_case",
    "resolve_model",
    "settle_process",
    "what_if",
    "what_if_request",
]

# The centre's triage classifier (issue 6), loaded once when the app is created (None: none
# configured). Process-wide because the classifier is read-only and the same for every request;
# create_app sets it on each call, so an app never sees another app's classifier.
_triage_model: Any = None


# One CPU-bound computation at a time per process. The endpoints are synchronous and run on
# Starlette's thread pool; the computations are many small numpy calls under the GIL, so
# threads interleaving them make no progress in parallel and each one costs more CPU (measured
# with bench/bench_service.py, 16 clients on one worker: 69 ms of CPU per interpretation
# against 30 ms one at a time). Waiting threads sleep; compute processes (serve
# --compute-processes, service/compute_pool.py) or server processes (--workers) are how the
# service uses several cores.
_compute_slot = threading.Lock()


class NotInterpretableError(CaseError):
    """A valid case on which the engine's numerics failed (e.g. every posterior weight
    underflowed); a 422 that says why instead of a 500 on every view of the stored case."""


@contextmanager
def _computing() -> Iterator[None]:
    """The compute slot, with a numerical failure of the engine turned into a 422.

    Only the engine's own message is kept (e.g. "Probabilities contain NaN"): it carries no
    value of the case.
    """
    with _compute_slot:
        try:
            yield
        except TdmError:
            raise
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            raise NotInterpretableError(
                "this case cannot be interpreted: the computation failed "
                f"({type(error).__name__}: {str(error)[:200]}); usually the levels cannot be "
                "explained by the dose history (check the dose and sample times, amounts and "
                "units)",
                field="case",
            ) from None


# The centre's model prior for model "auto" (issue 7): (proportions by model id, file name), or
# None for equal prior probabilities. Process-wide and read-only, as the triage classifier.
_model_prior: tuple[dict[str, float], str] | None = None


def configure_model_prior(path: str | None) -> None:
    """Use the ``centre_model_prior`` of an ``imatinib-tdm evaluate --json`` file (or none) for
    model ``"auto"``.

    Raises
    ------
    CaseError
        The file is unreadable or has no usable prior (the message says why).
    """
    global _model_prior
    if path is None:
        _model_prior = None
        return
    from imatinib_tdm.evaluation import load_centre_model_prior

    _model_prior = (load_centre_model_prior(path), path)


def configure_triage(path: str | None) -> None:
    """Load the triage classifier at ``path`` (or none) for :func:`interpret_case`.

    Raises
    ------
    TriageModelFileError
        The file is missing, tampered with or from another package version.
    """
    global _triage_model
    if path is None:
        _triage_model = None
        return
    from imatinib_tdm.ml import load_triage_model  # scikit-learn/XGBoost only when configured

    _triage_model = load_triage_model(path)


def parse_request_case(data: Mapping[str, Any], *, field: str = "case") -> Case:
    """Validate a case from a request; errors name ``field`` first (``case.samples[0].time``)."""
    try:
        return parse_case(data)
    except CaseError as error:
        problems = error.fields.get("problems") or []
        prefixed = [
            {**p, "field": f"{field}.{p['field']}" if p.get("field") else field}
            for p in problems
            if isinstance(p, dict)
        ]
        inner = error.fields.get("field")
        raise CaseError(
            error.message,
            field=f"{field}.{inner}" if inner else field,
            problems=prefixed or None,
        ) from error


def resolve_model(model_id: str | None, default_model_id: str) -> PopPKModel:
    """The library model ``model_id`` (or the default); unknown ids are a 422 on ``model``."""
    try:
        return get_model(model_id or default_model_id)
    except UnknownModelError as error:
        raise CaseError(error.message, field="model") from error


AUTO_MODEL = "auto"
"""Model id that asks for the library model fitting the patient's levels best (issue 7)."""


def interpret_auto(
    case: Case,
    *,
    target: str | None = None,
    alert: str | None = None,
    probability: float = 0.8,
    seed: int = 20261126,
) -> Interpretation:
    """:func:`interpret_case` with the model chosen by
    :func:`imatinib_tdm.evaluation.choose_model`; the choice is the first assumption."""
    from imatinib_tdm.evaluation import choose_model

    prior, source = _model_prior if _model_prior is not None else (None, None)
    with _computing():
        choice = choose_model(case, prior, prior_source=source)
    result = interpret_case(
        case, choice.model, target=target, alert=alert, probability=probability, seed=seed
    )
    return dataclasses.replace(result, assumptions=[choice.reason, *result.assumptions])


def interpret_case(
    case: Case,
    model: PopPKModel,
    *,
    target: str | None = None,
    alert: str | None = None,
    probability: float = 0.8,
    seed: int = 20261126,
) -> Interpretation:
    """:func:`imatinib_tdm.tdm.interpret` with the request's options.

    With a triage classifier configured and no level in the case (first visit), its prediction
    is reported too; when the case lacks a value the classifier needs, the interpretation says
    so under ``assumptions`` instead.
    """
    triage = None
    missing: str | None = None
    if _triage_model is not None and not case.samples:
        from imatinib_tdm.ml import triage_case

        try:
            triage = triage_case(_triage_model, case)
        except CaseError as error:
            missing = f"ML triage not run: {error}"
    with _computing():
        result = interpret(
            case,
            model,
            target_id=target,
            alert_id=alert,
            probability=probability,
            seed=seed,
            triage=triage,
        )
    if missing is not None:
        result = dataclasses.replace(result, assumptions=[*result.assumptions, missing])
    return result


def what_if(
    case: Case,
    model: PopPKModel,
    regimens: Sequence[tuple[float, float]] = (),
    *,
    target: str | None = None,
    alert: str | None = None,
    probability: float = 0.8,
    seed: int = 20261126,
) -> tuple[DoseRecommendation, list[dict[str, Any]]]:
    """Predicted steady-state troughs of the allowed regimens, optionally narrowed.

    Parameters
    ----------
    regimens : sequence of (dose_mg, interval_h)
        Regimens to keep; each must be one the dosing rules allow for this patient (whole
        tablets), since advice is never given for a dose that cannot be taken. Empty: all.

    Returns
    -------
    (DoseRecommendation, list of dict)
        The full recommendation and the selected rows of its regimen table (``to_dict`` form).

    Raises
    ------
    CaseError
        A requested regimen is not allowed (field ``regimens[i]``), listing the allowed ones.
    """
    with _computing():
        recommendation = recommend_dose(
            case, model, target_id=target, alert_id=alert, probability=probability, seed=seed
        )
    rows = list(recommendation.advice.table.rows)
    if not regimens:
        return recommendation, [row.to_dict() for row in rows]
    selected = []
    allowed = ", ".join(row.regimen.label for row in rows)
    for i, (dose_mg, interval_h) in enumerate(regimens):
        match = next(
            (
                row
                for row in rows
                if row.regimen.dose_mg == dose_mg and row.regimen.interval_h == interval_h
            ),
            None,
        )
        if match is None:
            raise CaseError(
                f"{dose_mg:g} mg every {interval_h:g} h is not an allowed regimen for this "
                f"patient (whole tablets, dosing rules); choose one of: {allowed}",
                field=f"regimens[{i}]",
            )
        selected.append(match.to_dict())
    return recommendation, selected


def interpret_request_json(
    case_data: Mapping[str, Any],
    model_id: str | None,
    default_model_id: str,
    options: Mapping[str, Any],
) -> bytes:
    """``POST /api/interpret`` from parsed JSON to response bytes (in this or a pool process).

    Parses the case (errors name ``case.<field>``), resolves the model (``"auto"``: chosen from
    the patient's levels), interprets with ``options`` (target, alert, probability, seed) and
    encodes ``Interpretation.to_dict()`` as compact UTF-8 JSON (non-finite numbers as null).
    """
    from imatinib_tdm.service.encoding import to_jsonable  # no import cycle at module load

    case = parse_request_case(case_data)
    if model_id == AUTO_MODEL:
        result = interpret_auto(case, **options)
    else:
        result = interpret_case(case, resolve_model(model_id, default_model_id), **options)
    return json.dumps(
        to_jsonable(result.to_dict()), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


def what_if_request(
    case_data: Mapping[str, Any],
    model_id: str | None,
    default_model_id: str,
    regimens: Sequence[tuple[float, float]],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """``POST /api/whatif`` from parsed JSON to the JSON-ready answer (in this or a pool process).

    Parses the case (errors name ``case.<field>``), resolves the model and runs :func:`what_if`
    with ``options`` (target, alert, probability, seed).
    """
    from imatinib_tdm.service.encoding import to_jsonable  # no import cycle at module load

    case = parse_request_case(case_data)
    model = resolve_model(model_id, default_model_id)
    recommendation, rows = what_if(case, model, regimens, **options)
    table = recommendation.advice.table.to_dict()
    table["rows"] = rows
    answer: dict[str, Any] = to_jsonable(
        {
            "table": table,
            "advice": recommendation.advice.to_dict(),
            "estimate_trough_ng_per_ml": recommendation.estimate.trough_ng_per_ml,
            "notice": recommendation.estimate.notice,
        }
    )
    return answer


def settle_process(default_model_id: str) -> None:
    """Ready a long-running server or compute process for requests, then ``gc.freeze()``.

    Loads the model library and runs one interpretation of a packaged demo case (every
    knowledge file and cache a request would otherwise load on first use). Then the start-up
    objects are moved out of the garbage collector's way: a loaded service holds ~300,000
    long-lived objects (FastAPI, SQLAlchemy, pydantic, the model library); each full collection
    walks them all, and an interpretation allocates enough to trigger one every few requests.
    ``gc.freeze()`` (the standard library's answer for long-running servers) exempts them:
    measured on demo-001, 17-18 ms of CPU per interpretation against 27-28 ms in a process with
    the service loaded.
    """
    from imatinib_tdm.pk.library import list_models

    list_models()
    interpret_case(load_demo_case("demo-001"), resolve_model(None, default_model_id))
    gc.collect()
    gc.freeze()
