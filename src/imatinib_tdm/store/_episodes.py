"""TDM episodes: the case file of one course of monitoring, its revisions and its status.

The case is stored as case-file JSON (``Case.model_dump(mode="json")``) and validated with
:func:`imatinib_tdm.case.parse_case` on the way in and on the way out. Every saved version is
also kept in ``episode_revisions``, so an edit never loses what was there before.

Editing rules:

* :func:`update_episode` changes a case until a report is issued. It takes the revision the
  user started from and refuses a stale one (:class:`ConflictError`): two people editing the
  same episode cannot silently overwrite each other.
* After a report, the case is frozen for plain edits (:class:`ImmutableRecordError`). A data
  correction goes through :func:`amend_episode`, which requires a reason, and then through a new
  interpretation and a corrected report version. The issued report is untouched and keeps the
  case it was computed on (its interpretation's ``case_json``).
* Changing the case sets the status back to ``draft``: an earlier interpretation no longer
  describes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from imatinib_tdm.case import Case, parse_case
from imatinib_tdm.errors import CaseError, ConflictError, ImmutableRecordError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch, require_text
from imatinib_tdm.store._models import (
    LABEL_LENGTH,
    Episode,
    EpisodeRevision,
    EpisodeStatus,
    Patient,
    Report,
    User,
)
from imatinib_tdm.store._roles import can_edit
from imatinib_tdm.store._types import utc_now

__all__ = [
    "amend_episode",
    "case_to_json",
    "create_episode",
    "episode_case",
    "get_episode",
    "list_episode_revisions",
    "list_episodes",
    "update_episode",
]

REASON_LENGTH = 2000


def case_to_json(case: Case) -> dict[str, Any]:
    """The case-file JSON of ``case``, checked to read back as the same case.

    Raises
    ------
    CaseError
        ``case`` is not a :class:`~imatinib_tdm.case.Case`, or does not survive the round trip.
    """
    if not isinstance(case, Case):
        raise CaseError(f"case: expected a Case, got {type(case).__name__}", field="case")
    data = case.model_dump(mode="json")
    if parse_case(data, source="case") != case:  # pragma: no cover - a bug in the case model
        raise CaseError("case: does not read back unchanged from its JSON form", field="case")
    return data


def episode_case(episode: Episode) -> Case:
    """The episode's current case, validated.

    Raises
    ------
    CaseError
        The stored JSON is not a valid case (e.g. written by an incompatible version).
    """
    return parse_case(episode.case_json, source=f"episode {episode.id}")


def get_episode(session: Session, episode_id: int) -> Episode:
    """The episode with id ``episode_id``; raises ``NotFoundError``."""
    return fetch(session, Episode, episode_id, "episode")


def list_episodes(session: Session, patient_id: int) -> list[Episode]:
    """A patient's episodes, oldest first; raises ``NotFoundError`` for an unknown patient."""
    fetch(session, Patient, patient_id, "patient")
    query = (
        select(Episode)
        .where(Episode.patient_id == patient_id)
        .order_by(Episode.created_at, Episode.id)
    )
    return list(session.scalars(query))


def list_episode_revisions(session: Session, episode_id: int) -> list[EpisodeRevision]:
    """Every saved version of an episode's case, oldest first."""
    get_episode(session, episode_id)
    query = (
        select(EpisodeRevision)
        .where(EpisodeRevision.episode_id == episode_id)
        .order_by(EpisodeRevision.revision)
    )
    return list(session.scalars(query))


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as error:
        raise ConflictError(
            "the episode was changed by someone else in the meantime; reload it and apply your "
            "change again",
            field="revision",
        ) from error


def _keep_revision(
    session: Session, episode: Episode, *, actor: User, reason: str | None
) -> EpisodeRevision:
    revision = EpisodeRevision(
        episode_id=episode.id,
        revision=episode.revision,
        case_json=episode.case_json,
        reason=reason,
        saved_at=episode.updated_at,
        saved_by_id=actor.id,
    )
    session.add(revision)
    return revision


