"""User accounts: creation with the password policy, login, roles, deactivation.

Usernames are stored lowercase (``Anna.Muster`` and ``anna.muster`` are one account). Accounts
are never deleted, only deactivated, so the audit log keeps pointing at them. The last active
admin cannot be demoted or deactivated: someone must always be able to manage accounts. The
first admin is created by :func:`create_first_admin` (the ``imatinib-tdm`` CLI calls it); there
is no default account and no default password.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imatinib_tdm.errors import CaseError, ConflictError, PermissionDeniedError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch, require_text
from imatinib_tdm.store._models import NAME_LENGTH, USERNAME_LENGTH, User
from imatinib_tdm.store._passwords import (
    check_password_policy,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from imatinib_tdm.store._roles import Role, can_administer, parse_role
from imatinib_tdm.store._types import utc_now

__all__ = [
    "authenticate",
    "create_first_admin",
    "create_user",
    "deactivate_user",
    "get_user",
    "get_user_by_username",
    "list_users",
    "normalise_username",
    "reactivate_user",
    "set_password",
    "set_role",
]

_USERNAME = re.compile(rf"[a-z0-9][a-z0-9._@-]{{0,{USERNAME_LENGTH - 1}}}")


def normalise_username(username: str) -> str:
    """``username`` stripped and lowercased; letters, digits and ``. _ @ -``, 1 to 64 characters.

    Raises
    ------
    CaseError
        Naming the field ``username``.
    """
    if not isinstance(username, str):
        raise CaseError("username: must be text", field="username")
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise CaseError(
            f"username: {username!r} is not allowed; use 1 to {USERNAME_LENGTH} letters (a-z), "
            "digits and . _ @ -, starting with a letter or digit",
            field="username",
        )
    return name


def _role(value: Role | str) -> Role:
    try:
        return parse_role(value)
    except ValueError as error:
        raise CaseError(str(error), field="role") from None


def _active_admin_count(session: Session) -> int:
    query = select(func.count()).where(User.role == Role.ADMIN, User.is_active.is_(True))
    return int(session.scalar(query) or 0)


def _check_admin(actor: User | None, action: str) -> None:
    if actor is not None:  # None is the system: the CLI, run by whoever operates the server
        check_actor(actor, allowed=can_administer(actor.role), action=action)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    full_name: str,
    actor: User | None,
) -> User:
    """Create an account.

    Parameters
    ----------
    username : str
        Stored lowercase; see :func:`normalise_username`.
    password : str
        At least 12 characters; stored only as an argon2id hash.
    role : Role or str
        ``viewer``, ``clinician``, ``pharmacologist`` or ``admin``.
    full_name : str
        As printed on reports the user validates.
    actor : User or None
        An admin, or ``None`` for the system (CLI).

    Raises
    ------
    CaseError
        A field breaks its rule (``field`` names it: username, password, role, full_name).
    ConflictError
        The username is taken.
    PermissionDeniedError
        ``actor`` is not an active admin.
    """
    _check_admin(actor, "create user accounts")
    name = normalise_username(username)
    check_password_policy(password)
    chosen_role = _role(role)
    display_name = require_text(full_name, field="full_name", max_length=NAME_LENGTH)
    if get_user_by_username(session, name) is not None:
        raise ConflictError(f"username: {name!r} is already taken", field="username")
    now = utc_now()
    user = User(
        username=name,
        full_name=display_name,
        role=chosen_role,
        password_hash=hash_password(password),
        is_active=True,
        created_at=now,
        created_by_id=actor.id if actor is not None else None,
        updated_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        actor=actor,
        action=AuditAction.CREATE,
        entity_type="user",
        entity_id=user.id,
        detail={"role": chosen_role.value},
    )
    return user


def create_first_admin(session: Session, *, username: str, password: str, full_name: str) -> User:
    """Create the first admin account (what ``imatinib-tdm`` calls on a new installation).

    Raises
    ------
    ConflictError
        An admin account exists already (active or not): further accounts are created by an
        admin.
    CaseError
        As :func:`create_user`.
    """
    existing = session.scalar(select(func.count()).where(User.role == Role.ADMIN))
    if existing:
        raise ConflictError(
            "an admin account exists already; sign in as an admin to create further accounts",
            field="username",
        )
    return create_user(
        session,
        username=username,
        password=password,
        role=Role.ADMIN,
        full_name=full_name,
        actor=None,
    )


def get_user(session: Session, user_id: int) -> User:
    """The account with id ``user_id``; raises ``NotFoundError``."""
    return fetch(session, User, user_id, "user")


def get_user_by_username(session: Session, username: str) -> User | None:
    """The account called ``username`` (any case), or ``None``."""
    name = username.strip().lower() if isinstance(username, str) else ""
    return session.scalar(select(User).where(User.username == name))


def list_users(session: Session, *, include_inactive: bool = True) -> list[User]:
    """Every account, by username."""
    query = select(User).order_by(User.username)
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    return list(session.scalars(query))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active account matching ``username`` and ``password``, or ``None``.

    Records ``login`` or ``login_failed`` (with a reason code). An unknown username costs the
    same hash verification as a known one, so response times do not reveal which accounts
    exist. A hash made with older parameters is upgraded on success.
    """
    name = username.strip().lower() if isinstance(username, str) else ""
    user = session.scalar(select(User).where(User.username == name)) if name else None
    if user is None:
        verify_password(dummy_hash(), password if isinstance(password, str) else "")
        record_event(
            session,
            actor=None,
            action=AuditAction.LOGIN_FAILED,
            entity_type="user",
            entity_id=None,
            username=name or None,
            detail={"reason": "unknown_user"},
        )
        return None
    matches = isinstance(password, str) and verify_password(user.password_hash, password)
    if not matches or not user.is_active:
        record_event(
            session,
            actor=None,
            action=AuditAction.LOGIN_FAILED,
            entity_type="user",
            entity_id=user.id,
            username=user.username,
            detail={"reason": "wrong_password" if not matches else "inactive"},
        )
        return None
    now = utc_now()
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record_event(
        session, actor=user, action=AuditAction.LOGIN, entity_type="user", entity_id=user.id
    )
    return user


