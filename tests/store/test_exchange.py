"""Export and import of a patient's record (imatinib_tdm.store._exchange)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError, ConflictError, PermissionDeniedError
from imatinib_tdm.store import (
    Database,
    EpisodeStatus,
    archive_patient,
    correct_report,
    count_patients,
    create_episode,
    create_first_admin,
    export_patient,
    import_patient,
    list_episodes,
    list_events,
    list_reports,
    make_engine,
    migrate,
)

from .conftest import (
    FAKE_PDF,
    PASSWORD,
    Actors,
    add_patient,
    interpreted_episode,
    issue_first_report,
)

VOLATILE = {"exported_at", "software_version"}


def _record(database: Database, actors: Actors, demo_case: Case) -> dict[str, Any]:
    """A patient with an episode, two interpretations' worth of reports (v1 and v2)."""
    flow = interpreted_episode(
        database, actors, demo_case, family_name="Ørsted-Nguyễn", given_name="Zoë"
    )
    first = issue_first_report(database, actors, flow)
    with database.transaction() as session:
        correct_report(
            session,
            first,
            actor=actors.pharmacologist,
            interpretation_id=flow.interpretation_id,
            html="<p>v2 — wording</p>",
            pdf=FAKE_PDF + b"2",
            validator_name="Dr. P. Pharmacologist",
            reason="wording",
        )
        return export_patient(session, flow.patient_id)


def _stable(record: dict[str, Any]) -> dict[str, Any]:
    """The record without the fields an export is allowed to change."""
    kept = {key: value for key, value in record.items() if key not in VOLATILE}
    kept["patient"] = {k: v for k, v in record["patient"].items() if k != "mrn"}
    # an import adds its provenance to every report (tested on its own below)
    kept["episodes"] = [
        {
            **episode,
            "reports": [
                {k: v for k, v in report.items() if k != "imported_from"}
                for report in episode["reports"]
            ],
        }
        for episode in record["episodes"]
    ]
    return kept


def test_export_format(database: Database, actors: Actors, demo_case: Case) -> None:
    record = _record(database, actors, demo_case)
    json.dumps(record, allow_nan=False)  # JSON-ready
    assert record["format"] == "imatinib-tdm/patient-record"
    assert record["version"] == 2
    assert record["patient"] == {
        "mrn": "MRN-0001",
        "family_name": "Ørsted-Nguyễn",
        "given_name": "Zoë",
        "birth_date": "1970-04-02",
        "sex": "female",
        "indication": "GIST",
        "archived": False,
    }
    (episode,) = record["episodes"]
    assert episode["label"] == "First trough"
    assert episode["status"] == "reported"
    assert episode["case"] == demo_case.model_dump(mode="json")
    assert [i["model_id"] for i in episode["interpretations"]] == ["widmer2006_covariate"]
    assert [
        (r["version"], r["supersedes_version"], r["interpretation"]) for r in episode["reports"]
    ] == [(1, None, 0), (2, 1, 0)]
    assert episode["reports"][1]["correction_reason"] == "wording"
    assert [r["imported_from"] for r in episode["reports"]] == [None, None]  # issued here


def test_round_trip_export_import_export(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)
    with database.transaction() as session:
        imported = import_patient(session, record, actor=actors.pharmacologist, mrn="MRN-COPY")
        again = export_patient(session, imported.id)
        reports = list_reports(session, list_episodes(session, imported.id)[0].id)
        event = list_events(session, patient_id=imported.id, limit=1)[0]
    assert again["patient"]["mrn"] == "MRN-COPY"
    assert _stable(again) == _stable(record)
    assert reports[1].supersedes_id == reports[0].id
    assert all(report.validator_id is None for report in reports)  # signed elsewhere
    assert event.action == "import"
    assert event.detail == {
        "format_version": 2,
        "n_episodes": 1,
        "n_interpretations": 1,
        "n_reports": 2,
        # the copy has the original's names and birth date: flagged (ids only)
        "similar_patient_ids": [imported.id - 1],
    }


def test_round_trip_between_databases(
    database: Database, actors: Actors, demo_case: Case, tmp_path: Path
) -> None:
    record = json.loads(json.dumps(_record(database, actors, demo_case)))  # through JSON text
    other_engine = make_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    migrate(other_engine)
    other = Database(other_engine)
    try:
        with other.transaction() as session:
            admin = create_first_admin(session, username="a", password=PASSWORD, full_name="A")
            patient = import_patient(session, record, actor=admin)
            assert _stable(export_patient(session, patient.id)) == _stable(record)
            assert export_patient(session, patient.id)["patient"] == record["patient"]
    finally:
        other.dispose()


