"""Patient pages: list with search, new patient form, patient page with the history plot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from imatinib_tdm.errors import CaseError, TdmError
from imatinib_tdm.service.errors import status_for
from imatinib_tdm.service.pages.episode_pages import ENGINE_FAILURES, failure_message
from imatinib_tdm.service.pages.rendering import render
from imatinib_tdm.service.plots import history_figure
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
    count_patients,
    create_patient,
    episode_case,
    get_patient,
    list_episodes,
    list_patients,
    patient_warnings,
    record_event,
)

router = APIRouter(include_in_schema=False)
_PATIENT_FIELDS = ("mrn", "family_name", "given_name", "birth_date", "sex", "indication")


@router.get("/patients")
def patients_page(
    request: Request,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Any:
    """The patient list; ``q`` filters by name or MRN (the access log drops query strings)."""
    with get_database(request).transaction() as session:
        patients = list_patients(session, search=q or None, limit=100)
        total = count_patients(session, search=q or None)
        record_event(
            session,
            actor=acting_user(session, user),
            action="search",
            entity_type="patient",
            entity_id=None,
            detail={"n_results": len(patients), "filtered": bool(q)},
        )
    return render(request, "patients.html.j2", patients=patients, total=total, q=q)


@router.get("/patients/new")
def new_patient_page(request: Request, user: Editor) -> Any:
    """The new-patient form."""
    return render(
        request, "patient_form.html.j2", values={"sex": "unknown", "indication": "GIST"}, errors={}
    )


_CONFIRM_SIMILAR = "confirm_similar"


class _SimilarPatients(Exception):
    """Other patients have the same names and birth date: the creation waits for a confirmation."""

    def __init__(self, patient_ids: list[int]) -> None:
        super().__init__("similar patients")
        self.patient_ids = patient_ids


@router.post("/patients/new", dependencies=[Depends(verify_csrf)])
async def new_patient_submit(request: Request, user: Editor) -> Any:
    """Create the patient, or show the form again with the errors next to the fields."""
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in _PATIENT_FIELDS}
    confirmed = form.get(_CONFIRM_SIMILAR) == "yes"
    try:
        with get_database(request).transaction() as session:
            patient = create_patient(
                session,
                actor=acting_user(session, user),
                mrn=values["mrn"],
                family_name=values["family_name"],
                given_name=values["given_name"],
                birth_date=values["birth_date"] or None,
                sex=values["sex"] or "unknown",
                indication=values["indication"] or "GIST",
            )
            similar = [] if confirmed else patient_warnings(session, patient)
            if similar:  # the same person entered twice? ask first (rolls the creation back)
                raise _SimilarPatients(similar[0]["patient_ids"])
            patient_id = patient.id
    except _SimilarPatients as similar_patients:
        return render(
            request,
            "patient_form.html.j2",
            status_code=409,
            values=values,
            errors={},
            similar_ids=similar_patients.patient_ids,
        )
    except TdmError as error:
        field = str(error.fields.get("field") or "")
        return render(
            request,
            "patient_form.html.j2",
            status_code=status_for(error),
            values=values,
            errors={field if field in _PATIENT_FIELDS else "": error.message},
        )
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


@router.get("/patients/{patient_id}")
def patient_page(
    request: Request,
    patient_id: RecordId,
    user: CurrentUser,
) -> Any:
    """A patient: identifiers, levels and doses over time, episodes. The view is audited."""
    with get_database(request).transaction() as session:
        patient = get_patient(session, patient_id)
        episodes = list_episodes(session, patient_id)
        audit_view(session, user, "patient", patient.id, patient_id=patient.id)
    cases = []
    unreadable = []  # episodes whose stored case cannot be read: listed, left out of the plot
    for episode in episodes:
        try:
            cases.append((episode.label or f"episode {episode.id}", episode_case(episode)))
        except CaseError:
            unreadable.append(episode.id)
    history = history_note = None
    try:
        history = history_figure(cases)
    except ENGINE_FAILURES as error:  # e.g. a time 1e12 h from the first dose overflows a date
        history_note = failure_message(error)
    return render(
        request,
        "patient.html.j2",
        patient=patient,
        episodes=episodes,
        history=history,
        history_note=history_note,
        unreadable_episodes=unreadable,
    )
