"""``/api/patients/{id}/export`` and ``/api/patients/import``: one patient's whole record as JSON.

The document is the store's export format (``docs/storage.md``): identifiers, every episode as
a case file, interpretations and issued reports. Export and import are audited by the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from imatinib_tdm.service.api.patients import patient_out
from imatinib_tdm.service.api.responses import ENTITY_READ, ENTITY_WRITE
from imatinib_tdm.service.schemas import PatientOut
from imatinib_tdm.service.security import (
    Editor,
    RecordId,
    acting_user,
    get_database,
    verify_csrf,
)
from imatinib_tdm.store import export_patient, import_patient

router = APIRouter(tags=["patients"], dependencies=[Depends(verify_csrf)])


@router.get("/api/patients/{patient_id}/export", responses=ENTITY_READ)
def export_patient_endpoint(request: Request, patient_id: RecordId, user: Editor) -> dict[str, Any]:
    """The patient's whole record (clinician, pharmacologist, admin); the export is audited."""
    with get_database(request).transaction() as session:
        return export_patient(session, patient_id, actor=acting_user(session, user))


@router.post(
    "/api/patients/import", status_code=201, response_model=PatientOut, responses=ENTITY_WRITE
)
def import_patient_endpoint(
    request: Request,
    user: Editor,
    record: Annotated[dict[str, Any], Body(description="a document from the export endpoint")],
    mrn: Annotated[str | None, Query(max_length=64, description="import under another MRN")] = None,
) -> PatientOut:
    """Create a patient from an exported record; every problem is listed with its path (422)."""
    with get_database(request).transaction() as session:
        patient = import_patient(session, record, actor=acting_user(session, user), mrn=mrn)
        return patient_out(patient)
