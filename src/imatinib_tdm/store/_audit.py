"""The audit log: who viewed or changed what, and when.

Every write function of the store records its own event in the same transaction, so a change
without its audit entry cannot be committed. Views are recorded by the caller (the service knows
what a user looked at) with :func:`record_event`. ``detail`` holds only ids, counts, field
*names* and reasons codes: never a patient identifier or a clinical value. :func:`record_event`
refuses keys that name such data, as a guard against accidents.

The log is a hash chain, so that an edit of any copy of it is detectable: each row stores
``chain_hash = SHA-256(previous row's chain_hash + canonical JSON of its own fields)`` (the
first row chains to :data:`GENESIS_HASH`). :func:`record_event` computes it inside the writing
transaction while holding the log's write lock (SQLite's database write lock; on PostgreSQL a
transaction-level advisory lock), and assigns the row id under the same lock, so that ids follow
chain order and concurrent writers cannot fork the chain. :func:`verify_audit` walks the chain.
A chain without a secret detects edits, insertions and deletions made by someone who does not
rewrite every later hash, and a truncation of the end only against an *anchor* (a head id and
hash recorded elsewhere, see ``docs/storage.md``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from imatinib_tdm.store._models import ACTION_LENGTH, USERNAME_LENGTH, AuditEvent, User
from imatinib_tdm.store._types import utc_now

__all__ = [
    "AUDIT_CHAIN_FIELDS",
    "FORBIDDEN_DETAIL_KEYS",
    "GENESIS_HASH",
    "AuditAction",
    "AuditVerification",
    "audit_head",
    "chain_hash",
    "list_events",
    "record_event",
    "verify_audit",
]


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
    LOGIN_ATTEMPT = "login_attempt"
    """A login began (written before the password is checked, so parallel attempts count)."""
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    """A failed login reached the limit: further attempts for that username are refused."""
    LOGIN_REFUSED = "login_refused"
    """A login refused during a lockout, without checking the password."""
    LOGOUT = "logout"
    SET_ROLE = "set_role"
    SET_PASSWORD = "set_password"
    SET_PASSWORD_FAILED = "set_password_failed"
    """A password change refused because the current password was wrong."""
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

GENESIS_HASH = "0" * 64
"""The ``chain_hash`` the first row of the log chains to."""

AUDIT_CHAIN_FIELDS = (
    "id",
    "at",
    "user_id",
    "username",
    "action",
    "entity_type",
    "entity_id",
    "patient_id",
    "detail",
    "source_address",
)
"""The columns of an audit row covered by its ``chain_hash``."""

# Arbitrary constant naming "imatinib-tdm audit chain" among PostgreSQL advisory locks (the
# migration lock uses another one).
_AUDIT_LOCK_KEY = 0x1A7_7D4


def _canonical_value(value: Any) -> Any:
    """``value`` as it reads back from either database: JSONB gives integral floats back as
    integers (``1e300`` is stored as a numeric), so they are hashed as integers everywhere."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(key): _canonical_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(item) for item in value]
    raise TypeError(f"not JSON data: {type(value).__name__}")


def chain_hash(previous: str, fields: Mapping[str, Any]) -> str:
    """The ``chain_hash`` of an audit row: SHA-256 of ``previous`` followed by the canonical JSON
    (sorted keys, no spaces, ASCII) of the row's :data:`AUDIT_CHAIN_FIELDS`.

    Parameters
    ----------
    previous : str
        The previous row's ``chain_hash`` (:data:`GENESIS_HASH` for the first row).
    fields : mapping
        At least the :data:`AUDIT_CHAIN_FIELDS`; ``at`` a timezone-aware datetime.
    """
    at = fields["at"]
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise ValueError("at: must be a timezone-aware datetime")
    document = {name: _canonical_value(fields[name]) for name in AUDIT_CHAIN_FIELDS if name != "at"}
    document["at"] = at.astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((previous + canonical).encode("ascii")).hexdigest()


def _event_fields(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in AUDIT_CHAIN_FIELDS}


_PG_HEAD_AND_NEXT_ID = text(
    "SELECT last.id, last.chain_hash, "
    "nextval(pg_get_serial_sequence('audit_events', 'id')) AS next_id "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL "
    "(SELECT id, chain_hash FROM audit_events ORDER BY id DESC LIMIT 1) AS last ON true"
)


