"""``POST /api/interpret``: a case in, the interpretation out (nothing stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from imatinib_tdm.service.api.responses import WRITE
from imatinib_tdm.service.compute import (
    AUTO_MODEL,
    interpret_auto,
    interpret_case,
    parse_request_case,
    resolve_model,
)
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.schemas import InterpretRequest
from imatinib_tdm.service.security import require_user, verify_csrf

router = APIRouter(tags=["interpretation"], dependencies=[Depends(verify_csrf)])


@router.post(
    "/api/interpret",
    response_model=dict[str, Any],
    responses=WRITE,
    dependencies=[Depends(require_user)],
)
def interpret_endpoint(body: InterpretRequest, request: Request) -> JSONResponse:
    """Interpret a case: trough status, ranked findings, individual trough and dose advice.

    Returns ``Interpretation.to_dict()`` (concentrations in ng/mL, units in key names), the
    same as ``imatinib-tdm interpret --json``.
    """
    case = parse_request_case(body.case)
    options: dict[str, Any] = {
        "target": body.target,
        "alert": body.alert,
        "probability": body.probability,
        "seed": body.seed,
    }
    if body.model == AUTO_MODEL:
        result = interpret_auto(case, **options)
    else:
        model = resolve_model(body.model, request.app.state.settings.default_model_id)
        result = interpret_case(case, model, **options)
    # already JSON-ready: returned as a response, FastAPI does not walk the result a second
    # time (validation against dict[str, Any] and jsonable_encoder cost more than the encoding)
    return JSONResponse(to_jsonable(result.to_dict()))
