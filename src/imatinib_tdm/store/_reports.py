"""Reports: issued once, never changed; a correction is a new version.

:func:`issue_report` stores version 1 of an episode's report; :func:`correct_report` stores
version n + 1 with ``supersedes_id`` pointing to version n and the reason for the correction.
Only the latest version can be corrected, so versions form one chain. Rows are append-only
(:mod:`imatinib_tdm.store._guards` and database triggers).

A report must be built from an interpretation of the episode's *current* case: an
interpretation computed before the case was last changed is refused.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imatinib_tdm.errors import CaseError, ConflictError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch, require_text
from imatinib_tdm.store._episodes import REASON_LENGTH, get_episode
from imatinib_tdm.store._identifiers import clean_identifier
from imatinib_tdm.store._interpretations import get_interpretation
from imatinib_tdm.store._models import (
    NAME_LENGTH,
    Episode,
    EpisodeStatus,
    Report,
    StoredInterpretation,
    User,
)
from imatinib_tdm.store._roles import can_issue_reports
from imatinib_tdm.store._types import utc_now

__all__ = ["correct_report", "get_report", "issue_report", "latest_report", "list_reports"]

PDF_MAGIC = b"%PDF-"


def _check_interpretation(
    session: Session, episode: Episode, interpretation_id: int
) -> StoredInterpretation:
    interpretation = get_interpretation(session, interpretation_id)
    if interpretation.episode_id != episode.id:
        raise ConflictError(
            f"interpretation_id: interpretation {interpretation.id} belongs to episode "
            f"{interpretation.episode_id}, not to episode {episode.id}",
            field="interpretation_id",
        )
    if interpretation.case_json != episode.case_json:
        raise ConflictError(
            f"interpretation_id: interpretation {interpretation.id} was computed on revision "
            f"{interpretation.episode_revision}, before the case was last changed; interpret "
            "the current case again",
            field="interpretation_id",
        )
    return interpretation


def _check_documents(html: str, pdf: bytes) -> None:
    if not isinstance(html, str) or not html.strip():
        raise CaseError("html: the report's HTML must not be empty", field="html")
    if not isinstance(pdf, bytes | bytearray) or not bytes(pdf).startswith(PDF_MAGIC):
        raise CaseError("pdf: not a PDF document (it must start with %PDF-)", field="pdf")


def _store(session: Session, report: Report) -> Report:
    session.add(report)
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent issue or correction of the same episode
        raise ConflictError(
            "someone else issued or corrected this report in the meantime; reload the episode",
            field="version",
        ) from error
    return report


def _new_report(
    *,
    episode: Episode,
    interpretation: StoredInterpretation,
    actor: User,
    version: int,
    supersedes_id: int | None,
    html: str,
    pdf: bytes,
    validator_name: str,
    reason: str | None,
) -> Report:
    now = utc_now()
    document = bytes(pdf)
    return Report(
        episode_id=episode.id,
        interpretation_id=interpretation.id,
        version=version,
        supersedes_id=supersedes_id,
        html=html,
        pdf=document,
        pdf_sha256=hashlib.sha256(document).hexdigest(),
        validator_id=actor.id,
        # a name printed as the validator must not hide a bidi override or invisible text
        validator_name=clean_identifier(
            validator_name, field="validator_name", max_length=NAME_LENGTH
        ),
        issued_at=now,
        correction_reason=reason,
        created_at=now,
        created_by_id=actor.id,
    )


def issue_report(
    session: Session,
    episode_id: int,
    *,
    actor: User,
    interpretation_id: int,
    html: str,
    pdf: bytes,
    validator_name: str,
) -> Report:
    """Issue version 1 of an episode's report.

    Parameters
    ----------
    actor : User
        The validating pharmacologist (or an admin); becomes ``validator_id``.
    interpretation_id : int
        An interpretation of the episode's current case.
    html : str
        The report as shown on screen.
    pdf : bytes
        The report as printed (starts with ``%PDF-``); its SHA-256 is stored with it.
    validator_name : str
        Name printed on the report (e.g. ``"Dr. A. Muster, clinical pharmacologist"``).

    Raises
    ------
    PermissionDeniedError
        ``actor`` is not a pharmacologist or admin.
    ConflictError
        The episode already has a report (correct it instead), or the interpretation is stale
        or belongs to another episode.
    CaseError
        Empty HTML, not a PDF, empty validator name.
    """
    check_actor(actor, allowed=can_issue_reports(actor.role), action="issue reports")
    episode = get_episode(session, episode_id)
    existing = latest_report(session, episode.id)
    if existing is not None:
        raise ConflictError(
            f"episode {episode.id} already has report version {existing.version}; to change it, "
            "issue a correction",
            field="version",
        )
    return _file_report(
        session,
        episode,
        actor=actor,
        interpretation_id=interpretation_id,
        html=html,
        pdf=pdf,
        validator_name=validator_name,
        previous=None,
        reason=None,
    )


def _file_report(
    session: Session,
    episode: Episode,
    *,
    actor: User,
    interpretation_id: int,
    html: str,
    pdf: bytes,
    validator_name: str,
    previous: Report | None,
    reason: str | None,
) -> Report:
    """Store a new report version (1, or the one after ``previous``) and audit it."""
    interpretation = _check_interpretation(session, episode, interpretation_id)
    _check_documents(html, pdf)
    report = _new_report(
        episode=episode,
        interpretation=interpretation,
        actor=actor,
        version=1 if previous is None else previous.version + 1,
        supersedes_id=None if previous is None else previous.id,
        html=html,
        pdf=pdf,
        validator_name=validator_name,
        reason=reason,
    )
    _store(session, report)
    episode.status = EpisodeStatus.REPORTED
    detail: dict[str, int] = {
        "episode_id": episode.id,
        "version": report.version,
        "interpretation_id": interpretation.id,
    }
    if previous is not None:
        detail["supersedes_id"] = previous.id
    record_event(
        session,
        actor=actor,
        action=AuditAction.ISSUE if previous is None else AuditAction.CORRECT,
        entity_type="report",
        entity_id=report.id,
        patient_id=episode.patient_id,
        detail=detail,
    )
    return report


def correct_report(
    session: Session,
    report_id: int,
    *,
    actor: User,
    interpretation_id: int,
    html: str,
    pdf: bytes,
    validator_name: str,
    reason: str,
) -> Report:
    """Issue a corrected version of a report; the corrected version stays unchanged.

    Parameters
    ----------
    report_id : int
        The latest version of the report.
    reason : str
        Why the report is corrected (shown on the new version), at most 2000 characters.
    Other parameters as :func:`issue_report`.

    Returns
    -------
    Report
        ``version`` one more than the corrected report's, ``supersedes_id`` = ``report_id``.

    Raises
    ------
    ConflictError
        ``report_id`` is not the latest version (it was corrected already).
    """
    check_actor(actor, allowed=can_issue_reports(actor.role), action="correct reports")
    previous = get_report(session, report_id)
    episode = get_episode(session, previous.episode_id)
    latest = latest_report(session, episode.id)
    if latest is not None and latest.id != previous.id:
        raise ConflictError(
            f"report version {previous.version} was already corrected by version "
            f"{latest.version}; correct the latest version",
            field="report_id",
        )
    why = require_text(reason, field="reason", max_length=REASON_LENGTH, multiline=True)
    return _file_report(
        session,
        episode,
        actor=actor,
        interpretation_id=interpretation_id,
        html=html,
        pdf=pdf,
        validator_name=validator_name,
        previous=previous,
        reason=why,
    )


def get_report(session: Session, report_id: int) -> Report:
    """The report with id ``report_id``; raises ``NotFoundError``."""
    return fetch(session, Report, report_id, "report")


def list_reports(session: Session, episode_id: int) -> list[Report]:
    """Every version of an episode's report, oldest first."""
    get_episode(session, episode_id)
    query = select(Report).where(Report.episode_id == episode_id).order_by(Report.version)
    return list(session.scalars(query))


def latest_report(session: Session, episode_id: int) -> Report | None:
    """The current (highest) version of an episode's report, or ``None``."""
    query = (
        select(Report)
        .where(Report.episode_id == episode_id)
        .order_by(Report.version.desc())
        .limit(1)
    )
    return session.scalar(query)
