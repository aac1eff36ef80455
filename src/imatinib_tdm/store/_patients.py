"""Patients: identifiers and demographics, search, archive (never delete).

Error messages name the field but never repeat an identifier's value (they may end up in logs).

Search is case- and accent-insensitive on both databases: the store keeps a folded copy of the
MRN and names (``Patient.search_text``: NFKD without combining marks, then ``casefold``) and
matches every word of the query against it with ``LIKE``. SQLite's own ``lower()`` only folds
ASCII, so folding in Python is what makes "müller", "MULLER" and "Müller" find the same patient
everywhere.

Identifiers cannot look like another patient's (:mod:`imatinib_tdm.store._identifiers`): the MRN
and the names are stored in NFKC and refused with an invisible or bidirectional control
character; MRNs are unique ignoring case and width (``Patient.mrn_key``); a patient with the same
names and birth date as another one is accepted but reported (:func:`patient_warnings`, and in
the audit event as ``similar_patient_ids``) rather than refused, because twins, namesakes and
deliberate second records exist, and the person entering data decides.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imatinib_tdm.case import Indication, Sex
from imatinib_tdm.errors import CaseError, ConflictError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch
from imatinib_tdm.store._identifiers import (
    clean_identifier,
    fold_for_search,
    mrn_key,
    similar_patients,
)
from imatinib_tdm.store._models import MRN_LENGTH, NAME_LENGTH, Patient, User
from imatinib_tdm.store._roles import can_edit
from imatinib_tdm.store._types import utc_now

__all__ = [
    "PATIENT_FIELDS",
    "archive_patient",
    "clean_patient_fields",
    "count_patients",
    "create_patient",
    "fold_for_search",
    "get_patient",
    "list_patients",
    "mrn_taken",
    "patient_warnings",
    "restore_patient",
    "search_text_of",
    "set_derived_fields",
    "similar_detail",
    "update_patient",
]

PATIENT_FIELDS = ("mrn", "family_name", "given_name", "birth_date", "sex", "indication")
"""The fields :func:`update_patient` accepts."""

# Data-entry guard, the same as the case file's age limit (``patient.age_years`` at most 120).
MAX_AGE_YEARS = 120
MAX_PAGE = 500


def search_text_of(patient: Patient) -> str:
    """The value of ``Patient.search_text``: folded MRN, family and given name."""
    return " ".join(
        fold_for_search(part) for part in (patient.mrn, patient.family_name, patient.given_name)
    )


def _choice(value: Any, choices: type[Sex] | type[Indication], field: str) -> Any:
    if isinstance(value, choices):
        return value
    if isinstance(value, str):
        for member in choices:
            if member.value.lower() == value.strip().lower():
                return member
    allowed = ", ".join(member.value for member in choices)
    raise CaseError(f"{field}: {value!r} is not one of {allowed}", field=field)


def _birth_date(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):  # keep the calendar date
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise CaseError(
                "birth_date: not a date; write it as YYYY-MM-DD", field="birth_date"
            ) from None
    if not isinstance(value, date):
        raise CaseError("birth_date: must be a date (YYYY-MM-DD)", field="birth_date")
    today = date.today()
    if value > today:
        raise CaseError("birth_date: the date lies in the future; check it", field="birth_date")
    if today.year - value.year > MAX_AGE_YEARS:
        raise CaseError(
            f"birth_date: the date means an age above {MAX_AGE_YEARS} years; check the year",
            field="birth_date",
        )
    return value


def clean_patient_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise patient fields (any subset of :data:`PATIENT_FIELDS`).

    Raises
    ------
    CaseError
        Naming the first invalid or unknown field.
    """
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "mrn":
            cleaned[field] = clean_identifier(value, field=field, max_length=MRN_LENGTH)
        elif field in ("family_name", "given_name"):
            cleaned[field] = clean_identifier(value, field=field, max_length=NAME_LENGTH)
        elif field == "birth_date":
            cleaned[field] = _birth_date(value)
        elif field == "sex":
            cleaned[field] = _choice(value, Sex, field)
        elif field == "indication":
            cleaned[field] = _choice(value, Indication, field)
        else:
            raise CaseError(
                f"{field}: not a patient field; expected one of {', '.join(PATIENT_FIELDS)}",
                field=field,
            )
    return cleaned


