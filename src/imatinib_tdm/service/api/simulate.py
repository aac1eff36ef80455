"""``POST /api/simulate`` (typical profile of a regimen) and ``POST /api/whatif`` (dose what-if).

Both call the same library functions as the CLI ``simulate`` and ``recommend`` commands.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request

from imatinib_tdm.errors import CaseError
from imatinib_tdm.pk import DoseHistory, resolve_covariates, simulate_typical
from imatinib_tdm.service.api.responses import WRITE
from imatinib_tdm.service.compute import resolve_model, what_if_request
from imatinib_tdm.service.compute_pool import run_capped
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.schemas import SimulateRequest, WhatIfRequest
from imatinib_tdm.service.security import require_user, verify_csrf
from imatinib_tdm.tdm import NOTICE
from imatinib_tdm.units import convert_concentration

router = APIRouter(tags=["simulation"], dependencies=[Depends(require_user), Depends(verify_csrf)])


@router.post("/api/simulate", responses=WRITE)
def simulate_endpoint(body: SimulateRequest, request: Request) -> dict[str, Any]:
    """Typical-individual concentrations (ng/mL) of a regular regimen (as the CLI ``simulate``)."""
    model = resolve_model(body.model, request.app.state.settings.default_model_id)
    times = np.asarray(body.times_h, dtype=np.float64)
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise CaseError("times_h must be finite hours >= 0 since the first dose", field="times_h")
    doses = DoseHistory.regular(
        amount_mg=body.dose_mg, interval_h=body.interval_h, n_doses=body.n_doses
    )
    resolved = resolve_covariates(model, body.covariates)
    typical_mg_per_l = simulate_typical(model, resolved, doses, times)[0]
    typical = convert_concentration(typical_mg_per_l, "mg/L", "ng/mL")
    return to_jsonable(  # type: ignore[no-any-return]
        {
            "model_id": model.id,
            "model_citation": model.citation,
            "regimen": {
                "dose_mg": body.dose_mg,
                "interval_h": body.interval_h,
                "n_doses": body.n_doses,
            },
            "covariates": {k: float(v[0]) for k, v in resolved.values.items()},
            "covariate_warnings": [w.message for w in resolved.warnings],
            "times_h": times,
            "concentration_ng_per_ml": typical,
            "notice": NOTICE,
        }
    )


@router.post("/api/whatif", responses=WRITE)
async def what_if_endpoint(body: WhatIfRequest, request: Request) -> dict[str, Any]:
    """Predicted steady-state trough (median, 90% interval, P(target), P(alert)) per regimen.

    The regimens are those the dosing rules allow for the patient; ``regimens`` narrows them.
    Computed in a compute process when the app has them, else on the thread pool, within the
    time limit either way (503 over it).
    """
    options = {
        "target": body.target,
        "alert": body.alert,
        "probability": body.probability,
        "seed": body.seed,
    }
    answer: dict[str, Any] = await run_capped(
        request,
        what_if_request,
        body.case,
        body.model,
        request.app.state.settings.default_model_id,
        [(r.dose_mg, r.interval_h) for r in body.regimens],
        options,
    )
    return answer
