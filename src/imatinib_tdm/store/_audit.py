"""The audit log: who viewed or changed what, and when.

Every write function of the store records its own event in the same transaction, so a change
without its audit entry cannot be committed. Views are recorded by the caller (the service knows
what a user looked at) with :func:`record_event`. ``detail`` holds only ids, counts, field
*names* and reasons codes: never a patient identifier or a clinical value. :func:`record_event`
refuses keys that name such data, as a guard against accidents.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imatinib_tdm.store._models import ACTION_LENGTH, USERNAME_LENGTH, AuditEvent, User
from imatinib_tdm.store._types import utc_now

__all__ = ["FORBIDDEN_DETAIL_KEYS", "AuditAction", "list_events", "record_event"]


class AuditAction(enum.StrEnum):
    """The actions the store and the service record (any lowercase word is accepted)."""

    VIEW = "view"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    AMEND = "amend"
    ARCHIVE = "archive"
    RESTORE = "restore"
    INTERPRET = "interpret"
    ISSUE = "issue"
    CORRECT = "correct"
    DOWNLOAD = "download"
    EXPORT = "export"
    IMPORT = "import"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    """A failed login reached the limit: further attempts for that username are refused."""
    LOGIN_REFUSED = "login_refused"
    """A login refused during a lockout, without checking the password."""
    LOGOUT = "logout"
    SET_ROLE = "set_role"
    SET_PASSWORD = "set_password"
    DEACTIVATE = "deactivate"
    SEED_DEMO = "seed_demo"


FORBIDDEN_DETAIL_KEYS = frozenset(
    {
        "mrn",
        "name",
        "family_name",
        "given_name",
        "first_name",
        "last_name",
        "full_name",
        "birth_date",
        "date_of_birth",
        "dob",
        "case",
        "case_json",
        "patient",
        "html",
        "pdf",
        "password",
        "concentration",
        "dose_mg",
        "amount_mg",
        "search",
        "query",
    }
)
"""Keys refused anywhere in an audit ``detail`` (they would carry patient data or secrets)."""

_ACTION = re.compile(rf"[a-z][a-z_]{{0,{ACTION_LENGTH - 1}}}")


def _check_detail(detail: Any, path: str = "detail") -> None:
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be text, got {key!r}")
            if key.lower() in FORBIDDEN_DETAIL_KEYS:
                raise ValueError(
                    f"{path}.{key}: audit details must not hold patient identifiers, clinical "
                    "values or secrets; record ids, counts or field names instead"
                )
            _check_detail(value, f"{path}.{key}")
    elif isinstance(detail, list | tuple):
        for index, value in enumerate(detail):
            _check_detail(value, f"{path}[{index}]")
    elif not (detail is None or isinstance(detail, str | int | float | bool)):
        raise ValueError(f"{path}: must be JSON data, got {type(detail).__name__}")


def record_event(
    session: Session,
    *,
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    patient_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    username: str | None = None,
    at: datetime | None = None,
    source_address: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session's transaction.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        A write session (``Database.transaction``); the event commits or rolls back with it.
    actor : User or None
        Who acted; ``None`` for the system (CLI) or an anonymous attempt.
    action : str
        A lowercase word, see :class:`AuditAction` (e.g. ``"view"``).
    entity_type : str
        ``"patient"``, ``"episode"``, ``"report"``, ``"user"`` ...
    entity_id : int or None
        Id of the record acted on.
    patient_id : int, optional
        The patient concerned, so that a patient's whole trail can be listed.
    detail : mapping, optional
        Ids, counts, field names, reason codes; JSON data only, no patient data.
    username : str, optional
        Name typed at a failed login (when ``actor`` is ``None``); truncated to 64 characters.
    at : datetime, optional
        When it happened (timezone-aware); default now. The login throttle passes the time it
        judged the attempt at, so that the events it writes and the rule it applies agree.
    source_address : str, optional
        The client address of the request (IPv4/IPv6 text, at most 64 characters), used by the
        login throttle per address.

    Raises
    ------
    ValueError
        An invalid action, or a ``detail`` that holds a forbidden key or non-JSON data.
    """
    if not _ACTION.fullmatch(action):
        raise ValueError(
            f"action: {action!r} is not a lowercase word of at most {ACTION_LENGTH} characters"
        )
    if not _ACTION.fullmatch(entity_type):
        raise ValueError(f"entity_type: {entity_type!r} is not a lowercase word")
    if detail is not None:
        _check_detail(detail)
        json.dumps(detail, allow_nan=False)  # fails early on NaN, which JSONB refuses
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise ValueError(f"at: must be timezone-aware, got naive {at.isoformat()}")
    event = AuditEvent(
        at=utc_now() if at is None else at,
        user_id=actor.id if actor is not None else None,
        username=(actor.username if actor is not None else username or None),
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        patient_id=patient_id,
        detail=dict(detail) if detail is not None else None,
        source_address=None if source_address is None else source_address[:64],
    )
    if event.username is not None:
        event.username = event.username[:USERNAME_LENGTH]
    session.add(event)
    return event


def list_events(
    session: Session,
    *,
    patient_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    """Audit events, newest first, optionally for one patient, one user or one action.

    Parameters
    ----------
    limit : int, default=100
        At most this many events (1 to 1000).
    offset : int, default=0
        Skip this many (for paging).
    """
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit: must be between 1 and 1000, got {limit}")
    if offset < 0:
        raise ValueError(f"offset: must not be negative, got {offset}")
    session.flush()  # events added in this transaction are part of the answer
    query = select(AuditEvent)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))
