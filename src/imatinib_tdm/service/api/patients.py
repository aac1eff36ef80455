"""``/api/patients``: list and search, create, read, change, archive (never delete).

Every read of patient data records an audit event (who, what, when); every change is audited by
the store itself. Search terms are taken from the query string, which the access log of
:func:`imatinib_tdm.service.run_server` drops.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from imatinib_tdm.service.api.responses import ENTITY_READ, ENTITY_WRITE, READ
from imatinib_tdm.service.schemas import PatientIn, PatientOut, PatientUpdate
from imatinib_tdm.service.security import (
    CurrentUser,
    Editor,
    RecordId,
    acting_user,
    audit_view,
    get_database,
    verify_csrf,
)
from imatinib_tdm.store import (
    archive_patient,
    count_patients,
    create_patient,
    get_patient,
    list_patients,
    record_event,
    update_patient,
)

router = APIRouter(tags=["patients"], dependencies=[Depends(verify_csrf)])


def patient_out(patient: Any) -> PatientOut:
    """The API form of a stored patient."""
    return PatientOut(
        id=patient.id,
        mrn=patient.mrn,
        family_name=patient.family_name,
        given_name=patient.given_name,
        birth_date=patient.birth_date,
        sex=str(patient.sex.value if hasattr(patient.sex, "value") else patient.sex),
        indication=str(
            patient.indication.value if hasattr(patient.indication, "value") else patient.indication
        ),
        archived=bool(patient.archived),
    )


@router.get("/api/patients", responses={**READ, 422: {"description": "invalid query"}})
def list_patients_endpoint(
    request: Request,
    user: CurrentUser,
    search: Annotated[str, Query(max_length=100, description="words of the MRN or names")] = "",
    include_archived: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, Any]:
    """Patients by name, optionally filtered (every word must occur in the MRN or names)."""
    with get_database(request).transaction() as session:
        patients = list_patients(
            session,
            search=search or None,
            include_archived=include_archived,
            limit=limit,
            offset=offset,
        )
        total = count_patients(session, search=search or None, include_archived=include_archived)
        record_event(
            session,
            actor=acting_user(session, user),
            action="search",
            entity_type="patient",
            entity_id=None,
            detail={"n_results": len(patients), "filtered": bool(search)},
        )
        items = [patient_out(p).model_dump(mode="json") for p in patients]
    return {"total": total, "items": items}


@router.post("/api/patients", status_code=201, response_model=PatientOut, responses=ENTITY_WRITE)
def create_patient_endpoint(body: PatientIn, request: Request, user: Editor) -> PatientOut:
    """Create a patient (clinician, pharmacologist, admin). 409 when the MRN exists."""
    with get_database(request).transaction() as session:
        patient = create_patient(session, actor=acting_user(session, user), **body.model_dump())
        return patient_out(patient)


@router.get("/api/patients/{patient_id}", response_model=PatientOut, responses=ENTITY_READ)
def get_patient_endpoint(request: Request, patient_id: RecordId, user: CurrentUser) -> PatientOut:
    """One patient; the view is audited."""
    with get_database(request).transaction() as session:
        patient = get_patient(session, patient_id)
        audit_view(session, user, "patient", patient.id, patient_id=patient.id)
        return patient_out(patient)


@router.patch("/api/patients/{patient_id}", response_model=PatientOut, responses=ENTITY_WRITE)
def update_patient_endpoint(
    body: PatientUpdate,
    request: Request,
    patient_id: RecordId,
    user: Editor,
) -> PatientOut:
    """Change some fields of a patient (those given)."""
    changes = body.model_dump(exclude_unset=True)
    with get_database(request).transaction() as session:
        patient = update_patient(session, patient_id, actor=acting_user(session, user), **changes)
        return patient_out(patient)


@router.post(
    "/api/patients/{patient_id}/archive", response_model=PatientOut, responses=ENTITY_WRITE
)
def archive_patient_endpoint(
    request: Request,
    patient_id: RecordId,
    user: Editor,
) -> PatientOut:
    """Archive a patient: hidden from the list, nothing deleted."""
    with get_database(request).transaction() as session:
        return patient_out(archive_patient(session, patient_id, actor=acting_user(session, user)))