def test_archived_patients_keep_their_flag(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)
    with database.transaction() as session:
        patient_id = import_patient(session, record, actor=actors.pharmacologist, mrn="X").id
        archive_patient(session, patient_id, actor=actors.clinician)
        archived = export_patient(session, patient_id)
        copy_id = import_patient(session, archived, actor=actors.pharmacologist, mrn="Y").id
        assert export_patient(session, copy_id)["patient"]["archived"] is True
        assert count_patients(session) == 1  # archived ones are hidden


def _broken(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    target: Any = changed
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        ("episodes.0.case.doses.0.amount_mg", -400, "episodes[0].case.doses[0].amount_mg", ""),
        (
            "episodes.0.interpretations.0.case.samples.0.unit",
            "furlongs",
            "episodes[0].interpretations[0].case.samples[0].unit",
            "",
        ),
        ("patient.mrn", KeyError, "patient.mrn", "Field required"),
        ("patient.birth_date", "2999-01-01", "patient.birth_date", "in the future"),
        ("patient.sex", "f", "patient.sex", ""),
        ("format", "something/else", "format", ""),
        ("version", 3, "version", ""),
        ("episodes.0.status", "done", "episodes[0].status", ""),
        ("episodes.0.reports.1.version", 3, "episodes[0].reports[1].version", "expected version 2"),
        ("episodes.0.reports.1.supersedes_version", None, "episodes[0].reports[1]", "expected 1"),
        ("episodes.0.reports.0.interpretation", 4, "episodes[0].reports[0].interpretation", ""),
        ("episodes.0.reports.0.pdf_base64", "!!!", "episodes[0].reports[0].pdf_base64", "base64"),
        ("episodes.0.reports.0.pdf_sha256", "0" * 64, "episodes[0].reports[0].pdf_sha256", "alter"),
        ("episodes.0.reports.1.correction_reason", " ", "episodes[0].reports[1]", "reason"),
        ("episodes.0.reports.0.issued_at", "2026-11-20T09:00", "episodes[0].reports[0]", ""),
        ("episodes.0.unknown_key", 1, "episodes[0].unknown_key", "Extra inputs"),
    ],
)
def test_import_errors_name_the_path_and_write_nothing(
    database: Database,
    actors: Actors,
    demo_case: Case,
    path: str,
    value: Any,
    field: str,
    message: str,
) -> None:
    record = _broken(_record(database, actors, demo_case), path, value)
    with pytest.raises(CaseError, match=message or None) as caught, database.transaction() as s:
        import_patient(s, record, actor=actors.pharmacologist, mrn="NEW")
    assert caught.value.field is not None
    assert caught.value.field.startswith(field), caught.value.field
    assert field in str(caught.value)
    with database.read() as session:
        assert count_patients(session) == 1  # only the exported one
        assert list_events(session, action="import") == []


def test_every_problem_is_listed(database: Database, actors: Actors, demo_case: Case) -> None:
    record = _record(database, actors, demo_case)
    record = _broken(record, "episodes.0.case.doses.0.amount_mg", -1)
    record = _broken(record, "episodes.0.reports.0.pdf_sha256", "f" * 64)
    with pytest.raises(CaseError, match="2 problems") as caught, database.transaction() as s:
        import_patient(s, record, actor=actors.pharmacologist, mrn="NEW")
    assert [p["field"] for p in caught.value.fields["problems"]] == [
        "episodes[0].case.doses[0].amount_mg",
        "episodes[0].reports[0].pdf_sha256",
    ]


def test_import_refuses_duplicates_non_objects_and_viewers(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)
    with (
        pytest.raises(ConflictError, match="MRN exists") as caught,
        database.transaction() as session,
    ):
        import_patient(session, record, actor=actors.pharmacologist)
    assert caught.value.field == "patient.mrn"
    with pytest.raises(CaseError, match="must be a JSON object"), database.transaction() as session:
        import_patient(session, [record], actor=actors.pharmacologist)  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError), database.transaction() as session:
        import_patient(session, record, actor=actors.viewer, mrn="NEW")


def test_draft_episode_without_reports(database: Database, actors: Actors, demo_case: Case) -> None:
    patient = add_patient(database, actors.clinician)
    with database.transaction() as session:
        create_episode(session, patient.id, actor=actors.clinician, case=demo_case, label="d")
        record = export_patient(session, patient.id, actor=actors.viewer)
        copy_id = import_patient(session, record, actor=actors.pharmacologist, mrn="D2").id
        (episode,) = list_episodes(session, copy_id)
        exported_event = list_events(session, action="export", limit=1)[0]
    assert episode.status is EpisodeStatus.DRAFT
    assert record["episodes"][0]["interpretations"] == []
    assert exported_event.user_id == actors.viewer.id


