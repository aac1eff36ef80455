"""``GET /api/exports/nonmem``: the centre's TDM episodes as one NONMEM dataset.

The way from the service's records to a model evaluation of the centre's own patients
(``imatinib-tdm evaluate``, ``docs/evaluation.md``) and back (its ``centre_model_prior`` file is
``IMATINIB_TDM_MODEL_PRIOR``). Every episode with at least one level of every patient not
archived is one subject, numbered 1..n; no MRN, name or birth date is written (the covariates
the cases give are: weight, height, age, sex, labs). Pharmacologists and administrators only;
audited with the number of subjects.
"""

from __future__ import annotations

import io

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.io import write_cases_nonmem_dataset
from imatinib_tdm.service.api.responses import READ
from imatinib_tdm.service.security import Issuer, acting_user, get_database
from imatinib_tdm.store import (
    AuditAction,
    episode_case,
    list_episodes,
    list_patients,
    record_event,
)

router = APIRouter(tags=["exports"])

_PAGE = 500  # list_patients' largest page


@router.get(
    "/api/exports/nonmem",
    responses={**READ, 200: {"content": {"text/csv": {}}, "description": "NONMEM dataset"}},
)
def export_nonmem_endpoint(
    request: Request,
    user: Issuer,
    dv_unit: str = Query(default="ng/mL", max_length=16, description="unit of DV and LLOQ"),
) -> Response:
    """Every episode with a level as one subject of a NONMEM dataset (CSV; audited)."""
    with get_database(request).transaction() as session:
        cases: list[Case] = []
        offset = 0
        while True:
            patients = list_patients(session, limit=_PAGE, offset=offset)
            for patient in patients:
                for episode in list_episodes(session, patient.id):
                    case = episode_case(episode)
                    if case.samples:
                        cases.append(case)
            if len(patients) < _PAGE:
                break
            offset += _PAGE
        if not cases:
            raise CaseError("no episode with a level to export", field="episodes")
        buffer = io.StringIO()
        write_cases_nonmem_dataset(cases, buffer, dv_unit=dv_unit)
        record_event(
            session,
            actor=acting_user(session, user),
            action=AuditAction.EXPORT,
            entity_type="dataset",
            entity_id=None,
            detail={"format": "nonmem", "n_subjects": len(cases), "dv_unit": dv_unit},
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="imatinib-tdm-episodes.csv"'},
    )