def _chain_position(session: Session) -> tuple[int, str]:
    """Take the audit log's write lock for the rest of the transaction; the new row's id and the
    previous row's hash (:data:`GENESIS_HASH` for an empty log)."""
    if session.get_bind().dialect.name == "postgresql":
        # Held until commit or rollback. It must be its own statement: under READ COMMITTED
        # (the default) the next statement takes a new snapshot, which sees the last row that
        # the previous holder committed.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
        # The id is drawn under the lock too, so ids grow in chain order; a rolled-back id
        # leaves a gap, which the chain does not mind (it links rows, not numbers).
        row = session.execute(_PG_HEAD_AND_NEXT_ID).one()
        if row.id is None:
            return int(row.next_id), GENESIS_HASH
        return max(int(row.next_id), int(row.id) + 1), str(row.chain_hash)
    # SQLite: a write transaction (BEGIN IMMEDIATE, see Database.transaction) holds the
    # database's only write lock already.
    last = session.execute(
        select(AuditEvent.id, AuditEvent.chain_hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if last is None:
        return 1, GENESIS_HASH
    return int(last.id) + 1, str(last.chain_hash)


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
    event.id, previous = _chain_position(session)
    event.chain_hash = chain_hash(previous, _event_fields(event))
    session.add(event)
    session.flush()  # the next event of this transaction chains to this one
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


@dataclass(frozen=True)
class AuditVerification:
    """What :func:`verify_audit` found.

    Attributes
    ----------
    ok : bool
        Every row's hash follows from its fields and the previous row (and the anchor matched).
    rows_checked : int
        Rows read, up to and including the first broken one.
    first_bad_id : int or None
        The first row whose hash does not match (``None`` when ``ok``, or when only the anchor
        failed because the anchored row is missing).
    reason : str or None
        Why the check failed (no patient data).
    head_id, head_hash : int or None, str or None
        The last row and its hash: record them elsewhere (an *anchor*) to detect later
        truncation or a rewrite of the whole chain.
    """

    ok: bool
    rows_checked: int
    first_bad_id: int | None
    reason: str | None
    head_id: int | None
    head_hash: str | None


def _chain_rows(session: Session) -> Iterable[Any]:
    columns = [getattr(AuditEvent, name) for name in AUDIT_CHAIN_FIELDS]
    query = select(*columns, AuditEvent.chain_hash).order_by(AuditEvent.id)
    return session.execute(query.execution_options(yield_per=2000))


def audit_head(session: Session) -> tuple[int, str] | None:
    """The last audit row's id and ``chain_hash`` (``None`` for an empty log), to record as an
    anchor."""
    last = session.execute(
        select(AuditEvent.id, AuditEvent.chain_hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return None if last is None else (int(last.id), str(last.chain_hash))


def verify_audit(session: Session, *, anchor: tuple[int, str] | None = None) -> AuditVerification:
    """Walk the audit chain from the first row and report the first row that does not follow.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Any session (a read session is enough).
    anchor : (int, str), optional
        A head recorded earlier (:attr:`AuditVerification.head_id` and ``head_hash``): that row
        must still exist with that hash. Without it, removing the newest rows cannot be
        detected (what is left is a valid, shorter chain).

    Returns
    -------
    AuditVerification
    """
    previous = GENESIS_HASH
    previous_id: int | None = None
    checked = 0
    anchor_seen = False
    for row in _chain_rows(session):
        checked += 1
        fields = row._mapping
        expected = chain_hash(previous, fields)
        if fields["chain_hash"] != expected:
            gap = (
                f"; ids jump from {previous_id} to {row.id}, a row may have been deleted"
                if previous_id is not None and row.id != previous_id + 1
                else ""
            )
            why = (
                "the row has no chain hash (written outside the store)"
                if not fields["chain_hash"]
                else "the chain hash does not match: this row was changed, or a row before it "
                f"was deleted or changed{gap}"
            )
            return AuditVerification(False, checked, row.id, why, previous_id, previous)
        if anchor is not None and row.id == anchor[0]:
            anchor_seen = True
            if fields["chain_hash"] != anchor[1]:
                return AuditVerification(
                    False,
                    checked,
                    row.id,
                    "the anchored row's hash differs from the recorded anchor: the log was "
                    "rewritten",
                    row.id,
                    fields["chain_hash"],
                )
        previous, previous_id = fields["chain_hash"], row.id
    if anchor is not None and not anchor_seen:
        return AuditVerification(
            False,
            checked,
            None,
            f"the anchored row {anchor[0]} is missing: the log was truncated or rewritten",
            previous_id,
            None if previous_id is None else previous,
        )
    return AuditVerification(
        True, checked, None, None, previous_id, None if previous_id is None else previous
    )