def create_episode(
    session: Session, patient_id: int, *, actor: User, case: Case, label: str
) -> Episode:
    """Start a TDM episode for a patient with its case file.

    Parameters
    ----------
    patient_id : int
        An existing, not archived patient.
    actor : User
        Clinician, pharmacologist or admin.
    case : Case
        Doses, samples, labs and co-medications.
    label : str
        Short title shown in lists (e.g. ``"Trough after dose increase"``), at most 200
        characters.

    Raises
    ------
    NotFoundError, ConflictError (archived patient), CaseError, PermissionDeniedError
    """
    check_actor(actor, allowed=can_edit(actor.role), action="create episodes")
    patient = fetch(session, Patient, patient_id, "patient")
    if patient.archived:
        raise ConflictError(
            "the patient is archived; restore the record before adding an episode",
            field="archived",
        )
    title = require_text(label, field="label", max_length=LABEL_LENGTH)
    data = case_to_json(case)
    now = utc_now()
    episode = Episode(
        patient_id=patient.id,
        label=title,
        case_json=data,
        status=EpisodeStatus.DRAFT,
        created_at=now,
        created_by_id=actor.id,
        updated_at=now,
        updated_by_id=actor.id,
    )
    session.add(episode)
    session.flush()
    _keep_revision(session, episode, actor=actor, reason=None)
    record_event(
        session,
        actor=actor,
        action=AuditAction.CREATE,
        entity_type="episode",
        entity_id=episode.id,
        patient_id=patient.id,
        detail={"revision": episode.revision},
    )
    return episode


def _issued_report_count(session: Session, episode_id: int) -> int:
    query = select(func.count()).select_from(Report).where(Report.episode_id == episode_id)
    return int(session.scalar(query) or 0)


def _check_revision(episode: Episode, expected_revision: int | None) -> None:
    if expected_revision is not None and expected_revision != episode.revision:
        raise ConflictError(
            f"revision: you edited revision {expected_revision}, but the episode is now at "
            f"revision {episode.revision} (changed by someone else); reload it and apply your "
            "change again",
            field="revision",
            expected_revision=expected_revision,
            current_revision=episode.revision,
        )


def _save_case(
    session: Session,
    episode: Episode,
    *,
    actor: User,
    data: dict[str, Any],
    label: str | None,
    reason: str | None,
    action: AuditAction,
) -> Episode:
    changed = []
    if data != episode.case_json:
        changed.append("case")
    if label is not None and label != episode.label:
        changed.append("label")
    if not changed:
        return episode
    episode.case_json = data
    if label is not None:
        episode.label = label
    if "case" in changed:
        episode.status = EpisodeStatus.DRAFT
    episode.updated_at = utc_now()
    episode.updated_by_id = actor.id
    _flush(session)
    _keep_revision(session, episode, actor=actor, reason=reason)
    record_event(
        session,
        actor=actor,
        action=action,
        entity_type="episode",
        entity_id=episode.id,
        patient_id=episode.patient_id,
        detail={"fields": changed, "revision": episode.revision},
    )
    return episode


def update_episode(
    session: Session,
    episode_id: int,
    *,
    actor: User,
    case: Case,
    expected_revision: int | None = None,
    label: str | None = None,
) -> Episode:
    """Replace the case of an episode that has no issued report.

    Parameters
    ----------
    case : Case
        The whole new case.
    expected_revision : int, optional
        The revision the user's edit started from; a different current revision means someone
        else saved in between.
    label : str, optional
        A new label.

    Raises
    ------
    ImmutableRecordError
        A report was issued for the episode: use :func:`amend_episode` with a reason, then
        issue a corrected report.
    ConflictError
        ``expected_revision`` is stale, or another transaction saved concurrently.
    """
    check_actor(actor, allowed=can_edit(actor.role), action="change episodes")
    episode = get_episode(session, episode_id)
    issued = _issued_report_count(session, episode.id)
    if issued:
        raise ImmutableRecordError(
            f"episode {episode.id} has an issued report, so its data can no longer be edited; "
            "amend it with a reason (a correction), then issue a corrected report version",
            entity="episode",
            entity_id=episode.id,
        )
    _check_revision(episode, expected_revision)
    title = (
        require_text(label, field="label", max_length=LABEL_LENGTH) if label is not None else None
    )
    return _save_case(
        session,
        episode,
        actor=actor,
        data=case_to_json(case),
        label=title,
        reason=None,
        action=AuditAction.UPDATE,
    )


def amend_episode(
    session: Session,
    episode_id: int,
    *,
    actor: User,
    case: Case,
    reason: str,
    expected_revision: int | None = None,
) -> Episode:
    """Correct the case of an episode, typically after a report was issued.

    The reason is kept with the saved revision. Issued reports are not touched: each keeps the
    case its interpretation was computed on. The status becomes ``draft`` until the amended case
    is interpreted and a corrected report issued (:func:`correct_report`).

    Raises
    ------
    CaseError
        ``reason`` is empty.
    ConflictError
        ``expected_revision`` is stale.
    """
    check_actor(actor, allowed=can_edit(actor.role), action="amend episodes")
    episode = get_episode(session, episode_id)
    why = require_text(reason, field="reason", max_length=REASON_LENGTH, multiline=True)
    _check_revision(episode, expected_revision)
    return _save_case(
        session,
        episode,
        actor=actor,
        data=case_to_json(case),
        label=None,
        reason=why,
        action=AuditAction.AMEND,
    )
