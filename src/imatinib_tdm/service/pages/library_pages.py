"""The model library pages and the typical-patient regimen simulator."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from imatinib_tdm.case import MAX_INTERVAL_H, MAX_SINGLE_ADMINISTRATION_MG, MIN_INTERVAL_H
from imatinib_tdm.errors import TdmError, UnknownModelError
from imatinib_tdm.pk import DoseHistory, resolve_covariates, simulate_typical
from imatinib_tdm.pk.library import get_model, list_models
from imatinib_tdm.service.api.models import model_detail, model_summary
from imatinib_tdm.service.compute import resolve_model
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.pages.rendering import model_select, render
from imatinib_tdm.service.security import require_user
from imatinib_tdm.tdm import NOTICE
from imatinib_tdm.units import convert_concentration

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_user)])
_N_POINTS = 400
_SIMULATE_DEFAULTS = {"dose_mg": "400", "interval_h": "24", "n_doses": "15", "weight_kg": ""}


@router.get("/models")
def models_page(request: Request) -> Any:
    """Every model with its population, verification grade and citation."""
    return render(request, "models.html.j2", models=[model_summary(m) for m in list_models()])


@router.get("/models/{model_id}")
def model_page(request: Request, model_id: str = Path(max_length=64)) -> Any:
    """One model: typical values with their sources, parameters, discrepancies."""
    try:
        model = get_model(model_id)
    except UnknownModelError as error:
        raise HTTPException(status_code=404, detail=error.message) from error
    return render(request, "model.html.j2", model=model_detail(model))


_MAX_NUMBER_CHARS = 32  # longer text is not a number anyone typed (4,300-digit strings)
# accepted ranges of the simulator's fields, (low, high, required); the dose and interval limits
# are the case file's (a typing or unit mistake outside them), the weight range the patient's
_SIMULATE_RANGES: dict[str, tuple[float, float, bool]] = {
    "dose_mg": (1.0, MAX_SINGLE_ADMINISTRATION_MG, True),
    "interval_h": (MIN_INTERVAL_H, MAX_INTERVAL_H, True),
    "n_doses": (1.0, 1000.0, True),
    "weight_kg": (2.0, 300.0, False),
}


def _number(values: dict[str, str], name: str, errors: dict[str, str]) -> float | None:
    """The field ``name`` as a finite number within its range, or None with ``errors[name]`` set
    (or None for an empty optional field). NaN, infinities and huge digit strings are refused
    here, never passed on to the engine."""
    low, high, required = _SIMULATE_RANGES[name]
    text = values.get(name, "").strip()
    if not text:
        if required:
            errors[name] = "enter a number"
        return None
    try:
        if len(text) > _MAX_NUMBER_CHARS:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        errors[name] = f"enter a number (at most {_MAX_NUMBER_CHARS} characters)"
        return None
    if not math.isfinite(value) or not low <= value <= high:
        errors[name] = f"enter a number from {low:g} to {high:g}"
        return None
    if name == "n_doses" and not value.is_integer():
        errors[name] = f"enter a whole number from {low:g} to {high:g}"
        return None
    return value + 0.0  # -0.0 becomes 0.0


@router.get("/simulate")
def simulate_page(request: Request) -> Any:
    """Typical-patient profile of a regular regimen (as ``imatinib-tdm simulate``)."""
    settings = request.app.state.settings
    params = dict(request.query_params)
    values = {k: params.get(k, default) for k, default in _SIMULATE_DEFAULTS.items()}
    chosen = params.get("model") or settings.default_model_id
    errors: dict[str, str] = {}
    warnings: list[str] = []
    figure = None
    dose_mg = _number(values, "dose_mg", errors)
    interval_h = _number(values, "interval_h", errors)
    n_doses = _number(values, "n_doses", errors)
    weight_kg = _number(values, "weight_kg", errors)
    if not errors and dose_mg and interval_h and n_doses:
        try:
            model = resolve_model(chosen, settings.default_model_id)
            doses = DoseHistory.regular(
                amount_mg=dose_mg, interval_h=interval_h, n_doses=int(n_doses)
            )
            covariates = {} if weight_kg is None else {"weight_kg": weight_kg}
            resolved = resolve_covariates(model, covariates)
            warnings = [w.message for w in resolved.warnings]
            end_h = interval_h * n_doses
            times = [end_h * i / (_N_POINTS - 1) for i in range(_N_POINTS)]
            conc = convert_concentration(
                simulate_typical(model, resolved, doses, times)[0], "mg/L", "ng/mL"
            )
            figure = to_jsonable(
                {
                    "data": [
                        {"x": times, "y": conc, "mode": "lines", "name": "typical patient",
                         "line": {"color": "black"}}
                    ],
                    "layout": {
                        "template": "simple_white",
                        "height": 380,
                        "xaxis": {"title": {"text": "time since first dose (h)"}},
                        "yaxis": {"title": {"text": "imatinib (ng/mL)"}, "rangemode": "tozero"},
                    },
                }
            )  # fmt: skip
        except TdmError as error:
            field = str(error.fields.get("field") or "")
            errors[field if field in _SIMULATE_RANGES else ""] = error.message
    return render(
        request,
        "simulate.html.j2",
        status_code=422 if errors else 200,
        values=values,
        errors=errors,
        warnings=warnings,
        figure=figure,
        notice=NOTICE,
        model_select=model_select(chosen),
    )
