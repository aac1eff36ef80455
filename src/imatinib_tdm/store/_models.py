"""The tables, as SQLAlchemy 2 typed ORM classes.

Patients own TDM episodes; an episode holds the current case file (``case_json``, the
case-file JSON of :class:`imatinib_tdm.case.Case`) and keeps every saved version in
``episode_revisions``; interpretations and reports hang off the episode. Users and the audit log
stand apart. Four tables are append-only (:class:`AppendOnly`): episode revisions,
interpretations, reports and audit events; see :mod:`imatinib_tdm.store._guards`.

Every time is timezone-aware UTC. Nothing is ever deleted: patients are archived, users
deactivated. The migration ``migrations/versions/v0001_initial.py`` creates exactly these tables
(a test compares them).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from imatinib_tdm.case import Indication, Sex
from imatinib_tdm.store._roles import Role
from imatinib_tdm.store._types import JSON_DOCUMENT, EnumText, UtcDateTime

__all__ = [
    "AppendOnly",
    "AuditEvent",
    "Base",
    "Episode",
    "EpisodeRevision",
    "EpisodeStatus",
    "Patient",
    "Report",
    "StoredInterpretation",
    "User",
    "UserSession",
]

# Deterministic constraint names, so that migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USERNAME_LENGTH = 64
NAME_LENGTH = 200
MRN_LENGTH = 64
MRN_KEY_LENGTH = 256
"""``Patient.mrn_key``: case folding can lengthen text (``"ß"`` gives ``"ss"``), and the
migration marks pre-existing look-alikes with a suffix."""
LABEL_LENGTH = 200
MODEL_ID_LENGTH = 64
ACTION_LENGTH = 40


class EpisodeStatus(enum.StrEnum):
    """Where a TDM episode stands."""

    DRAFT = "draft"
    """Data entered or changed since the last interpretation."""
    INTERPRETED = "interpreted"
    """The latest interpretation was computed on the current case."""
    REPORTED = "reported"
    """A report was issued (and possibly corrected) for the current case."""


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    quoted = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base of every table of the store."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AppendOnly:
    """Marker: rows of this table are written once and never updated or deleted."""


class User(Base):
    """An account. Usernames are lowercase; passwords are stored only as argon2id hashes."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True)
    full_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    def __repr__(self) -> str:
        return f"User(id={self.id}, username={self.username!r}, role={self.role.value!r})"


