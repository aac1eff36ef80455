"""Export and import of one patient's whole record as JSON (``imatinib-tdm/patient-record``).

The document (:mod:`imatinib_tdm.store._record_format`) carries the patient's identifiers and
every episode with its case file, interpretations and report versions (HTML, PDF in base64
with its SHA-256). Database ids, users and the audit trail stay behind: an import belongs to
the importing user and is recorded as one ``import`` event.

Import validates everything before writing anything and lists every problem with its path
(``episodes[0].case.doses[1].amount_mg: ...``). Kept from the file: the case files, the
interpretations with their creation times, the reports with their issue times and validator
names.

An imported report was not validated here, and nothing in the file can make it look so: it
has no ``validator_id`` (the validating account, if any, belongs to the other installation),
and ``Report.imported_from`` records its provenance ("imported from <source> on <date> by
<user>; validated there by <name> according to the file, not validated here"), which pages show
instead of a validator. Because a record carries issued reports, importing one needs the role
that issues reports (:func:`imatinib_tdm.store.can_issue_reports`). An export carries the
provenance along (record version 2), so it survives further exports and imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import ValidationError
from sqlalchemy.orm import Session

import imatinib_tdm
from imatinib_tdm.case import parse_case
from imatinib_tdm.errors import CaseError, ConflictError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor
from imatinib_tdm.store._episodes import case_to_json, list_episodes
from imatinib_tdm.store._identifiers import clean_identifier
from imatinib_tdm.store._interpretations import list_interpretations
from imatinib_tdm.store._models import (
    NAME_LENGTH,
    Episode,
    EpisodeRevision,
    EpisodeStatus,
    Patient,
    Report,
    StoredInterpretation,
    User,
)
from imatinib_tdm.store._patients import (
    clean_patient_fields,
    get_patient,
    mrn_taken,
    set_derived_fields,
    similar_detail,
)
from imatinib_tdm.store._record_format import (
    PROVENANCE_LENGTH,
    RECORD_FORMAT,
    RECORD_VERSION,
    EpisodeRecord,
    InterpretationRecord,
    PatientIdentity,
    PatientRecord,
    ReportRecord,
)
from imatinib_tdm.store._reports import PDF_MAGIC, list_reports
from imatinib_tdm.store._roles import can_issue_reports
from imatinib_tdm.store._types import utc_now

__all__ = ["export_patient", "import_patient"]

_TYPE_TAGS = {"int", "str", "bool", "float", "date", "datetime", "none", "dict", "list"}


# --- Export -------------------------------------------------------------------------------------


def _export_episode(session: Session, episode: Episode) -> EpisodeRecord:
    interpretations = list_interpretations(session, episode.id)
    position = {stored.id: index for index, stored in enumerate(interpretations)}
    reports = list_reports(session, episode.id)
    version_of = {report.id: report.version for report in reports}
    return EpisodeRecord(
        label=episode.label,
        status=episode.status,
        case=episode.case_json,
        interpretations=[
            InterpretationRecord(
                model_id=stored.model_id,
                created_at=stored.created_at,
                software_version=stored.software_version,
                case=stored.case_json,
                result=stored.result_json,
            )
            for stored in interpretations
        ],
        reports=[
            ReportRecord(
                version=report.version,
                supersedes_version=(
                    version_of[report.supersedes_id] if report.supersedes_id is not None else None
                ),
                interpretation=position[report.interpretation_id],
                issued_at=report.issued_at,
                validator_name=report.validator_name,
                correction_reason=report.correction_reason,
                html=report.html,
                pdf_base64=base64.b64encode(report.pdf).decode("ascii"),
                pdf_sha256=report.pdf_sha256,
                imported_from=report.imported_from,
            )
            for report in reports
        ],
    )


def export_patient(
    session: Session, patient_id: int, *, actor: User | None = None
) -> dict[str, Any]:
    """One patient's whole record as a JSON-ready dict.

    Parameters
    ----------
    patient_id : int
        Archived patients can be exported too.
    actor : User, optional
        When given, an ``export`` audit event is recorded in the session (an export is a view
        of patient data; without ``actor`` the caller records it).

    Returns
    -------
    dict
        ``{"format": "imatinib-tdm/patient-record", "version": 2, "exported_at", ...,
        "patient": {...}, "episodes": [{"label", "status", "case", "interpretations",
        "reports"}]}``; see ``docs/storage.md``.
    """
    patient = get_patient(session, patient_id)
    episodes = [_export_episode(session, episode) for episode in list_episodes(session, patient.id)]
    record = PatientRecord(
        format=RECORD_FORMAT,
        version=RECORD_VERSION,
        exported_at=utc_now(),
        software_version=imatinib_tdm.__version__,
        patient=PatientIdentity(
            mrn=patient.mrn,
            family_name=patient.family_name,
            given_name=patient.given_name,
            birth_date=patient.birth_date,
            sex=patient.sex,
            indication=patient.indication,
            archived=patient.archived,
        ),
        episodes=episodes,
    )
    if actor is not None:
        record_event(
            session,
            actor=actor,
            action=AuditAction.EXPORT,
            entity_type="patient",
            entity_id=patient.id,
            patient_id=patient.id,
            detail={"n_episodes": len(episodes)},
        )
    return record.model_dump(mode="json")


# --- Import: validation -------------------------------------------------------------------------


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "[" in part or part in _TYPE_TAGS:
            continue  # pydantic's names of union members, not fields
        else:
            text += f".{part}" if text else part
    return text


def _join(prefix: str, field: str | None) -> str:
    if not field:
        return prefix
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"


def _case_problems(data: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    try:
        parse_case(data)
    except CaseError as error:
        listed = error.fields.get("problems") or [{"field": error.field, "message": error.message}]
        return [(_join(prefix, item["field"]), item["message"]) for item in listed]
    return []


def _pdf_problems(report: ReportRecord, prefix: str) -> list[tuple[str, str]]:
    try:
        pdf = base64.b64decode(report.pdf_base64, validate=True)
    except (binascii.Error, ValueError):
        return [(f"{prefix}.pdf_base64", "not valid base64")]
    if not pdf.startswith(PDF_MAGIC):
        return [(f"{prefix}.pdf_base64", "does not hold a PDF document")]
    if hashlib.sha256(pdf).hexdigest() != report.pdf_sha256:
        return [(f"{prefix}.pdf_sha256", "does not match the PDF: the file was altered or cut")]
    return []


def _report_problems(episode: EpisodeRecord, prefix: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for index, report in enumerate(episode.reports):
        where = f"{prefix}.reports[{index}]"
        if report.version != index + 1:
            problems.append(
                (f"{where}.version", f"expected version {index + 1} (versions count 1, 2, ...)")
            )
        expected = None if report.version == 1 else report.version - 1
        if report.supersedes_version != expected:
            problems.append(
                (f"{where}.supersedes_version", f"expected {expected} for version {report.version}")
            )
        if report.interpretation >= len(episode.interpretations):
            problems.append(
                (
                    f"{where}.interpretation",
                    f"refers to interpretation {report.interpretation}, but the episode has "
                    f"{len(episode.interpretations)}",
                )
            )
        if report.version > 1 and not (report.correction_reason or "").strip():
            problems.append((f"{where}.correction_reason", "a corrected version needs a reason"))
        try:
            clean_identifier(report.validator_name, field="validator_name", max_length=NAME_LENGTH)
        except CaseError as error:
            problems.append((f"{where}.validator_name", error.message.split(": ", 1)[-1]))
        problems.extend(_pdf_problems(report, where))
    if episode.status is EpisodeStatus.REPORTED and not episode.reports:
        problems.append((f"{prefix}.status", "is 'reported' but the episode has no reports"))
    return problems


def _patient_fields(
    identity: PatientIdentity, mrn: str | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    raw = identity.model_dump(exclude={"archived"})
    if mrn is not None:
        raw["mrn"] = mrn
    try:
        return clean_patient_fields(raw), []
    except CaseError as error:
        return {}, [(f"patient.{error.field}", error.message.split(": ", 1)[-1])]


def _raise(problems: list[tuple[str, str]]) -> NoReturn:
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    lines = "\n".join(f"  - {path}: {message}" for path, message in problems)
    raise CaseError(
        f"the patient record has {count}:\n{lines}",
        field=problems[0][0],
        problems=[{"field": path, "message": message} for path, message in problems],
    )


def _validated(data: Any, mrn: str | None) -> tuple[PatientRecord, dict[str, Any]]:
    if not isinstance(data, Mapping):
        _raise([("", f"must be a JSON object, got {type(data).__name__}")])
    try:
        record = PatientRecord.model_validate(data)
    except ValidationError as error:
        _raise([(_dotted(item["loc"]), item["msg"]) for item in error.errors()])
    fields, problems = _patient_fields(record.patient, mrn)
    for e_index, episode in enumerate(record.episodes):
        prefix = f"episodes[{e_index}]"
        problems.extend(_case_problems(episode.case, f"{prefix}.case"))
        for i_index, interpretation in enumerate(episode.interpretations):
            problems.extend(
                _case_problems(interpretation.case, f"{prefix}.interpretations[{i_index}].case")
            )
        problems.extend(_report_problems(episode, prefix))
    if problems:
        _raise(problems)
    return record, fields


# --- Import: writing ----------------------------------------------------------------------------


def _provenance(
    record: PatientRecord, report: ReportRecord, *, source: str | None, actor: User
) -> str:
    """The ``imported_from`` text of an imported report (what the file claims is marked so)."""
    if source is None:
        exported = (
            f" exported on {record.exported_at:%Y-%m-%d}" if record.exported_at is not None else ""
        )
        software = f" by imatinib-tdm {record.software_version}" if record.software_version else ""
        source = f"a patient record file{exported}{software}"
    text = (
        f"imported from {source} on {utc_now():%Y-%m-%d %H:%M} UTC by {actor.username}; "
        f"validated there by {report.validator_name} on {report.issued_at:%Y-%m-%d} according "
        "to the file, not validated here"
    )
    if report.imported_from:
        text += f"; earlier provenance according to the file: {report.imported_from}"
    return text[:PROVENANCE_LENGTH]


def _import_episode(
    session: Session,
    patient: Patient,
    record: PatientRecord,
    episode_record: EpisodeRecord,
    *,
    actor: User,
    source: str | None,
) -> tuple[int, int]:
    now = utc_now()
    episode = Episode(
        patient_id=patient.id,
        label=episode_record.label,
        case_json=case_to_json(parse_case(episode_record.case)),
        status=episode_record.status,
        created_at=now,
        created_by_id=actor.id,
        updated_at=now,
        updated_by_id=actor.id,
    )
    session.add(episode)
    session.flush()
    session.add(
        EpisodeRevision(
            episode_id=episode.id,
            revision=episode.revision,
            case_json=episode.case_json,
            reason="imported",
            saved_at=now,
            saved_by_id=actor.id,
        )
    )
    stored = []
    for interpretation_record in episode_record.interpretations:
        interpretation = StoredInterpretation(
            episode_id=episode.id,
            episode_revision=episode.revision,
            model_id=interpretation_record.model_id,
            case_json=case_to_json(parse_case(interpretation_record.case)),
            result_json=interpretation_record.result,
            software_version=interpretation_record.software_version,
            created_at=interpretation_record.created_at,
            created_by_id=actor.id,
        )
        session.add(interpretation)
        stored.append(interpretation)
    session.flush()
    previous: Report | None = None
    for report_record in episode_record.reports:
        pdf = base64.b64decode(report_record.pdf_base64)
        report = Report(
            episode_id=episode.id,
            interpretation_id=stored[report_record.interpretation].id,
            version=report_record.version,
            supersedes_id=previous.id if previous is not None else None,
            html=report_record.html,
            pdf=pdf,
            pdf_sha256=report_record.pdf_sha256,
            validator_id=None,  # never an account of this installation
            validator_name=clean_identifier(
                report_record.validator_name, field="validator_name", max_length=NAME_LENGTH
            ),
            issued_at=report_record.issued_at,
            correction_reason=report_record.correction_reason,
            created_at=now,
            created_by_id=actor.id,
            imported_from=_provenance(record, report_record, source=source, actor=actor),
        )
        session.add(report)
        session.flush()
        previous = report
    return len(stored), len(episode_record.reports)


def import_patient(
    session: Session,
    data: Mapping[str, Any],
    *,
    actor: User,
    mrn: str | None = None,
    source: str | None = None,
) -> Patient:
    """Create a patient with all episodes, interpretations and reports from an exported record.

    Parameters
    ----------
    data : mapping
        A document written by :func:`export_patient` (parsed JSON).
    actor : User
        Pharmacologist or admin (a record carries issued reports); owns the imported rows.
    mrn : str, optional
        Store the patient under this MRN instead of the file's (e.g. another hospital's
        numbering).
    source : str, optional
        Where the record comes from (installation or file name, at most 200 characters), for
        the provenance of its reports; default: the file's export date and software version.

    Returns
    -------
    Patient

    Raises
    ------
    CaseError
        Anything invalid, every problem listed with its path (``field`` is the first, e.g.
        ``episodes[0].case.doses[1].amount_mg``); nothing is written.
    ConflictError
        A patient with the MRN exists, ignoring case and width (``field="patient.mrn"``).
    PermissionDeniedError
        ``actor`` may not issue reports.

    Notes
    -----
    A patient with the same names and birth date as an existing one is imported all the same;
    :func:`imatinib_tdm.store.patient_warnings` lists such patients (the import's audit event
    holds their ids as ``similar_patient_ids``).
    """
    check_actor(
        actor,
        allowed=can_issue_reports(actor.role),
        action="import patient records (they carry issued reports)",
    )
    if source is not None:
        source = clean_identifier(source, field="source", max_length=NAME_LENGTH)
    record, fields = _validated(data, mrn)
    if mrn_taken(session, fields["mrn"]):
        raise ConflictError(
            "patient.mrn: a patient with this MRN exists already (or with one that differs "
            "only in case or width); import under another MRN or update the existing record",
            field="patient.mrn",
        )
    now = utc_now()
    patient = Patient(
        **fields,
        archived=record.patient.archived,
        archived_at=now if record.patient.archived else None,
        created_at=now,
        created_by_id=actor.id,
        updated_at=now,
        updated_by_id=actor.id,
    )
    set_derived_fields(patient)
    session.add(patient)
    session.flush()
    n_interpretations = n_reports = 0
    for episode_record in record.episodes:
        added = _import_episode(
            session, patient, record, episode_record, actor=actor, source=source
        )
        n_interpretations += added[0]
        n_reports += added[1]
    record_event(
        session,
        actor=actor,
        action=AuditAction.IMPORT,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        detail={
            "format_version": record.version,
            "n_episodes": len(record.episodes),
            "n_interpretations": n_interpretations,
            "n_reports": n_reports,
            **similar_detail(session, patient),
        },
    )
    return patient
