"""Reports: issue, correct as a new version, permissions (imatinib_tdm.store._reports)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError, ConflictError, NotFoundError, PermissionDeniedError
from imatinib_tdm.store import (
    Database,
    EpisodeStatus,
    amend_episode,
    correct_report,
    get_episode,
    get_report,
    issue_report,
    latest_report,
    list_events,
    list_reports,
    save_interpretation,
    update_episode,
)

from .conftest import (
    FAKE_PDF,
    INTERPRETATION_RESULT,
    Actors,
    changed_case,
    interpreted_episode,
    issue_first_report,
)


def test_issue_stores_the_documents_and_the_validator(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    report_id = issue_first_report(database, actors, flow)
    with database.read() as session:
        report = get_report(session, report_id)
        episode = get_episode(session, flow.episode_id)
        event = list_events(session, action="issue", limit=1)[0]
    assert report.version == 1
    assert report.supersedes_id is None
    assert report.html == "<h1>TDM report</h1>"
    assert report.pdf == FAKE_PDF
    assert report.pdf_sha256 == hashlib.sha256(FAKE_PDF).hexdigest()
    assert report.validator_id == actors.pharmacologist.id
    assert report.validator_name == "Dr. P. Pharmacologist"
    assert report.issued_at.utcoffset() is not None
    assert report.correction_reason is None
    assert episode.status is EpisodeStatus.REPORTED
    assert event.detail == {
        "episode_id": flow.episode_id,
        "version": 1,
        "interpretation_id": flow.interpretation_id,
    }


@pytest.mark.parametrize("role", ["clinician", "viewer"])
def test_only_pharmacologists_and_admins_issue(
    database: Database, actors: Actors, demo_case: Case, role: str
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with (
        pytest.raises(PermissionDeniedError, match="may not issue reports"),
        database.transaction() as session,
    ):
        issue_report(
            session,
            flow.episode_id,
            actor=getattr(actors, role),
            interpretation_id=flow.interpretation_id,
            html="<p>x</p>",
            pdf=FAKE_PDF,
            validator_name="X",
        )
    with database.transaction() as session:  # an admin may
        issue_report(
            session,
            flow.episode_id,
            actor=actors.admin,
            interpretation_id=flow.interpretation_id,
            html="<p>x</p>",
            pdf=FAKE_PDF,
            validator_name="Ada Admin",
        )


def test_a_second_issue_is_refused(database: Database, actors: Actors, demo_case: Case) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    issue_first_report(database, actors, flow)
    with pytest.raises(ConflictError, match="already has report version 1; to change it"):
        issue_first_report(database, actors, flow)


def test_correction_is_a_new_version_pointing_to_the_old(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    first_id = issue_first_report(database, actors, flow)
    with database.read() as session:
        first_before = get_report(session, first_id)
    with database.transaction() as session:
        amend_episode(
            session,
            flow.episode_id,
            actor=actors.clinician,
            case=changed_case(demo_case, 1020.0),
            reason="transcription error",
        )
        new_interpretation = save_interpretation(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            model_id="widmer2006_covariate",
            result={**INTERPRETATION_RESULT, "status": "on_target"},
        )
        second = correct_report(
            session,
            first_id,
            actor=actors.pharmacologist,
            interpretation_id=new_interpretation.id,
            html="<h1>TDM report (corrected)</h1>",
            pdf=FAKE_PDF + b"v2",
            validator_name="Dr. P. Pharmacologist",
            reason="Sample concentration corrected (1020 ng/mL)",
        )
        event = list_events(session, action="correct", limit=1)[0]
    assert (second.version, second.supersedes_id) == (2, first_id)
    assert second.correction_reason == "Sample concentration corrected (1020 ng/mL)"
    with database.read() as session:
        first_after = get_report(session, first_id)
        versions = [r.version for r in list_reports(session, flow.episode_id)]
        latest = latest_report(session, flow.episode_id)
        status = get_episode(session, flow.episode_id).status
    # the old version is untouched
    assert (first_after.html, first_after.pdf, first_after.issued_at) == (
        first_before.html,
        first_before.pdf,
        first_before.issued_at,
    )
    assert versions == [1, 2]
    assert latest is not None and latest.id == second.id
    assert status is EpisodeStatus.REPORTED
    assert event.detail == {
        "episode_id": flow.episode_id,
        "version": 2,
        "supersedes_id": first_id,
        "interpretation_id": new_interpretation.id,
    }
    assert "1020" not in str(event.detail)


def test_only_the_latest_version_can_be_corrected(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    first_id = issue_first_report(database, actors, flow)
    fields: dict[str, Any] = {
        "actor": actors.pharmacologist,
        "interpretation_id": flow.interpretation_id,
        "html": "<p>wording</p>",
        "pdf": FAKE_PDF,
        "validator_name": "P",
        "reason": "typo in the advice",
    }
    with database.transaction() as session:
        second_id = correct_report(session, first_id, **fields).id  # a wording fix
    with (
        pytest.raises(ConflictError, match="already corrected by version 2"),
        database.transaction() as session,
    ):
        correct_report(session, first_id, **fields)
    with (
        pytest.raises(CaseError, match="reason: must not be empty"),
        database.transaction() as session,
    ):
        correct_report(session, second_id, **{**fields, "reason": ""})
    with pytest.raises(PermissionDeniedError), database.transaction() as session:
        correct_report(session, second_id, **{**fields, "actor": actors.clinician})


def test_stale_or_foreign_interpretations_are_refused(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    other = interpreted_episode(database, actors, demo_case, mrn="OTHER-1")
    fields: dict[str, Any] = {"html": "<p>x</p>", "pdf": FAKE_PDF, "validator_name": "P"}
    with (
        pytest.raises(ConflictError, match="belongs to episode") as caught,
        database.transaction() as session,
    ):
        issue_report(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            interpretation_id=other.interpretation_id,
            **fields,
        )
    assert caught.value.field == "interpretation_id"
    with database.transaction() as session:
        update_episode(
            session, flow.episode_id, actor=actors.clinician, case=changed_case(demo_case, 1)
        )
    with (
        pytest.raises(ConflictError, match="interpret the current case again"),
        database.transaction() as session,
    ):
        issue_report(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            interpretation_id=flow.interpretation_id,
            **fields,
        )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"html": "  "}, "html"),
        ({"pdf": b"<html>not a pdf</html>"}, "pdf"),
        ({"validator_name": ""}, "validator_name"),
    ],
)
def test_documents_are_checked(
    database: Database, actors: Actors, demo_case: Case, changes: dict[str, object], field: str
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    fields: dict[str, object] = {
        "html": "<p>x</p>",
        "pdf": FAKE_PDF,
        "validator_name": "P",
        **changes,
    }
    with pytest.raises(CaseError) as caught, database.transaction() as session:
        issue_report(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            interpretation_id=flow.interpretation_id,
            **fields,  # type: ignore[arg-type]
        )
    assert caught.value.field == field


def test_missing_records(database: Database) -> None:
    with database.read() as session:
        with pytest.raises(NotFoundError, match="no report with id 5"):
            get_report(session, 5)
        with pytest.raises(NotFoundError, match="episode"):
            list_reports(session, 5)
        assert latest_report(session, 5) is None