# --- provenance of imported reports (issue 12) --------------------------------------------------


def test_imported_reports_are_marked_not_validated_here(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)
    # a forged file: another validator, and a claim that the report was never imported
    record["episodes"][0]["reports"][0]["validator_name"] = "Dr. Somebody Else"
    record["episodes"][0]["reports"][0]["imported_from"] = None
    with database.transaction() as session:
        patient = import_patient(
            session, record, actor=actors.pharmacologist, mrn="COPY", source="Hospital B"
        )
        reports = list_reports(session, list_episodes(session, patient.id)[0].id)
    assert [report.validator_id for report in reports] == [None, None]
    assert all(report.is_imported for report in reports)
    provenance = reports[0].imported_from or ""
    assert provenance.startswith("imported from Hospital B on ")
    assert "by pharmacologist" in provenance
    assert "validated there by Dr. Somebody Else" in provenance
    assert provenance.endswith("not validated here")
    assert reports[0].validation_text == (
        "Imported, not validated here (validated elsewhere by Dr. Somebody Else)"
    )
    assert reports[0].validator_name == "Dr. Somebody Else"  # what the document itself says


def test_a_report_issued_here_shows_its_validator(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    issue_first_report(database, actors, flow)
    with database.read() as session:
        (report,) = list_reports(session, flow.episode_id)
    assert not report.is_imported
    assert report.validation_text == "Dr. P. Pharmacologist"


@pytest.mark.parametrize("role", ["clinician", "viewer"])
def test_importing_needs_the_role_that_issues_reports(
    database: Database, actors: Actors, demo_case: Case, role: str
) -> None:
    record = _record(database, actors, demo_case)
    with pytest.raises(PermissionDeniedError, match="import"), database.transaction() as session:
        import_patient(session, record, actor=getattr(actors, role), mrn="NEW")
    with database.transaction() as session:
        import_patient(session, record, actor=actors.admin, mrn="NEW")


def test_provenance_survives_export_and_import(
    database: Database, actors: Actors, demo_case: Case, tmp_path: Path
) -> None:
    record = _record(database, actors, demo_case)
    with database.transaction() as session:
        first = import_patient(session, record, actor=actors.pharmacologist, mrn="C1", source="B")
        exported = json.loads(json.dumps(export_patient(session, first.id)))
    provenance = exported["episodes"][0]["reports"][0]["imported_from"]
    assert provenance.startswith("imported from B on ")
    other_engine = make_engine(f"sqlite:///{tmp_path / 'third.sqlite3'}")
    migrate(other_engine)
    other = Database(other_engine)
    try:
        with other.transaction() as session:
            admin = create_first_admin(session, username="c", password=PASSWORD, full_name="C")
            patient = import_patient(session, exported, actor=admin, source="C")
            (report, _) = list_reports(session, list_episodes(session, patient.id)[0].id)
            again = export_patient(session, patient.id)
    finally:
        other.dispose()
    assert report.imported_from is not None
    assert report.imported_from.startswith("imported from C on ")
    assert report.imported_from.endswith(f"earlier provenance according to the file: {provenance}")
    assert again["episodes"][0]["reports"][0]["imported_from"] == report.imported_from


def test_version_1_files_are_still_read(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)
    record["version"] = 1
    for report in record["episodes"][0]["reports"]:
        del report["imported_from"]
    with database.transaction() as session:
        patient = import_patient(session, record, actor=actors.pharmacologist, mrn="OLD")
        reports = list_reports(session, list_episodes(session, patient.id)[0].id)
        event = list_events(session, patient_id=patient.id, limit=1)[0]
    assert all(report.is_imported for report in reports)
    assert event.detail is not None and event.detail["format_version"] == 1


def test_invisible_characters_in_an_imported_record_are_refused(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)
    record["episodes"][0]["reports"][0]["validator_name"] = "Dr. \u202eevil"
    record["patient"]["given_name"] = "Zo\u200bë"
    with pytest.raises(CaseError) as caught, database.transaction() as session:
        import_patient(session, record, actor=actors.pharmacologist, mrn="INV")
    fields = [p["field"] for p in caught.value.fields["problems"]]
    assert fields == ["patient.given_name", "episodes[0].reports[0].validator_name"]
    assert "Zo" not in str(caught.value)  # the field is named, not the value


def test_an_mrn_differing_in_case_is_a_duplicate_on_import(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    record = _record(database, actors, demo_case)  # MRN-0001
    with pytest.raises(ConflictError) as caught, database.transaction() as session:
        import_patient(session, record, actor=actors.pharmacologist, mrn="mrn-0001\u00a0")
    assert caught.value.field == "patient.mrn"
