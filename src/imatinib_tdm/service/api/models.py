"""``GET /api/models`` and ``GET /api/models/{id}``: the model library with its citations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path

from imatinib_tdm.errors import UnknownModelError
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.pk.library import get_model, list_models
from imatinib_tdm.service.api.responses import ENTITY_READ, READ
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.security import require_user

router = APIRouter(tags=["models"], dependencies=[Depends(require_user)])


def model_summary(model: PopPKModel) -> dict[str, Any]:
    """One library model: structure, population, covariates, citation and verification."""
    population = model.population
    return {
        "id": model.id,
        "name": model.name,
        "n_compartments": model.structure.n_compartments,
        "absorption": model.structure.absorption.value,
        "has_lag_time": model.structure.has_lag,
        "population": population.description,
        "n_patients": population.n_patients,
        "indication": list(population.indication),
        "age_group": population.age_group,
        "covariates": [c.name for c in model.covariates],
        "citation": model.citation,
        "doi": model.doi,
        "verification_grade": model.verification.grade,
        "verification_note": model.verification.note,
        "discrepancies": list(model.verification.discrepancies),
    }


def model_detail(model: PopPKModel) -> dict[str, Any]:
    """The summary plus typical values with their units and sources."""
    detail = model_summary(model)
    detail["thetas"] = [
        {"name": t.name, "value": t.value, "unit": t.unit, "source": t.source} for t in model.thetas
    ]
    detail["parameters"] = {name: expr.source for name, expr in model.parameters}
    return to_jsonable(detail)  # type: ignore[no-any-return]


@router.get("/api/models", responses=READ)
def list_library_models() -> list[dict[str, Any]]:
    """Every model of the library (summary with citation)."""
    return [to_jsonable(model_summary(m)) for m in list_models()]


@router.get("/api/models/{model_id}", responses=ENTITY_READ)
def get_library_model(
    model_id: str = Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$"),
) -> dict[str, Any]:
    """One model: parameters, typical values with sources, verification."""
    try:
        model = get_model(model_id)
    except UnknownModelError as error:
        raise HTTPException(status_code=404, detail=error.message) from error
    return model_detail(model)
