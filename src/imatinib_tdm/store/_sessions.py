"""Server-side login sessions: a random token in the cookie, its SHA-256 in ``user_sessions``.

A session is valid while its row exists, is not revoked, has not expired and belongs to an
active account; :func:`find_session` checks all four on every request. Ending a session on the
server (logout, a password change, a deactivation) therefore ends it for every copy of the
cookie, not only in the browser that logged out. The token itself is never stored: a copy of
the database does not give anyone a working cookie.

Lifetimes are absolute (from the login), not sliding: a session started at 08:00 with the
service's 8 h lifetime ends at 16:00 however busy it was. Rows are kept after they end
(``revoked_at``, ``revoked_reason``), like the audit log they sit beside.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._models import User, UserSession
from imatinib_tdm.store._types import utc_now

__all__ = [
    "SESSION_TOKEN_BYTES",
    "end_session",
    "find_session",
    "list_sessions",
    "revoke_user_sessions",
    "start_session",
    "token_digest",
]

SESSION_TOKEN_BYTES = 32
"""Random bytes in a session token (256 bits; ``secrets.token_urlsafe``)."""


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of a session token: what ``user_sessions.token_sha256`` holds.

    A plain hash suffices (no salt, no key): the token is 256 random bits, so the hash cannot
    be reversed by guessing.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    session: Session, *, user: User, lifetime: timedelta, now: datetime | None = None
) -> tuple[UserSession, str]:
    """Create a session for ``user``; returns the row and the token for the cookie.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        A write session.
    user : User
        The account that logged in.
    lifetime : timedelta
        How long the session is valid (absolute, from ``now``).
    now : datetime, optional
        Timezone-aware; default now.

    Returns
    -------
    (UserSession, str)
        The row (flushed, with its id) and the token: give it to the client, it is not kept.
    """
    if lifetime <= timedelta(0):
        raise ValueError(f"lifetime: must be positive, got {lifetime}")
    moment = utc_now() if now is None else now
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    row = UserSession(
        token_sha256=token_digest(token),
        user_id=user.id,
        created_at=moment,
        expires_at=moment + lifetime,
    )
    session.add(row)
    session.flush()
    return row, token


def find_session(
    session: Session, token: object, *, now: datetime | None = None
) -> tuple[UserSession, User] | None:
    """The valid session of ``token`` and its account, or ``None``.

    Valid: the row exists, is not revoked, has not expired at ``now``, and the account is
    active. Works in a read session (one indexed query).
    """
    if not isinstance(token, str) or not token:
        return None
    moment = utc_now() if now is None else now
    query = (
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.token_sha256 == token_digest(token),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > moment,
            User.is_active.is_(True),
        )
    )
    found = session.execute(query).first()
    if found is None:
        return None
    return found[0], found[1]


def end_session(
    session: Session,
    token: object,
    *,
    reason: str = AuditAction.LOGOUT.value,
    source_address: str | None = None,
    now: datetime | None = None,
) -> UserSession | None:
    """Revoke the session of ``token`` (logout); audited as ``logout``.

    Returns the revoked row, or ``None`` when the token matches no session that is still open
    (nothing is recorded then).
    """
    if not isinstance(token, str) or not token:
        return None
    moment = utc_now() if now is None else now
    row = session.scalar(
        select(UserSession).where(
            UserSession.token_sha256 == token_digest(token), UserSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    row.revoked_at = moment
    row.revoked_reason = reason
    actor = session.get(User, row.user_id)
    record_event(
        session,
        actor=actor,
        action=AuditAction.LOGOUT,
        entity_type="user",
        entity_id=row.user_id,
        detail={"session_id": row.id},
        at=moment,
        source_address=source_address,
    )
    return row


def revoke_user_sessions(
    session: Session,
    user_id: int,
    *,
    reason: str,
    keep_session_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Revoke every open session of an account (except ``keep_session_id``); how many.

    Called by the store itself when a password changes (``password_changed``) or an account is
    deactivated (``deactivated``); the caller's audit event records the count.
    """
    moment = utc_now() if now is None else now
    statement = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=moment, revoked_reason=reason)
    )
    if keep_session_id is not None:
        statement = statement.where(UserSession.id != keep_session_id)
    result = session.execute(statement.execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


def list_sessions(
    session: Session, user_id: int, *, now: datetime | None = None
) -> list[UserSession]:
    """The open sessions of an account (not revoked, not expired), newest first."""
    moment = utc_now() if now is None else now
    query = (
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > moment,
        )
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())
    )
    return list(session.scalars(query))