def mrn_taken(session: Session, mrn: str, *, other_than: int | None = None) -> bool:
    """Whether another patient has this MRN, ignoring case, width and invisible characters."""
    query = select(Patient.id).where(Patient.mrn_key == mrn_key(mrn))
    if other_than is not None:
        query = query.where(Patient.id != other_than)
    return session.scalar(query.limit(1)) is not None


def _refuse_duplicate_mrn(session: Session, mrn: str, *, other_than: int | None = None) -> None:
    if mrn_taken(session, mrn, other_than=other_than):
        raise ConflictError(
            "mrn: another patient already has this hospital identifier (MRN), or one that "
            "differs only in case or width; search for that patient instead of creating a "
            "second record",
            field="mrn",
        )


def patient_warnings(session: Session, patient: Patient) -> list[dict[str, Any]]:
    """Warnings about a patient just created, changed or imported: other patients with the same
    names and birth date (possibly the same person entered twice).

    Returns
    -------
    list of dict
        ``[{"code": "similar_patient", "field": "family_name", "message": ...,
        "patient_ids": [...]}]``, or ``[]``. Messages hold no names or dates.
    """
    ids = similar_patients(
        session,
        family_name=patient.family_name,
        given_name=patient.given_name,
        birth_date=patient.birth_date,
        other_than=patient.id,
    )
    if not ids:
        return []
    listed = ", ".join(str(other) for other in ids)
    return [
        {
            "code": "similar_patient",
            "field": "family_name",
            "message": f"patient(s) {listed} have the same names and birth date: check that "
            "this is not the same person entered twice",
            "patient_ids": ids,
        }
    ]


def similar_detail(session: Session, patient: Patient) -> dict[str, Any]:
    """``{"similar_patient_ids": [...]}`` for an audit detail, or ``{}``."""
    warnings = patient_warnings(session, patient)
    return {"similar_patient_ids": warnings[0]["patient_ids"]} if warnings else {}


def set_derived_fields(patient: Patient) -> None:
    """Fill ``search_text`` and ``mrn_key`` from the MRN and names."""
    patient.search_text = search_text_of(patient)
    patient.mrn_key = mrn_key(patient.mrn)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent insert of the same MRN
        raise ConflictError(
            "mrn: another patient already has this hospital identifier (MRN)", field="mrn"
        ) from error


def create_patient(
    session: Session,
    *,
    actor: User,
    mrn: str,
    family_name: str,
    given_name: str,
    birth_date: date | str | None,
    sex: Sex | str,
    indication: Indication | str,
) -> Patient:
    """Create a patient.

    Parameters
    ----------
    actor : User
        Clinician, pharmacologist or admin.
    mrn : str
        Hospital identifier (medical record number), unique, at most 64 characters.
    family_name, given_name : str
        At most 200 characters each; any script.
    birth_date : datetime.date, ISO text or None
        Not in the future, age at most 120 years.
    sex : Sex or str
        ``female``, ``male`` or ``unknown``.
    indication : Indication or str
        ``GIST``, ``CML`` or ``other``.

    Raises
    ------
    CaseError
        A field is invalid (``field`` names it).
    ConflictError
        The MRN exists already (``field="mrn"``).
    PermissionDeniedError
        ``actor`` may not edit.
    """
    check_actor(actor, allowed=can_edit(actor.role), action="create patients")
    fields = clean_patient_fields(
        {
            "mrn": mrn,
            "family_name": family_name,
            "given_name": given_name,
            "birth_date": birth_date,
            "sex": sex,
            "indication": indication,
        }
    )
    _refuse_duplicate_mrn(session, fields["mrn"])
    now = utc_now()
    patient = Patient(
        **fields,
        archived=False,
        created_at=now,
        created_by_id=actor.id,
        updated_at=now,
        updated_by_id=actor.id,
    )
    set_derived_fields(patient)
    session.add(patient)
    _flush(session)
    record_event(
        session,
        actor=actor,
        action=AuditAction.CREATE,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        detail=similar_detail(session, patient) or None,
    )
    return patient


