"""Patients: creation, validation, search, archive (imatinib_tdm.store._patients)."""

from __future__ import annotations

from datetime import date

import pytest

from imatinib_tdm.case import Indication, Sex
from imatinib_tdm.errors import CaseError, ConflictError, NotFoundError, PermissionDeniedError
from imatinib_tdm.store import (
    Database,
    archive_patient,
    count_patients,
    get_patient,
    list_events,
    list_patients,
    restore_patient,
    update_patient,
)

from .conftest import Actors, add_patient


def test_create_patient(database: Database, actors: Actors) -> None:
    patient = add_patient(database, actors.clinician)
    with database.read() as session:
        stored = get_patient(session, patient.id)
        event = list_events(session, patient_id=patient.id)[0]
    assert (stored.mrn, stored.family_name, stored.given_name) == ("MRN-0001", "Muster", "Anna")
    assert stored.birth_date == date(1970, 4, 2)
    assert stored.sex is Sex.FEMALE
    assert stored.indication is Indication.GIST
    assert not stored.archived
    assert stored.created_by_id == stored.updated_by_id == actors.clinician.id
    assert stored.created_at.utcoffset() is not None
    assert (event.action, event.entity_type, event.entity_id) == ("create", "patient", patient.id)
    assert repr(stored) == f"Patient(id={patient.id})"  # no identifiers in logs


def test_unicode_names_round_trip(database: Database, actors: Actors) -> None:
    patient = add_patient(
        database,
        actors.clinician,
        mrn="ÅÖ-17",
        family_name="Nguyễn-Øster SStraße",
        given_name="Zoë 王芳",
    )
    with database.read() as session:
        stored = get_patient(session, patient.id)
    assert stored.family_name == "Nguyễn-Øster SStraße"
    assert stored.given_name == "Zoë 王芳"
    assert stored.mrn == "ÅÖ-17"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mrn", "", "must not be empty"),
        ("mrn", "x" * 65, "at most 64"),
        ("family_name", "   ", "must not be empty"),
        ("given_name", "Anna\x00", "control characters"),
        ("birth_date", "02.04.1970", "YYYY-MM-DD"),
        ("birth_date", "2999-01-01", "in the future"),
        ("birth_date", "1850-01-01", "above 120 years"),
        ("sex", "f", "female, male, unknown"),
        ("indication", "ALL", "GIST, CML, other"),
    ],
)
def test_invalid_fields_are_named(
    database: Database, actors: Actors, field: str, value: str, message: str
) -> None:
    with pytest.raises(CaseError, match=message) as caught:
        add_patient(database, actors.clinician, **{field: value})
    assert caught.value.field == field


def test_choices_ignore_case_and_birth_date_is_optional(database: Database, actors: Actors) -> None:
    patient = add_patient(database, actors.clinician, sex="MALE", indication="cml", birth_date=None)
    assert (patient.sex, patient.indication, patient.birth_date) == (
        Sex.MALE,
        Indication.CML,
        None,
    )


def test_duplicate_mrn_conflicts(database: Database, actors: Actors) -> None:
    add_patient(database, actors.clinician)
    with pytest.raises(ConflictError, match="MRN") as caught:
        add_patient(database, actors.clinician, given_name="Berta")
    assert caught.value.field == "mrn"


def test_viewer_may_not_create(database: Database, actors: Actors) -> None:
    with pytest.raises(PermissionDeniedError, match="'viewer' may not create patients"):
        add_patient(database, actors.viewer)