def set_role(session: Session, user_id: int, role: Role | str, *, actor: User) -> User:
    """Change an account's role (admins only; the last active admin keeps the admin role)."""
    _check_admin(actor, "change roles")
    user = get_user(session, user_id)
    new_role = _role(role)
    if new_role is user.role:
        return user
    if user.role is Role.ADMIN and user.is_active and _active_admin_count(session) <= 1:
        raise ConflictError(
            "role: this is the last active admin account; make another account admin first",
            field="role",
        )
    old_role = user.role
    user.role = new_role
    user.updated_at = utc_now()
    record_event(
        session,
        actor=actor,
        action=AuditAction.SET_ROLE,
        entity_type="user",
        entity_id=user.id,
        detail={"from": old_role.value, "to": new_role.value},
    )
    return user


def set_password(session: Session, user_id: int, password: str, *, actor: User | None) -> User:
    """Set a new password: for oneself, or for anyone as an admin (or the system, ``None``)."""
    user = get_user(session, user_id)
    if actor is not None and actor.id != user.id:
        _check_admin(actor, "set other users' passwords")
    elif actor is not None and not actor.is_active:
        raise PermissionDeniedError(
            "a deactivated account cannot change its password", action="set password"
        )
    check_password_policy(password)
    now = utc_now()
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.updated_at = now
    record_event(
        session, actor=actor, action=AuditAction.SET_PASSWORD, entity_type="user", entity_id=user.id
    )
    return user


def deactivate_user(session: Session, user_id: int, *, actor: User | None) -> User:
    """Deactivate an account (it can no longer sign in; its history stays)."""
    _check_admin(actor, "deactivate accounts")
    user = get_user(session, user_id)
    if not user.is_active:
        return user
    if user.role is Role.ADMIN and _active_admin_count(session) <= 1:
        raise ConflictError(
            "this is the last active admin account; make another account admin first",
            field="username",
        )
    user.is_active = False
    user.updated_at = utc_now()
    record_event(
        session, actor=actor, action=AuditAction.DEACTIVATE, entity_type="user", entity_id=user.id
    )
    return user


def reactivate_user(session: Session, user_id: int, *, actor: User | None) -> User:
    """Let a deactivated account sign in again (admins only)."""
    _check_admin(actor, "reactivate accounts")
    user = get_user(session, user_id)
    if user.is_active:
        return user
    user.is_active = True
    user.updated_at = utc_now()
    record_event(
        session, actor=actor, action=AuditAction.RESTORE, entity_type="user", entity_id=user.id
    )
    return user