class UserSession(Base):
    """A login: the cookie carries a random token, only its SHA-256 is stored here.

    A request is accepted only while its session row exists, is not revoked and has not expired,
    so logout, a password change and a deactivation end sessions on the server, not only in the
    browser. Rows are kept after revocation (``revoked_at``, ``revoked_reason``).
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(ACTION_LENGTH))

    def __repr__(self) -> str:
        return f"UserSession(id={self.id}, user_id={self.user_id})"


class Patient(Base):
    """A patient: hospital identifier (MRN) and demographics. Archived, never deleted.

    ``search_text`` is a derived column (MRN and names, case- and accent-folded) that makes
    search behave the same on SQLite and PostgreSQL. ``mrn_key`` is the MRN as compared for
    uniqueness (NFKC, case-folded, without invisible characters), so that ``demo-001`` cannot
    be created beside ``DEMO-001``.
    """

    __tablename__ = "patients"
    __table_args__ = (
        CheckConstraint(_one_of("sex", Sex), name="sex"),
        CheckConstraint(_one_of("indication", Indication), name="indication"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mrn: Mapped[str] = mapped_column(String(MRN_LENGTH), unique=True)
    mrn_key: Mapped[str] = mapped_column(String(MRN_KEY_LENGTH), unique=True, index=True)
    family_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    given_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(EnumText(Sex, length=10))
    indication: Mapped[Indication] = mapped_column(EnumText(Indication, length=10))
    search_text: Mapped[str] = mapped_column(Text)
    archived: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    def __repr__(self) -> str:  # no identifiers: reprs end up in logs and tracebacks
        return f"Patient(id={self.id})"


class Episode(Base):
    """A TDM episode of a patient: the case file (doses, samples, labs, co-medications) and its
    status. ``revision`` counts saved changes and guards against lost updates (a write carries
    the revision it started from; see :func:`imatinib_tdm.store.update_episode`).
    """

    __tablename__ = "episodes"
    __table_args__ = (CheckConstraint(_one_of("status", EpisodeStatus), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    case_json: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    status: Mapped[EpisodeStatus] = mapped_column(EnumText(EpisodeStatus, length=12))
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    # SQLAlchemy adds "WHERE revision = <read value>" to every UPDATE and increments it, so two
    # concurrent writers cannot both succeed.
    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012

    def __repr__(self) -> str:
        return f"Episode(id={self.id}, patient_id={self.patient_id}, revision={self.revision})"


class EpisodeRevision(AppendOnly, Base):
    """One saved version of an episode's case file (written on every create, update, amend)."""

    __tablename__ = "episode_revisions"
    __table_args__ = (UniqueConstraint("episode_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    case_json: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    reason: Mapped[str | None] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime())
    saved_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class StoredInterpretation(AppendOnly, Base):
    """An interpretation of an episode (``Interpretation.to_dict()``) with the exact case it was
    computed on (``case_json``), so that a report stays reproducible after later amendments."""

    __tablename__ = "interpretations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    episode_revision: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    case_json: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    result_json: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    software_version: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Report(AppendOnly, Base):
    """An issued report. Immutable: a correction is a new row with ``version + 1`` whose
    ``supersedes_id`` points to the version it replaces.

    ``validator_id`` is the issuing user (empty for reports imported from another installation);
    ``validator_name`` is the name printed on the report. ``imported_from`` is set on imported
    reports only: where, when and by whom the report was imported, and who validated it there;
    such a report was not validated here (:attr:`validation_text` says so).
    """

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("episode_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    interpretation_id: Mapped[int] = mapped_column(ForeignKey("interpretations.id"))
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), unique=True)
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    validator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    validator_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    correction_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    imported_from: Mapped[str | None] = mapped_column(Text)
    """Provenance of an imported report (``None`` for a report issued by this service)."""

    @property
    def is_imported(self) -> bool:
        """Whether the report came in through a patient import (not validated here)."""
        return self.imported_from is not None

    @property
    def validation_text(self) -> str:
        """Who validated the report, as pages show it: the validator's name for a report issued
        here; for an imported one, that it was not validated here."""
        if self.imported_from is None:
            return self.validator_name
        return f"Imported, not validated here (validated elsewhere by {self.validator_name})"

    def __repr__(self) -> str:
        return f"Report(id={self.id}, episode_id={self.episode_id}, version={self.version})"


class AuditEvent(AppendOnly, Base):
    """Who did what, when, to which record. ``detail`` never holds patient identifiers or values.

    ``patient_id`` is a plain integer (no foreign key): the log must accept an event about a
    record that does not exist, such as a refused view of a wrong id. ``chain_hash`` links each
    row to the previous one, so that an edit or deletion is detectable
    (:func:`imatinib_tdm.store.verify_audit`); rows are written only by
    :func:`imatinib_tdm.store.record_event`.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_patient_id_at", "patient_id", "at"),
        Index("ix_audit_events_user_id_at", "user_id", "at"),
        Index("ix_audit_events_source_address_at", "source_address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(USERNAME_LENGTH))
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    entity_type: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    patient_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON_DOCUMENT)
    source_address: Mapped[str | None] = mapped_column(String(64))
    """The client address of the request that caused the event (login throttling per address)."""
    chain_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 chaining this row to the previous one (see :mod:`imatinib_tdm.store._audit`)."""

    def __repr__(self) -> str:
        return (
            f"AuditEvent(id={self.id}, action={self.action!r}, "
            f"entity={self.entity_type}:{self.entity_id})"
        )
