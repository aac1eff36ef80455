"""The audit log (imatinib_tdm.store._audit)."""

from __future__ import annotations

import json

import pytest

from imatinib_tdm.case import Case
from imatinib_tdm.store import (
    Database,
    amend_episode,
    archive_patient,
    authenticate,
    correct_report,
    export_patient,
    import_patient,
    list_events,
    record_event,
    restore_patient,
    save_interpretation,
    seed_demo,
    set_password,
    set_role,
    update_episode,
    update_patient,
)

from .conftest import (
    FAKE_PDF,
    PASSWORD,
    Actors,
    changed_case,
    interpreted_episode,
    issue_first_report,
)


def _full_workflow(database: Database, actors: Actors, demo_case: Case) -> int:
    """Every write function once; returns the patient id."""
    flow = interpreted_episode(database, actors, demo_case)
    with database.transaction() as session:
        update_episode(
            session, flow.episode_id, actor=actors.clinician, case=changed_case(demo_case, 900)
        )
        update_patient(session, flow.patient_id, actor=actors.clinician, given_name="Annette")
    with database.transaction() as session:
        interpretation_id = save_interpretation(
            session, flow.episode_id, actor=actors.clinician, model_id="m", result={"a": 1}
        ).id
    flow = type(flow)(flow.patient_id, flow.episode_id, interpretation_id)
    report_id = issue_first_report(database, actors, flow)
    with database.transaction() as session:
        amend_episode(
            session,
            flow.episode_id,
            actor=actors.clinician,
            case=changed_case(demo_case, 901),
            reason="Müller's sample",
        )
        new_id = save_interpretation(
            session, flow.episode_id, actor=actors.clinician, model_id="m", result={"a": 2}
        ).id
        correct_report(
            session,
            report_id,
            actor=actors.pharmacologist,
            interpretation_id=new_id,
            html="<p>v2</p>",
            pdf=FAKE_PDF,
            validator_name="P",
            reason="Muster, Annette: corrected",
        )
        archive_patient(session, flow.patient_id, actor=actors.clinician)
        restore_patient(session, flow.patient_id, actor=actors.clinician)
        record = export_patient(session, flow.patient_id, actor=actors.viewer)
        import_patient(session, record, actor=actors.pharmacologist, mrn="MRN-COPY")
        seed_demo(session, actor=actors.clinician)
        authenticate(session, "viewer", PASSWORD)
        authenticate(session, "viewer", "wrong wrong wrong")
        set_password(session, actors.viewer.id, "a new long password", actor=actors.viewer)
        set_role(session, actors.viewer.id, "clinician", actor=actors.admin)
    return flow.patient_id


def test_every_write_is_audited_without_patient_data(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    patient_id = _full_workflow(database, actors, demo_case)
    with database.read() as session:
        events = list_events(session, limit=1000)
        trail = [e.action for e in reversed(list_events(session, patient_id=patient_id))]
    actions = {e.action for e in events}
    assert {
        "create",
        "update",
        "amend",
        "interpret",
        "issue",
        "correct",
        "archive",
        "restore",
        "export",
        "import",
        "seed_demo",
        "login",
        "login_failed",
        "set_password",
        "set_role",
    } <= actions
    assert trail[:4] == ["create", "create", "interpret", "update"]
    identifiers = ["MRN-0001", "MRN-COPY", "Muster", "Anna", "Annette", "Müller", "1970", "820"]
    for event in events:
        text = json.dumps(event.detail)
        assert not any(word in text for word in identifiers), (event.action, text)
        assert event.at.utcoffset() is not None
    anonymous = {e.action for e in events if e.user_id is None}
    assert anonymous <= {"login_attempt", "login_failed", "create"}  # create: the first admin


def test_record_event_for_views(database: Database, actors: Actors) -> None:
    with database.transaction() as session:
        event = record_event(
            session,
            actor=actors.viewer,
            action="view",
            entity_type="patient",
            entity_id=3,
            patient_id=3,
            detail={"page": "overview"},
        )
    assert (event.user_id, event.username, event.action) == (actors.viewer.id, "viewer", "view")
    with database.read() as session:
        assert [e.id for e in list_events(session, patient_id=3)] == [event.id]
        assert [e.id for e in list_events(session, user_id=actors.viewer.id)] == [event.id]


@pytest.mark.parametrize(
    "detail",
    [
        {"mrn": "123"},
        {"changes": {"family_name": "Muster"}},
        {"items": [{"birth_date": "1970-01-01"}]},
        {"Password": "x"},
        {"search": "muster"},
        {"value": float("nan")},
        {"when": object()},
    ],
)
def test_details_with_patient_data_are_refused(
    database: Database, actors: Actors, detail: dict[str, object]
) -> None:
    with pytest.raises(ValueError), database.transaction() as session:
        record_event(
            session,
            actor=actors.viewer,
            action="view",
            entity_type="patient",
            entity_id=1,
            detail=detail,
        )


@pytest.mark.parametrize("action", ["View", "", "drop table", "x" * 41])
def test_actions_are_lowercase_words(database: Database, actors: Actors, action: str) -> None:
    with pytest.raises(ValueError, match="action"), database.transaction() as session:
        record_event(session, actor=None, action=action, entity_type="patient", entity_id=None)


def test_list_events_pages_newest_first(database: Database, actors: Actors) -> None:
    with database.transaction() as session:
        for index in range(5):
            record_event(
                session, actor=actors.viewer, action="view", entity_type="report", entity_id=index
            )
    with database.read() as session:
        page = [e.entity_id for e in list_events(session, action="view", limit=2, offset=1)]
        with pytest.raises(ValueError, match="limit"):
            list_events(session, limit=0)
    assert page == [3, 2]
