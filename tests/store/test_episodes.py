"""Episodes: case storage, revisions, optimistic concurrency, amendments
(imatinib_tdm.store._episodes)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from imatinib_tdm.case import Case
from imatinib_tdm.errors import (
    CaseError,
    ConflictError,
    ImmutableRecordError,
    NotFoundError,
    PermissionDeniedError,
)
from imatinib_tdm.store import (
    Database,
    EpisodeStatus,
    amend_episode,
    archive_patient,
    create_episode,
    episode_case,
    get_episode,
    list_episode_revisions,
    list_episodes,
    list_events,
    update_episode,
)

from .conftest import Actors, add_patient, changed_case, interpreted_episode, issue_first_report


def test_create_and_read_back_the_case(database: Database, actors: Actors, demo_case: Case) -> None:
    patient = add_patient(database, actors.clinician)
    with database.transaction() as session:
        episode = create_episode(
            session, patient.id, actor=actors.clinician, case=demo_case, label=" Trough 1 "
        )
    with database.read() as session:
        stored = get_episode(session, episode.id)
        event = list_events(session, patient_id=patient.id, limit=1)[0]
        assert [e.id for e in list_episodes(session, patient.id)] == [episode.id]
    assert stored.label == "Trough 1"
    assert stored.status is EpisodeStatus.DRAFT
    assert stored.revision == 1
    assert stored.case_json == demo_case.model_dump(mode="json")
    assert episode_case(stored) == demo_case
    assert (event.action, event.entity_type, event.detail) == ("create", "episode", {"revision": 1})


def test_create_refuses_bad_input(database: Database, actors: Actors, demo_case: Case) -> None:
    patient = add_patient(database, actors.clinician)
    with (
        pytest.raises(CaseError, match="label: must not be empty"),
        database.transaction() as session,
    ):
        create_episode(session, patient.id, actor=actors.clinician, case=demo_case, label="")
    with pytest.raises(CaseError, match="case: expected a Case"), database.transaction() as session:
        create_episode(
            session,
            patient.id,
            actor=actors.clinician,
            case=demo_case.model_dump(),  # type: ignore[arg-type]
            label="x",
        )
    with pytest.raises(PermissionDeniedError), database.transaction() as session:
        create_episode(session, patient.id, actor=actors.viewer, case=demo_case, label="x")
    with (
        pytest.raises(NotFoundError, match="no patient with id 99"),
        database.transaction() as session,
    ):
        create_episode(session, 99, actor=actors.clinician, case=demo_case, label="x")
    with database.transaction() as session:
        archive_patient(session, patient.id, actor=actors.clinician)
    with pytest.raises(ConflictError, match="archived"), database.transaction() as session:
        create_episode(session, patient.id, actor=actors.clinician, case=demo_case, label="x")


def test_update_keeps_every_revision(database: Database, actors: Actors, demo_case: Case) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with database.transaction() as session:
        before = get_episode(session, flow.episode_id)
        assert before.status is EpisodeStatus.INTERPRETED
        revision_before = before.revision
        updated = update_episode(
            session,
            flow.episode_id,
            actor=actors.clinician,
            case=changed_case(demo_case, 1040.0),
            expected_revision=revision_before,
            label="Trough 1 (corrected value)",
        )
    assert updated.revision == revision_before + 1
    assert updated.status is EpisodeStatus.DRAFT  # the interpretation no longer describes it
    assert episode_case(updated).samples[0].concentration == 1040.0
    with database.read() as session:
        revisions = list_episode_revisions(session, flow.episode_id)
        event = list_events(session, patient_id=flow.patient_id, limit=1)[0]
    assert [r.case_json["samples"][0]["concentration"] for r in revisions] == [820.0, 1040.0]
    assert revisions[-1].revision == updated.revision
    assert event.action == "update"
    assert event.detail == {"fields": ["case", "label"], "revision": updated.revision}


def test_saving_the_same_case_changes_nothing(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with database.transaction() as session:
        before = get_episode(session, flow.episode_id).revision
        same = update_episode(session, flow.episode_id, actor=actors.clinician, case=demo_case)
    assert same.revision == before
    assert same.status is EpisodeStatus.INTERPRETED


def test_stale_revision_conflicts(database: Database, actors: Actors, demo_case: Case) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with database.read() as session:
        seen = get_episode(session, flow.episode_id).revision
    with database.transaction() as session:
        update_episode(
            session,
            flow.episode_id,
            actor=actors.clinician,
            case=changed_case(demo_case, 900.0),
            expected_revision=seen,
        )
    with (
        pytest.raises(ConflictError, match=f"you edited revision {seen}") as caught,
        database.transaction() as session,
    ):
        update_episode(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            case=changed_case(demo_case, 950.0),
            expected_revision=seen,
        )
    assert caught.value.field == "revision"
    with database.read() as session:
        assert episode_case(get_episode(session, flow.episode_id)).samples[0].concentration == 900


def test_a_writer_holding_an_old_revision_loses(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with (
        pytest.raises(ConflictError, match="changed by someone else"),
        database.transaction() as session,
    ):
        loaded = get_episode(session, flow.episode_id)  # at revision N, kept in the session
        # another writer saves in between (raw SQL: the ORM copy still holds N)
        session.execute(
            text("UPDATE episodes SET revision = revision + 1 WHERE id = :id"),
            {"id": flow.episode_id},
        )
        update_episode(session, loaded.id, actor=actors.clinician, case=changed_case(demo_case, 7))


def test_concurrent_transactions_cannot_both_win(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    if database.engine.dialect.name == "sqlite":
        # SQLite writers queue at BEGIN IMMEDIATE: the second one starts after the first
        # committed, reads the new revision, and its stale expected_revision is refused.
        with database.read() as session:
            seen = get_episode(session, flow.episode_id).revision
        for value, outcome in ((700.0, None), (710.0, ConflictError)):
            if outcome is None:
                with database.transaction() as session:
                    update_episode(
                        session,
                        flow.episode_id,
                        actor=actors.clinician,
                        case=changed_case(demo_case, value),
                        expected_revision=seen,
                    )
            else:
                with pytest.raises(outcome), database.transaction() as session:
                    update_episode(
                        session,
                        flow.episode_id,
                        actor=actors.clinician,
                        case=changed_case(demo_case, value),
                        expected_revision=seen,
                    )
        return
    # PostgreSQL: two transactions open at the same time, both without expected_revision
    with (
        pytest.raises(ConflictError, match="changed by someone else"),
        database.transaction() as first,
    ):
        loaded = get_episode(first, flow.episode_id)  # kept: the session holds revision N
        with database.transaction() as second:
            update_episode(
                second,
                flow.episode_id,
                actor=actors.pharmacologist,
                case=changed_case(demo_case, 700),
            )
        update_episode(first, loaded.id, actor=actors.clinician, case=changed_case(demo_case, 710))
    with database.read() as session:
        assert episode_case(get_episode(session, flow.episode_id)).samples[0].concentration == 700


def test_update_after_report_is_refused_but_amend_works(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    issue_first_report(database, actors, flow)
    with (
        pytest.raises(ImmutableRecordError, match="issued report"),
        database.transaction() as session,
    ):
        update_episode(
            session, flow.episode_id, actor=actors.clinician, case=changed_case(demo_case, 1)
        )
    with (
        pytest.raises(CaseError, match="reason: must not be empty"),
        database.transaction() as session,
    ):
        amend_episode(
            session,
            flow.episode_id,
            actor=actors.clinician,
            case=changed_case(demo_case, 1),
            reason=" ",
        )
    with database.transaction() as session:
        amended = amend_episode(
            session,
            flow.episode_id,
            actor=actors.clinician,
            case=changed_case(demo_case, 1020.0),
            reason="Sample value transcribed wrongly\n(lab sheet says 1020)",
        )
        revisions = list_episode_revisions(session, flow.episode_id)
        event = list_events(session, patient_id=flow.patient_id, limit=1)[0]
    assert amended.status is EpisodeStatus.DRAFT
    assert revisions[-1].reason == "Sample value transcribed wrongly\n(lab sheet says 1020)"
    assert event.action == "amend"
    assert "1020" not in str(event.detail)  # the reason stays out of the audit detail


def test_list_episodes_of_unknown_patient(database: Database) -> None:
    with database.read() as session, pytest.raises(NotFoundError, match="patient"):
        list_episodes(session, 7)