def get_patient(session: Session, patient_id: int) -> Patient:
    """The patient with id ``patient_id`` (archived or not); raises ``NotFoundError``."""
    return fetch(session, Patient, patient_id, "patient")


def _filtered(query: Select[Any], search: str | None, include_archived: bool) -> Select[Any]:
    if not include_archived:
        query = query.where(Patient.archived.is_(False))
    for word in fold_for_search(search or "").split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Patient.search_text.like(f"%{escaped}%", escape="\\"))
    return query


def list_patients(
    session: Session,
    *,
    search: str | None = None,
    include_archived: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[Patient]:
    """Patients by family name, given name and id, optionally filtered.

    Parameters
    ----------
    search : str, optional
        Words that must all occur in the MRN or the names (case and accents ignored).
    include_archived : bool, default=False
    limit : int, default=50
        1 to 500.
    offset : int, default=0
    """
    if not 1 <= limit <= MAX_PAGE:
        raise CaseError(f"limit: must be between 1 and {MAX_PAGE}, got {limit}", field="limit")
    if offset < 0:
        raise CaseError(f"offset: must not be negative, got {offset}", field="offset")
    query = _filtered(select(Patient), search, include_archived)
    query = query.order_by(Patient.family_name, Patient.given_name, Patient.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_patients(
    session: Session, *, search: str | None = None, include_archived: bool = False
) -> int:
    """How many patients :func:`list_patients` would find without a limit."""
    query = _filtered(select(func.count()).select_from(Patient), search, include_archived)
    return int(session.scalar(query) or 0)


def update_patient(session: Session, patient_id: int, *, actor: User, **changes: Any) -> Patient:
    """Change some of a patient's fields (:data:`PATIENT_FIELDS`).

    The audit event names the changed fields, not their values. Changing nothing records
    nothing.

    Raises
    ------
    CaseError
        An invalid or unknown field.
    ConflictError
        The new MRN belongs to another patient, or the patient is archived.
    """
    check_actor(actor, allowed=can_edit(actor.role), action="change patients")
    patient = get_patient(session, patient_id)
    if patient.archived:
        raise ConflictError(
            "the patient is archived; restore the record before changing it", field="archived"
        )
    cleaned = clean_patient_fields(changes)
    changed = sorted(name for name, value in cleaned.items() if getattr(patient, name) != value)
    if not changed:
        return patient
    if "mrn" in changed:
        _refuse_duplicate_mrn(session, cleaned["mrn"], other_than=patient.id)
    for name in changed:
        setattr(patient, name, cleaned[name])
    set_derived_fields(patient)
    patient.updated_at = utc_now()
    patient.updated_by_id = actor.id
    _flush(session)
    record_event(
        session,
        actor=actor,
        action=AuditAction.UPDATE,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        detail={"fields": changed, **similar_detail(session, patient)},
    )
    return patient


def _set_archived(session: Session, patient_id: int, *, actor: User, archived: bool) -> Patient:
    verb = "archive" if archived else "restore"
    check_actor(actor, allowed=can_edit(actor.role), action=f"{verb} patients")
    patient = get_patient(session, patient_id)
    if patient.archived is archived:
        return patient
    now = utc_now()
    patient.archived = archived
    patient.archived_at = now if archived else None
    patient.updated_at = now
    patient.updated_by_id = actor.id
    record_event(
        session,
        actor=actor,
        action=AuditAction.ARCHIVE if archived else AuditAction.RESTORE,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    return patient


def archive_patient(session: Session, patient_id: int, *, actor: User) -> Patient:
    """Hide a patient from lists and searches; nothing is deleted (see :func:`restore_patient`)."""
    return _set_archived(session, patient_id, actor=actor, archived=True)


def restore_patient(session: Session, patient_id: int, *, actor: User) -> Patient:
    """Undo :func:`archive_patient`."""
    return _set_archived(session, patient_id, actor=actor, archived=False)
