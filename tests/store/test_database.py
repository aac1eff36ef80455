"""Transactions and read-only sessions (imatinib_tdm.store._database)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from imatinib_tdm.errors import CaseError
from imatinib_tdm.store import (
    AuditEvent,
    Database,
    Patient,
    count_patients,
    create_patient,
    list_events,
)

from .conftest import PATIENT_FIELDS, Actors, add_patient


def test_transaction_commits(database: Database, actors: Actors) -> None:
    add_patient(database, actors.clinician)
    with database.read() as session:
        assert count_patients(session) == 1


def test_an_error_mid_write_leaves_nothing(database: Database, actors: Actors) -> None:
    with database.read() as session:
        events_before = session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(CaseError, match="mrn"), database.transaction() as session:
        create_patient(session, actor=actors.clinician, **PATIENT_FIELDS)
        # the second patient is invalid: the first one must not be saved either
        create_patient(session, actor=actors.clinician, **{**PATIENT_FIELDS, "mrn": "  "})
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before


def test_an_exception_raised_by_the_caller_rolls_back(database: Database, actors: Actors) -> None:
    with pytest.raises(RuntimeError, match="network"), database.transaction() as session:
        create_patient(session, actor=actors.clinician, **PATIENT_FIELDS)
        raise RuntimeError("network down while rendering the page")
    with database.read() as session:
        assert count_patients(session) == 0


def test_read_sessions_refuse_to_write(database: Database, actors: Actors) -> None:
    with pytest.raises(RuntimeError, match="read-only"), database.read() as session:
        create_patient(session, actor=actors.clinician, **PATIENT_FIELDS)
    with database.read() as session:
        assert count_patients(session) == 0
        assert list_events(session, action="create", limit=10)  # reading still works


def test_objects_stay_readable_after_the_transaction(database: Database, actors: Actors) -> None:
    patient = add_patient(database, actors.clinician)
    assert patient.id > 0
    assert patient.family_name == "Muster"
    assert patient.created_at.tzinfo is not None


def test_connect_migrates() -> None:
    db = Database.connect("sqlite://")
    try:
        with db.read() as session:
            assert count_patients(session) == 0
    finally:
        db.dispose()
