"""``/api/patients``: list and search, create, read, change, archive (never delete).

Every read of patient data records an audit event (who, what, when); every change is audited by
the store itself. Search terms are taken from the query string, which the access log of
:func:`imatinib_tdm.service.run_server` drops.

Creating or changing a patient whose names and birth date match another patient's succeeds,
and the answer (:class:`PatientSaved`) carries a ``similar_patient`` warning with the other
patients' ids, so that the user can check for a duplicate record (``docs/storage.md``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

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
    patient_warnings,
    record_event,
    update_patient,
)

router = APIRouter(tags=["patients"], dependencies=[Depends(verify_csrf)])


class PatientWarning(BaseModel):
    """Something to check about a saved patient (the save succeeded)."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="``similar_patient``: same names and birth date as others")
    field: str
    message: str
    patient_ids: list[int] = Field(description="the other patients concerned")


class PatientSaved(PatientOut):
    """A patient just created, changed or imported, with warnings (``[]`` when none)."""

    warnings: list[PatientWarning] = Field(default_factory=list)


def patient_saved(session: Session, patient: Any) -> PatientSaved:
    """The API form of a patient just written, with its warnings."""
    return PatientSaved(
        **patient_out(patient).model_dump(),
        warnings=[PatientWarning(**warning) for warning in patient_warnings(session, patient)],
    )


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


@router.post("/api/patients", status_code=201, response_model=PatientSaved, responses=ENTITY_WRITE)
def create_patient_endpoint(body: PatientIn, request: Request, user: Editor) -> PatientSaved:
    """Create a patient (clinician, pharmacologist, admin). 409 when the MRN exists, also when
    it differs only in case or width; 422 naming the field for invisible or bidirectional
    control characters. ``warnings`` lists patients with the same names and birth date."""
    with get_database(request).transaction() as session:
        patient = create_patient(session, actor=acting_user(session, user), **body.model_dump())
        return patient_saved(session, patient)


@router.get("/api/patients/{patient_id}", response_model=PatientOut, responses=ENTITY_READ)
def get_patient_endpoint(request: Request, patient_id: RecordId, user: CurrentUser) -> PatientOut:
    """One patient; the view is audited."""
    with get_database(request).transaction() as session:
        patient = get_patient(session, patient_id)
        audit_view(session, user, "patient", patient.id, patient_id=patient.id)
        return patient_out(patient)


@router.patch("/api/patients/{patient_id}", response_model=PatientSaved, responses=ENTITY_WRITE)
def update_patient_endpoint(
    body: PatientUpdate,
    request: Request,
    patient_id: RecordId,
    user: Editor,
) -> PatientSaved:
    """Change some fields of a patient (those given); ``warnings`` as for creation."""
    changes = body.model_dump(exclude_unset=True)
    with get_database(request).transaction() as session:
        patient = update_patient(session, patient_id, actor=acting_user(session, user), **changes)
        return patient_saved(session, patient)


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
