"""User accounts: creation with the password policy, login, roles, deactivation.

Usernames are stored lowercase (``Anna.Muster`` and ``anna.muster`` are one account). Accounts
are never deleted, only deactivated, so the audit log keeps pointing at them. The last active
admin cannot be demoted or deactivated: someone must always be able to manage accounts. The
first admin is created by :func:`create_first_admin` (the ``imatinib-tdm`` CLI calls it); there
is no default account and no default password.

Login throttle (per typed username, known or not): :data:`MAX_FAILED_LOGINS` failed attempts
within :data:`LOGIN_FAILURE_WINDOW`, not followed by a successful login, lock the name until the
oldest of those failures is :data:`LOGIN_FAILURE_WINDOW` old. Attempts during the lockout are
refused *without checking the password* (a correct one is refused too) and do not extend it. The
rule is computed from the audit log (``login`` and ``login_failed`` events, which carry the
username and the time), so it holds across server processes and on both databases; see
:func:`attempt_login` and ``docs/service.md`` (Security).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from imatinib_tdm.errors import CaseError, ConflictError, PermissionDeniedError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch, require_text
from imatinib_tdm.store._models import NAME_LENGTH, USERNAME_LENGTH, AuditEvent, User
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
    "LOGIN_FAILURE_WINDOW",
    "MAX_FAILED_LOGINS",
    "LoginAttempt",
    "attempt_login",
    "authenticate",
    "create_first_admin",
    "create_user",
    "deactivate_user",
    "get_user",
    "get_user_by_username",
    "list_users",
    "locked_usernames",
    "login_lockout",
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


def _typed_name(username: object) -> str:
    """A username as typed, stripped and lowercased (``""`` when it is not text)."""
    return username.strip().lower() if isinstance(username, str) else ""


def get_user_by_username(session: Session, username: str) -> User | None:
    """The account called ``username`` (any case), or ``None``."""
    return session.scalar(select(User).where(User.username == _typed_name(username)))


def list_users(session: Session, *, include_inactive: bool = True) -> list[User]:
    """Every account, by username."""
    query = select(User).order_by(User.username)
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    return list(session.scalars(query))


# Software choices, not clinical numbers: 5 tries leave room for typos and a forgotten caps lock,
# 15 min make online guessing slow (at most 5 guesses per 15 min per name, ~480 a day) while a
# locked-out clinician waits at most a quarter of an hour (no admin action needed). Far inside
# NIST SP 800-63B section 5.2.2 (at most 100 consecutive failures per account).
MAX_FAILED_LOGINS = 5
"""Failed logins for one username, within :data:`LOGIN_FAILURE_WINDOW`, that lock it."""
LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
"""How far back failures count; a lockout ends when its oldest counted failure is this old."""

# Namespace of the PostgreSQL advisory locks that serialise login attempts per username (the
# two-integer form, apart from the migration lock's single key).
_LOGIN_LOCK_NAMESPACE = 0x1A7_10C


@dataclass(frozen=True)
class LoginAttempt:
    """What :func:`attempt_login` decided.

    Attributes
    ----------
    user : User or None
        The account, when the username and password matched an active account.
    locked_until : datetime or None
        Set (UTC) when the attempt was refused because the username is locked out; the password
        was then not checked. ``None`` otherwise.
    now : datetime
        When the attempt was judged (UTC).
    """

    user: User | None
    locked_until: datetime | None
    now: datetime

    @property
    def locked(self) -> bool:
        """Refused because of a lockout (not because of a wrong password)."""
        return self.locked_until is not None

    @property
    def retry_after(self) -> int:
        """Seconds until the lockout ends (rounded up; 0 when not locked)."""
        if self.locked_until is None:
            return 0
        return max(1, math.ceil((self.locked_until - self.now).total_seconds()))

    @property
    def message(self) -> str:
        """The refusal for the person at the keyboard: when to try again ("" when not locked)."""
        if self.locked_until is None:
            return ""
        # rounded up to the minute, so that trying at the time shown always works
        shown = self.locked_until.replace(second=0, microsecond=0)
        if shown < self.locked_until:
            shown += timedelta(minutes=1)
        minutes = max(1, math.ceil(self.retry_after / 60))
        return (
            f"Too many failed log-in attempts for this username. Logging in is blocked until "
            f"{shown:%H:%M} UTC (in {minutes} min); until then even the correct password is "
            "refused."
        )


def _throttle_key(username: object) -> str:
    """The name failures are counted under: as typed, stripped and lowercased, at most 64
    characters (what :func:`record_event` stores), for known and unknown accounts alike."""
    return _typed_name(username)[:USERNAME_LENGTH]


def _lock_name(session: Session, key: str) -> None:
    """Serialise login attempts for ``key`` until the transaction ends (PostgreSQL).

    Without it, parallel requests in several processes could each see 4 failures and all check
    a password. SQLite needs nothing: write transactions take the database lock at BEGIN.
    """
    if session.get_bind().dialect.name == "postgresql":
        # a crc32 collision only makes two names wait for each other
        slot = zlib.crc32(key.encode("utf-8")) - 2**31  # into the signed 32-bit range
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :slot)"),
            {"namespace": _LOGIN_LOCK_NAMESPACE, "slot": slot},
        )


def _counted_failures(session: Session, key: str, now: datetime) -> list[datetime]:
    """Times (newest first) of the failed logins of ``key`` that count at ``now``: within the
    window and after the last successful login; at most :data:`MAX_FAILED_LOGINS`."""
    query = (
        select(AuditEvent.at, AuditEvent.action)
        .where(
            AuditEvent.username == key,
            AuditEvent.action.in_([AuditAction.LOGIN.value, AuditAction.LOGIN_FAILED.value]),
            AuditEvent.at > now - LOGIN_FAILURE_WINDOW,  # the index on "at" bounds the scan
        )
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(MAX_FAILED_LOGINS)
    )
    failures: list[datetime] = []
    for at, action in session.execute(query):
        if action == AuditAction.LOGIN.value:
            break  # failures before a successful login do not count
        failures.append(at)
    return failures


def _lockout_end(failures: list[datetime]) -> datetime | None:
    if len(failures) < MAX_FAILED_LOGINS:
        return None
    return failures[MAX_FAILED_LOGINS - 1] + LOGIN_FAILURE_WINDOW


def login_lockout(
    session: Session, username: str, *, now: datetime | None = None
) -> datetime | None:
    """Until when logins for ``username`` are refused, or ``None`` if they are not.

    Parameters
    ----------
    username : str
        As typed (any case); unknown names are locked out like known ones.
    now : datetime, optional
        The time to judge at (timezone-aware); default now. Tests pass it.

    Returns
    -------
    datetime or None
        End of the lockout (UTC): :data:`LOGIN_FAILURE_WINDOW` after the oldest of the last
        :data:`MAX_FAILED_LOGINS` counted failures.
    """
    key = _throttle_key(username)
    if not key:
        return None
    return _lockout_end(_counted_failures(session, key, utc_now() if now is None else now))


def locked_usernames(session: Session, *, now: datetime | None = None) -> dict[str, datetime]:
    """Every username (known account or not) locked out at ``now``, with the end of its lockout.

    For an admin's overview; reads only the audit events of the last
    :data:`LOGIN_FAILURE_WINDOW`.
    """
    moment = utc_now() if now is None else now
    query = (
        select(AuditEvent.username)
        .where(
            AuditEvent.action == AuditAction.LOGIN_FAILED.value,
            AuditEvent.username.is_not(None),
            AuditEvent.at > moment - LOGIN_FAILURE_WINDOW,
        )
        .group_by(AuditEvent.username)
        .having(func.count() >= MAX_FAILED_LOGINS)
        .order_by(AuditEvent.username)
    )
    locked = {}
    for name in list(session.scalars(query)):
        end = _lockout_end(_counted_failures(session, name, moment)) if name else None
        if name and end is not None:
            locked[name] = end
    return locked


def attempt_login(
    session: Session, username: str, password: str, *, now: datetime | None = None
) -> LoginAttempt:
    """Check a login, applying the lockout rule; records what happened in the audit log.

    The rule (constants :data:`MAX_FAILED_LOGINS`, :data:`LOGIN_FAILURE_WINDOW`): when the
    typed username has ``MAX_FAILED_LOGINS`` failed logins within the last
    ``LOGIN_FAILURE_WINDOW`` and no successful login after them, the attempt is refused without
    checking the password, until the oldest of those failures is ``LOGIN_FAILURE_WINDOW`` old.
    Refused attempts are not failures: they do not extend the lockout. Unknown usernames are
    counted and locked exactly like known ones, so the answers do not reveal which exist.

    Audit events (in ``session``'s transaction; commit it even when the login fails): ``login``;
    ``login_failed`` with a reason code (``unknown_user``, ``wrong_password``, ``inactive``);
    ``login_locked`` when a failure reaches the limit; ``login_refused`` for an attempt during a
    lockout. Details hold counts and times, never the password.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        A write session (``Database.transaction``).
    username, password : str
        As typed.
    now : datetime, optional
        The time to judge at and to record (timezone-aware); default now. Tests pass it.

    Returns
    -------
    LoginAttempt
        ``user`` set on success; ``locked_until`` set when refused by the lockout.
    """
    key = _throttle_key(username)
    if key:
        _lock_name(session, key)
    moment = utc_now() if now is None else now  # after the lock: events follow its order
    failures = _counted_failures(session, key, moment) if key else []
    user = get_user_by_username(session, username) if key else None
    entity_id = user.id if user is not None else None
    locked_until = _lockout_end(failures)
    if locked_until is not None:
        record_event(
            session,
            actor=None,
            action=AuditAction.LOGIN_REFUSED,
            entity_type="user",
            entity_id=entity_id,
            username=key,
            detail={"reason": "locked", "until": locked_until.isoformat()},
            at=moment,
        )
        return LoginAttempt(user=None, locked_until=locked_until, now=moment)
    if user is None:
        verify_password(dummy_hash(), password if isinstance(password, str) else "")
        reason = "unknown_user"
    elif not (isinstance(password, str) and verify_password(user.password_hash, password)):
        reason = "wrong_password"
    elif not user.is_active:
        reason = "inactive"
    else:
        user.last_login_at = moment
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        record_event(
            session,
            actor=user,
            action=AuditAction.LOGIN,
            entity_type="user",
            entity_id=user.id,
            at=moment,
        )
        return LoginAttempt(user=user, locked_until=None, now=moment)
    record_event(
        session,
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        entity_type="user",
        entity_id=entity_id,
        username=key or None,
        detail={"reason": reason},
        at=moment,
    )
    locked_until = _lockout_end([moment, *failures]) if key else None
    if locked_until is not None:
        record_event(
            session,
            actor=None,
            action=AuditAction.LOGIN_LOCKED,
            entity_type="user",
            entity_id=entity_id,
            username=key,
            detail={
                "failed_attempts": MAX_FAILED_LOGINS,
                "window_minutes": int(LOGIN_FAILURE_WINDOW.total_seconds() // 60),
                "until": locked_until.isoformat(),
            },
            at=moment,
        )
    return LoginAttempt(user=None, locked_until=None, now=moment)


def authenticate(
    session: Session, username: str, password: str, *, now: datetime | None = None
) -> User | None:
    """The active account matching ``username`` and ``password``, or ``None``.

    :func:`attempt_login` without the reason: ``None`` also while the username is locked out
    (after :data:`MAX_FAILED_LOGINS` failures), even for the right password. Records ``login``
    or ``login_failed`` (with a reason code). An unknown username costs the same hash
    verification as a known one, so response times do not reveal which accounts exist. A hash
    made with older parameters is upgraded on success.
    """
    return attempt_login(session, username, password, now=now).user


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
