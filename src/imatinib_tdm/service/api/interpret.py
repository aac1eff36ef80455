"""``POST /api/interpret``: a case in, the interpretation out (nothing stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from imatinib_tdm.service.api.responses import WRITE
from imatinib_tdm.service.compute import interpret_case, parse_request_case, resolve_model
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.schemas import InterpretRequest
from imatinib_tdm.service.security import require_user, verify_csrf

router = APIRouter(tags=["interpretation"], dependencies=[Depends(verify_csrf)])


@router.post("/api/interpret", responses=WRITE, dependencies=[Depends(require_user)])
def interpret_endpoint(body: InterpretRequest, request: Request) -> dict[str, Any]:
    """Interpret a case: trough status, ranked findings, individual trough and dose advice.

    Returns ``Interpretation.to_dict()`` (concentrations in ng/mL, units in key names), the
    same as ``imatinib-tdm interpret --json``.
    """
    case = parse_request_case(body.case)
    model = resolve_model(body.model, request.app.state.settings.default_model_id)
    result = interpret_case(
        case,
        model,
        target=body.target,
        alert=body.alert,
        probability=body.probability,
        seed=body.seed,
    )
    out: dict[str, Any] = to_jsonable(result.to_dict())
    return out
