"""``/api/patients/{id}/export`` and ``/api/patients/import``: one patient's whole record as JSON.

The document is the store's export format (``docs/storage.md``): identifiers, every episode as
a case file, interpretations and issued reports. Export and import are audited by the store.

Import needs the role that issues reports (pharmacologist, admin), here and in the store: a
record carries issued reports. Imported reports are marked "imported, not validated here" with
their provenance and never get a validator of this installation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from imatinib_tdm.service.api.patients import PatientSaved, patient_saved
from imatinib_tdm.service.api.responses import ENTITY_READ, ENTITY_WRITE
from imatinib_tdm.service.security import (
    Editor,
    Issuer,
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
    "/api/patients/import", status_code=201, response_model=PatientSaved, responses=ENTITY_WRITE
)
def import_patient_endpoint(
    request: Request,
    user: Issuer,
    record: Annotated[dict[str, Any], Body(description="a document from the export endpoint")],
    mrn: Annotated[str | None, Query(max_length=64, description="import under another MRN")] = None,
    source: Annotated[
        str | None,
        Query(
            max_length=200,
            description="where the record comes from (installation or file), for the "
            "provenance of its reports",
        ),
    ] = None,
) -> PatientSaved:
    """Create a patient from an exported record (pharmacologist, admin); every problem is listed
    with its path (422). Its reports are marked imported, not validated here. ``warnings``
    lists patients with the same names and birth date."""
    with get_database(request).transaction() as session:
        patient = import_patient(
            session, record, actor=acting_user(session, user), mrn=mrn, source=source
        )
        return patient_saved(session, patient)