def test_search_ignores_case_and_accents_on_both_databases(
    database: Database, actors: Actors
) -> None:
    add_patient(database, actors.clinician, mrn="A-1", family_name="Müller", given_name="Jürgen")
    add_patient(database, actors.clinician, mrn="A-2", family_name="MULLER", given_name="Eva")
    add_patient(database, actors.clinician, mrn="B-3", family_name="Straße", given_name="Émile")
    add_patient(database, actors.clinician, mrn="B-4", family_name="Öztürk", given_name="Ayşe")

    def found(search: str) -> list[str]:
        with database.read() as session:
            return [p.mrn for p in list_patients(session, search=search)]

    assert sorted(found("müller")) == ["A-1", "A-2"]
    assert sorted(found("MULLER")) == ["A-1", "A-2"]
    assert found("jurgen") == ["A-1"]
    assert found("strasse") == ["B-3"]  # ß folds to ss
    assert found("EMILE") == ["B-3"]
    assert found("ozturk ayse") == ["B-4"]  # every word must match
    assert sorted(found("a-")) == ["A-1", "A-2"]
    assert found("b-4") == ["B-4"]
    assert found("%") == []  # LIKE wildcards are searched literally
    assert found("_") == []
    assert len(found("")) == 4
    with database.read() as session:
        assert count_patients(session, search="muller") == 2


def test_list_orders_and_pages(database: Database, actors: Actors) -> None:
    for index, name in enumerate(["Weber", "Albrecht", "Meier", "Albrecht"]):
        add_patient(database, actors.clinician, mrn=f"M{index}", family_name=name)
    with database.read() as session:
        names = [(p.family_name, p.mrn) for p in list_patients(session)]
        page = [p.mrn for p in list_patients(session, limit=2, offset=1)]
        assert count_patients(session) == 4
        with pytest.raises(CaseError, match="limit"):
            list_patients(session, limit=0)
        with pytest.raises(CaseError, match="offset"):
            list_patients(session, offset=-1)
    assert names == [("Albrecht", "M1"), ("Albrecht", "M3"), ("Meier", "M2"), ("Weber", "M0")]
    assert page == ["M3", "M2"]


def test_update_names_changed_fields_only(database: Database, actors: Actors) -> None:
    patient = add_patient(database, actors.clinician)
    with database.transaction() as session:
        updated = update_patient(
            session,
            patient.id,
            actor=actors.pharmacologist,
            family_name="Muster-Meier",
            birth_date=date(1970, 4, 2),  # unchanged
            indication="CML",
        )
        update_patient(session, patient.id, actor=actors.pharmacologist, given_name="Anna")
        events = list_events(session, patient_id=patient.id, action="update")
    assert updated.family_name == "Muster-Meier"
    assert updated.updated_by_id == actors.pharmacologist.id
    assert len(events) == 1  # the no-op update records nothing
    assert events[0].detail == {"fields": ["family_name", "indication"]}
    with database.read() as session:
        assert [p.id for p in list_patients(session, search="meier")] == [patient.id]


def test_update_refuses_unknown_fields_and_taken_mrn(database: Database, actors: Actors) -> None:
    first = add_patient(database, actors.clinician)
    add_patient(database, actors.clinician, mrn="OTHER")
    with (
        pytest.raises(CaseError, match="weight_kg: not a patient field"),
        database.transaction() as session,
    ):
        update_patient(session, first.id, actor=actors.clinician, weight_kg=70)
    with pytest.raises(ConflictError, match="MRN"), database.transaction() as session:
        update_patient(session, first.id, actor=actors.clinician, mrn="OTHER")


def test_archive_hides_and_restore_brings_back(database: Database, actors: Actors) -> None:
    patient = add_patient(database, actors.clinician)
    with database.transaction() as session:
        archived = archive_patient(session, patient.id, actor=actors.clinician)
        assert archived.archived and archived.archived_at is not None
        assert list_patients(session) == []
        assert count_patients(session) == 0
        assert [p.id for p in list_patients(session, include_archived=True)] == [patient.id]
        assert get_patient(session, patient.id).archived  # still readable by id
    with pytest.raises(ConflictError, match="archived"), database.transaction() as session:
        update_patient(session, patient.id, actor=actors.clinician, given_name="X")
    with database.transaction() as session:
        restore_patient(session, patient.id, actor=actors.clinician)
        assert [p.id for p in list_patients(session)] == [patient.id]
        actions = [e.action for e in list_events(session, patient_id=patient.id)]
    assert actions == ["restore", "archive", "create"]


def test_unknown_patient(database: Database) -> None:
    with database.read() as session, pytest.raises(NotFoundError, match="no patient with id 42"):
        get_patient(session, 42)
