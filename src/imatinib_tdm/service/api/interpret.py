"""``POST /api/interpret``: a case in, the interpretation out (nothing stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from imatinib_tdm.service.api.responses import WRITE
from imatinib_tdm.service.compute import interpret_request_json
from imatinib_tdm.service.compute_pool import run_capped
from imatinib_tdm.service.schemas import InterpretRequest
from imatinib_tdm.service.security import require_user, verify_csrf

router = APIRouter(tags=["interpretation"], dependencies=[Depends(verify_csrf)])


@router.post(
    "/api/interpret",
    response_model=dict[str, Any],
    responses=WRITE,
    dependencies=[Depends(require_user)],
)
async def interpret_endpoint(body: InterpretRequest, request: Request) -> Response:
    """Interpret a case: trough status, ranked findings, individual trough and dose advice.

    Returns ``Interpretation.to_dict()`` (concentrations in ng/mL, units in key names), the
    same as ``imatinib-tdm interpret --json``. With compute processes configured
    (``serve --compute-processes N``) the work runs in one of them, else on the thread pool.
    """
    options: dict[str, Any] = {
        "target": body.target,
        "alert": body.alert,
        "probability": body.probability,
        "seed": body.seed,
    }
    args = (body.case, body.model, request.app.state.settings.default_model_id, options)
    # in a compute process when there are some, else on the thread pool; within the time limit
    # (503 over it) and dropped when the client has gone (Settings.compute_time_limit_s)
    payload = await run_capped(request, interpret_request_json, *args)
    # already JSON: returned as bytes, FastAPI neither validates nor encodes it a second time
    return Response(payload, media_type="application/json")
