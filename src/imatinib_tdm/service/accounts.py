"""Account changes shared by the JSON API and the account pages: one's own password, and what
an admin does.

A new password is checked and hashed (argon2id, ~0.25-0.8 s) before the write transaction that
stores it, so the database's write lock is never held during the hash.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from imatinib_tdm.service.security import (
    SessionUser,
    acting_user,
    client_address,
    get_database,
    log_in,
    session_lifetime,
)
from imatinib_tdm.store import (
    Database,
    change_own_password,
    create_user,
    get_user,
    prepare_password,
    set_password,
    start_session,
)

__all__ = ["change_password_and_rotate", "create_account", "reset_password"]


def change_password_and_rotate(
    request: Request, user: SessionUser, current_password: str, new_password: str
) -> str:
    """A user's change of their own password: ``store.change_own_password`` (which revokes every
    session of the account), then a new session for this client. Returns its CSRF token.

    Raises what ``change_own_password`` raises (``CaseError`` naming ``current_password`` or
    ``new_password``: 422).
    """
    database = get_database(request)
    change_own_password(
        database,
        user.id,
        current_password,
        new_password,
        source_address=client_address(request),
    )
    with database.transaction() as session:
        _, token = start_session(
            session, user=get_user(session, user.id), lifetime=session_lifetime(request)
        )
    return log_in(request, token)


def create_account(
    database: Database,
    admin: SessionUser,
    *,
    username: str,
    full_name: str,
    role: str,
    password: str,
) -> Any:
    """Create an account (admins only); the stored ``User``.

    Raises what :func:`imatinib_tdm.store.create_user` and the password policy raise.
    """
    prepared = prepare_password(password, username=username)
    with database.transaction() as session:
        return create_user(
            session,
            username=username,
            password=prepared,
            role=role,
            full_name=full_name,
            actor=acting_user(session, admin),
        )


def reset_password(database: Database, admin: SessionUser, user_id: int, password: str) -> None:
    """Set a new password for account ``user_id`` (admins only); all its sessions end."""
    with database.read() as session:
        username = get_user(session, user_id).username
    prepared = prepare_password(password, username=username)
    with database.transaction() as session:
        set_password(session, user_id, prepared, actor=acting_user(session, admin))
