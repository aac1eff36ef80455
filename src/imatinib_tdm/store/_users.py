"""User accounts: creation with the password policy, login, roles, deactivation.

Usernames are stored lowercase (``Anna.Muster`` and ``anna.muster`` are one account). Accounts
are never deleted, only deactivated, so the audit log keeps pointing at them. The last active
admin cannot be demoted or deactivated: someone must always be able to manage accounts. The
first admin is created by :func:`create_first_admin` (the ``imatinib-tdm`` CLI calls it); there
is no default account and no default password.

Login throttle, per typed username and per client address: :data:`MAX_FAILED_LOGINS` failed
attempts for a name within :data:`LOGIN_FAILURE_WINDOW`, not followed by a successful login, lock
the name; :data:`MAX_FAILED_LOGINS_PER_ADDRESS` failed attempts from one client address within
:data:`ADDRESS_FAILURE_WINDOW` lock the address. A lockout lasts until the oldest of the counted
failures leaves the window. Attempts during a lockout are refused *without checking the
password* (a correct one is refused too) and do not extend it. The rules are computed from the
audit log (``login_attempt`` and ``login`` events, which carry the name, the client address and
the time), so they hold across server processes and on both databases. No write transaction is
open while a password is hashed; see :func:`attempt_login` and ``docs/service.md`` (Security).

Typed usernames that match no account are recorded as a keyed hash (:func:`hashed_username`),
never as text: a password typed into the username field must not stay in the append-only log.

Passwords: :func:`check_password_policy` (NIST SP 800-63B 5.1.1.2 blocklist, repetition,
sequences, the username). :func:`prepare_password` checks and hashes a new password *before*
the transaction that stores it, so that no write lock is held during the hash; a password
change revokes the account's server-side sessions (:mod:`imatinib_tdm.store._sessions`), and so
does a deactivation.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from imatinib_tdm.errors import CaseError, ConflictError, PermissionDeniedError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch, require_text
from imatinib_tdm.store._models import NAME_LENGTH, USERNAME_LENGTH, AuditEvent, User
from imatinib_tdm.store._password_checks import run_password_check
from imatinib_tdm.store._passwords import (
    check_password_policy,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from imatinib_tdm.store._roles import Role, can_administer, parse_role
from imatinib_tdm.store._sessions import revoke_user_sessions, start_session
from imatinib_tdm.store._types import utc_now

if TYPE_CHECKING:
    from imatinib_tdm.store._database import Database

__all__ = [
    "ADDRESS_FAILURE_WINDOW",
    "LOGIN_ATTEMPT",
    "LOGIN_FAILURE_WINDOW",
    "LOGIN_QUEUE_TIMEOUT_S",
    "MAX_CONCURRENT_PASSWORD_CHECKS",
    "MAX_FAILED_LOGINS",
    "MAX_FAILED_LOGINS_PER_ADDRESS",
    "LoginAttempt",
    "PreparedPassword",
    "address_lockout",
    "attempt_login",
    "authenticate",
    "change_own_password",
    "create_first_admin",
    "create_user",
    "deactivate_user",
    "get_user",
    "get_user_by_username",
    "hashed_username",
    "list_users",
    "locked_usernames",
    "login_lockout",
    "normalise_username",
    "prepare_password",
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


@dataclass(frozen=True)
class PreparedPassword:
    """A new password checked against the policy and hashed, for one username.

    Made by :func:`prepare_password` outside any transaction; :func:`create_user` and
    :func:`set_password` accept it in place of the text, so the slow hash does not run while
    they hold the database's write lock.
    """

    username: str
    password_hash: str = field(repr=False)


def prepare_password(password: str, *, username: str) -> PreparedPassword:
    """Check ``password`` against the policy for ``username`` and hash it (slow: ~0.25-0.8 s).

    Raises
    ------
    CaseError
        As :func:`check_password_policy` (field ``password``), or an invalid ``username``.
    """
    name = normalise_username(username)
    check_password_policy(password, username=name)
    return PreparedPassword(username=name, password_hash=hash_password(password))


def _password_hash(password: str | PreparedPassword, username: str) -> str:
    if isinstance(password, PreparedPassword):
        if password.username != username:
            raise CaseError(
                "password: prepared for another username; prepare it again", field="password"
            )
        return password.password_hash
    return prepare_password(password, username=username).password_hash


def create_user(
    session: Session,
    *,
    username: str,
    password: str | PreparedPassword,
    role: Role | str,
    full_name: str,
    actor: User | None,
) -> User:
    """Create an account.

    Parameters
    ----------
    username : str
        Stored lowercase; see :func:`normalise_username`.
    password : str or PreparedPassword
        At least 12 characters, not a common password (:func:`check_password_policy`); stored
        only as an argon2id hash. A :class:`PreparedPassword` was hashed before the
        transaction (the service does that).
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
    chosen_role = _role(role)
    display_name = require_text(full_name, field="full_name", max_length=NAME_LENGTH)
    if get_user_by_username(session, name) is not None:
        raise ConflictError(f"username: {name!r} is already taken", field="username")
    password_hash = _password_hash(password, name)
    now = utc_now()
    user = User(
        username=name,
        full_name=display_name,
        role=chosen_role,
        password_hash=password_hash,
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


def create_first_admin(
    session: Session, *, username: str, password: str | PreparedPassword, full_name: str
) -> User:
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
    """The account called ``username`` (any case), or ``None``.

    A name no account could have (a NUL byte, a space, 65 characters...) is not looked up: the
    answer is ``None`` without a query (PostgreSQL would refuse a NUL with an error).
    """
    name = _typed_name(username)
    if not _USERNAME.fullmatch(name):
        return None
    return session.scalar(select(User).where(User.username == name))


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
# Per client address, also software choices: one address may be a ward PC or a hospital proxy
# shared by many clinicians, so the limit is six accounts' worth of the per-name limit (a few
# colleagues mistyping at the start of a shift are not locked out), yet it stops one machine
# from guessing across many usernames (password spraying) and from keeping the server busy
# hashing: beyond it, attempts are refused without any hash. The same 15 min window.
MAX_FAILED_LOGINS_PER_ADDRESS = 30
"""Failed logins from one client address, within :data:`ADDRESS_FAILURE_WINDOW`, that lock
every login from it (a successful login there does not reset the count)."""
ADDRESS_FAILURE_WINDOW = LOGIN_FAILURE_WINDOW
"""How far back failures from one address count."""

# Software choices: one argon2id check (64 MiB, 4 lanes) keeps up to 4 threads busy for
# 0.1-0.8 s, so one at a time already fills this project's 2-core reference machine. Measured
# (bench/bench_abuse.py --heavy 0, 8 flooders): clinicians' p95 rose 5.4x with 2 checks at once,
# 2.7x with 1; logins still pass at ~10/s, enough for a shift change.
MAX_CONCURRENT_PASSWORD_CHECKS = 1
"""Login attempts (password checks) that run at the same time in one process."""
LOGIN_QUEUE_TIMEOUT_S = 10.0
"""How long a login waits for a free check before it is answered "busy" (503)."""
_HASH_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_PASSWORD_CHECKS)

LOGIN_ATTEMPT = AuditAction.LOGIN_ATTEMPT.value
"""Audit action recorded *before* a password is checked (see :func:`attempt_login`)."""

# Namespace of the PostgreSQL advisory locks that serialise login attempts per username and per
# address (the two-integer form, apart from the migration lock's single key).
_LOGIN_LOCK_NAMESPACE = 0x1A7_10C
_ADDRESS_LOCK_NAMESPACE = 0x1A7_10D
_HASHED_NAME_PREFIX = "#"  # never the first character of a real username (see _USERNAME)
_HASHED_NAME_HEX = 32  # 128 bits of HMAC-SHA256: collisions between typed names are negligible


@dataclass(frozen=True)
class LoginAttempt:
    """What :func:`attempt_login` decided.

    Attributes
    ----------
    user : User or None
        The account, when the username and password matched an active account.
    locked_until : datetime or None
        Set (UTC) when the attempt was refused because the username or the client address is
        locked out; the password was then not checked. ``None`` otherwise.
    now : datetime
        When the attempt was judged (UTC).
    locked_by : str or None
        ``"username"`` or ``"address"`` when locked.
    session_token : str or None
        On success with ``session_lifetime``: the token of the new server-side session (for
        the cookie; only its SHA-256 is stored).
    session_id : int or None
        The id of that session.
    busy : bool
        Turned away before anything was checked or recorded: every hashing slot of this
        process stayed taken for the queue timeout (see :func:`attempt_login`).
    """

    user: User | None
    locked_until: datetime | None
    now: datetime
    locked_by: str | None = None
    session_token: str | None = field(default=None, repr=False)
    session_id: int | None = None
    busy: bool = False

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
        whose = "from this network address" if self.locked_by == "address" else "for this username"
        return (
            f"Too many failed log-in attempts {whose}. Logging in is blocked until "
            f"{shown:%H:%M} UTC (in {minutes} min); until then even the correct password is "
            "refused."
        )


def hashed_username(username: object, name_key: bytes) -> str:
    """What the audit log stores for a typed username that matches no account.

    ``#`` and the first 32 hex digits of HMAC-SHA256(``name_key``, name as typed, stripped and
    lowercased). The same typed name always gives the same value, so the throttle counts per
    name, but the text (which may be a password typed into the wrong field) is never stored,
    and without the key (which is not in the database) a guess cannot be checked against it.
    """
    digest = hmac.new(name_key, _typed_name(username).encode("utf-8"), hashlib.sha256)
    return _HASHED_NAME_PREFIX + digest.hexdigest()[:_HASHED_NAME_HEX]


def _throttle_key(user: User | None, username: object, name_key: bytes | None) -> str | None:
    """The name failures are counted and recorded under: the account's username when the typed
    name is an account, else its keyed hash (:func:`hashed_username`); ``None`` when nothing
    was typed or no key was given (the text is then not recorded at all)."""
    if user is not None:
        return user.username
    if not _typed_name(username) or name_key is None:
        return None
    return hashed_username(username, name_key)


def _advisory_lock(session: Session, namespace: int, key: str) -> None:
    """Serialise login attempts for ``key`` until the transaction ends (PostgreSQL).

    Without it, parallel requests in several processes could each see 4 failures and all check
    a password. SQLite needs nothing: write transactions take the database lock at BEGIN.
    """
    if session.get_bind().dialect.name == "postgresql":
        # a crc32 collision only makes two names wait for each other
        slot = zlib.crc32(key.encode("utf-8")) - 2**31  # into the signed 32-bit range
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :slot)"),
            {"namespace": namespace, "slot": slot},
        )


def _counted_failures(session: Session, key: str, now: datetime) -> list[datetime]:
    """Times (newest first) of the login attempts of ``key`` that count as failures at ``now``:
    within the window and after the last successful login; at most :data:`MAX_FAILED_LOGINS`.

    Attempts are counted from their ``login_attempt`` event, written before the password is
    checked: an attempt still being checked counts (as a failure until it succeeds), which
    keeps the limit exact under parallel requests. A success is recorded at its attempt's time.
    """
    query = (
        select(AuditEvent.at, AuditEvent.action)
        .where(
            AuditEvent.username == key,
            AuditEvent.action.in_([AuditAction.LOGIN.value, LOGIN_ATTEMPT]),
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


def _address_failures(session: Session, address: str, now: datetime) -> list[datetime]:
    """Times (newest first) of the attempts from ``address`` within the window that did not
    succeed (failed, or still being checked).

    A successful login is recorded at its attempt's time, so each success cancels exactly one
    attempt of the same time; unlike the per-name rule, a success does not reset the count.
    """
    query = select(AuditEvent.at, AuditEvent.action).where(
        AuditEvent.source_address == address,
        AuditEvent.action.in_([AuditAction.LOGIN.value, LOGIN_ATTEMPT]),
        AuditEvent.at > now - ADDRESS_FAILURE_WINDOW,  # index (source_address, at)
    )
    attempts: Counter[datetime] = Counter()
    successes: Counter[datetime] = Counter()
    for at, action in session.execute(query):
        (successes if action == AuditAction.LOGIN.value else attempts)[at] += 1
    return sorted((attempts - successes).elements(), reverse=True)


def _lockout_end(failures: list[datetime], limit: int = MAX_FAILED_LOGINS) -> datetime | None:
    if len(failures) < limit:
        return None
    return failures[limit - 1] + LOGIN_FAILURE_WINDOW


def login_lockout(
    session: Session,
    username: str,
    *,
    name_key: bytes | None = None,
    now: datetime | None = None,
) -> datetime | None:
    """Until when logins for ``username`` are refused, or ``None`` if they are not.

    Parameters
    ----------
    username : str
        As typed (any case); unknown names are locked out like known ones.
    name_key : bytes, optional
        The key unknown names are hashed with (:func:`hashed_username`); without it an unknown
        name is never reported locked.
    now : datetime, optional
        The time to judge at (timezone-aware); default now. Tests pass it.

    Returns
    -------
    datetime or None
        End of the lockout (UTC): :data:`LOGIN_FAILURE_WINDOW` after the oldest of the last
        :data:`MAX_FAILED_LOGINS` counted failures.
    """
    key = _throttle_key(get_user_by_username(session, username), username, name_key)
    if key is None:
        return None
    return _lockout_end(_counted_failures(session, key, utc_now() if now is None else now))


def address_lockout(
    session: Session, source_address: str, *, now: datetime | None = None
) -> datetime | None:
    """Until when logins from the client address ``source_address`` are refused, or ``None``."""
    moment = utc_now() if now is None else now
    failures = _address_failures(session, source_address[:_ADDRESS_LENGTH], moment)
    return _lockout_end(failures, MAX_FAILED_LOGINS_PER_ADDRESS)


def locked_usernames(session: Session, *, now: datetime | None = None) -> dict[str, datetime]:
    """Every username locked out at ``now``, with the end of its lockout.

    For an admin's overview; reads only the audit events of the last
    :data:`LOGIN_FAILURE_WINDOW`. Names that match no account appear as their keyed hash
    (``#`` and hex digits, see :func:`hashed_username`): their text is not stored.
    """
    moment = utc_now() if now is None else now
    query = (
        select(AuditEvent.username)
        .where(
            AuditEvent.action == LOGIN_ATTEMPT,
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


_ADDRESS_LENGTH = 64  # audit_events.source_address


@dataclass(frozen=True)
class _Pending:
    """An attempt recorded by :func:`_begin_attempt`, to be checked outside any transaction."""

    moment: datetime
    key: str | None
    address: str | None
    user_id: int | None
    password_hash: str | None
    is_active: bool
    failures_before: int


def _begin_attempt(
    session: Session,
    username: object,
    *,
    name_key: bytes | None,
    source_address: str | None,
    now: datetime | None,
) -> LoginAttempt | _Pending:
    """Step 1 (a short write transaction): apply the lockouts; record the attempt or the
    refusal. No password is hashed here."""
    typed = _typed_name(username)
    user = get_user_by_username(session, typed) if typed else None
    key = _throttle_key(user, username, name_key)
    address = source_address[:_ADDRESS_LENGTH] if source_address else None
    # name first, then address: every transaction takes the two locks in the same order
    if key is not None:
        _advisory_lock(session, _LOGIN_LOCK_NAMESPACE, key)
    if address is not None:
        _advisory_lock(session, _ADDRESS_LOCK_NAMESPACE, address)
    moment = utc_now() if now is None else now  # after the locks: events follow their order
    failures = _counted_failures(session, key, moment) if key is not None else []
    entity_id = user.id if user is not None else None
    locked_until, locked_by = _lockout_end(failures), "username"
    if locked_until is None and address is not None:
        by_address = _address_failures(session, address, moment)
        locked_until, locked_by = _lockout_end(by_address, MAX_FAILED_LOGINS_PER_ADDRESS), "address"
    if locked_until is not None:
        record_event(
            session,
            actor=None,
            action=AuditAction.LOGIN_REFUSED,
            entity_type="user",
            entity_id=entity_id,
            username=key,
            detail={
                "reason": "locked" if locked_by == "username" else "address_locked",
                "until": locked_until.isoformat(),
            },
            at=moment,
            source_address=address,
        )
        return LoginAttempt(user=None, locked_until=locked_until, now=moment, locked_by=locked_by)
    record_event(
        session,
        actor=None,
        action=LOGIN_ATTEMPT,
        entity_type="user",
        entity_id=entity_id,
        username=key,
        at=moment,
        source_address=address,
    )
    return _Pending(
        moment=moment,
        key=key,
        address=address,
        user_id=entity_id,
        password_hash=user.password_hash if user is not None else None,
        is_active=bool(user is not None and user.is_active),
        failures_before=len(failures),
    )


def _check_password(pending: _Pending, password: object) -> tuple[str | None, str | None]:
    """Step 2 (outside any transaction): the reason of a failure (``None`` on success) and, on
    success with an outdated hash, the new hash."""
    typed = password if isinstance(password, str) else ""
    if pending.password_hash is None:
        verify_password(dummy_hash(), typed)  # the same cost as for a known name
        return "unknown_user", None
    if not (isinstance(password, str) and verify_password(pending.password_hash, password)):
        return "wrong_password", None
    if not pending.is_active:
        return "inactive", None
    return None, hash_password(password) if needs_rehash(pending.password_hash) else None


def _finish_attempt(
    session: Session,
    pending: _Pending,
    reason: str | None,
    new_hash: str | None,
    session_lifetime: timedelta | None,
) -> LoginAttempt:
    """Step 3 (a short write transaction): record the outcome; on success update the account
    and start the server-side session."""
    moment = pending.moment
    # Only the attempt that found MAX_FAILED_LOGINS - 1 failures before it can be the one that
    # reaches the limit: one login_locked event per lockout, however many attempts ran at once.
    may_lock = pending.key is not None and pending.failures_before == MAX_FAILED_LOGINS - 1
    if may_lock and pending.key is not None:
        # before any audit event: the name lock is always taken before record_event's locks
        _advisory_lock(session, _LOGIN_LOCK_NAMESPACE, pending.key)
    if reason is None and pending.user_id is not None:
        user = session.get(User, pending.user_id)
        # the account may have changed while the password was checked: then it is no success
        if user is None or user.password_hash != pending.password_hash:
            reason = "wrong_password"
        elif not user.is_active:
            reason = "inactive"
        else:
            user.last_login_at = moment
            if new_hash is not None:
                user.password_hash = new_hash
            record_event(
                session,
                actor=user,
                action=AuditAction.LOGIN,
                entity_type="user",
                entity_id=user.id,
                at=moment,
                source_address=pending.address,
            )
            token = session_id = None
            if session_lifetime is not None:
                row, token = start_session(
                    session, user=user, lifetime=session_lifetime, now=moment
                )
                session_id = row.id
            return LoginAttempt(
                user=user, locked_until=None, now=moment, session_token=token, session_id=session_id
            )
    record_event(
        session,
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        entity_type="user",
        entity_id=pending.user_id,
        username=pending.key,
        detail={"reason": reason or "wrong_password"},
        at=moment,
        source_address=pending.address,
    )
    if may_lock and pending.key is not None:
        locked_until = _lockout_end(_counted_failures(session, pending.key, moment))
        if locked_until is not None:
            record_event(
                session,
                actor=None,
                action=AuditAction.LOGIN_LOCKED,
                entity_type="user",
                entity_id=pending.user_id,
                username=pending.key,
                detail={
                    "failed_attempts": MAX_FAILED_LOGINS,
                    "window_minutes": int(LOGIN_FAILURE_WINDOW.total_seconds() // 60),
                    "until": locked_until.isoformat(),
                },
                at=moment,
                source_address=pending.address,
            )
    return LoginAttempt(user=None, locked_until=None, now=moment)


def attempt_login(
    database: Database,
    username: str,
    password: str,
    *,
    name_key: bytes | None,
    source_address: str | None = None,
    session_lifetime: timedelta | None = None,
    queue_timeout_s: float = LOGIN_QUEUE_TIMEOUT_S,
    now: datetime | None = None,
) -> LoginAttempt:
    """Check a login, applying the lockout rules, without holding a write lock while hashing.

    Three steps: (1) a short write transaction applies the lockouts and records a
    ``login_attempt`` event (or the refusal); (2) the password is verified with argon2 outside
    any transaction, so other users keep reading and writing meanwhile (a hash takes
    0.25-0.8 s); (3) a second short transaction records the outcome and, on success, updates
    the account and starts the server-side session. Recording the attempt *before* hashing
    makes parallel attempts count: the limit holds exactly across threads and processes.
    At most :data:`MAX_CONCURRENT_PASSWORD_CHECKS` attempts per process run these steps at
    once (argon2 uses 64 MiB and several cores per hash): the others wait up to
    ``queue_timeout_s`` and are then turned away as ``busy``, with nothing recorded, so a
    login flood cannot take the processor from the clinicians' requests.

    The rules: when the typed username has :data:`MAX_FAILED_LOGINS` failed (or unfinished)
    attempts within :data:`LOGIN_FAILURE_WINDOW` and no successful login after them, or the
    client address has :data:`MAX_FAILED_LOGINS_PER_ADDRESS` failed attempts within
    :data:`ADDRESS_FAILURE_WINDOW`, the attempt is refused without checking the password,
    until the oldest of those failures leaves the window. Refused attempts are not failures:
    they do not extend a lockout. Unknown usernames are counted and locked like known ones, so
    the answers do not reveal which exist; they are recorded as a keyed hash, never as text.

    Audit events: ``login_attempt`` (before the check); then ``login``, or ``login_failed``
    with a reason code (``unknown_user``, ``wrong_password``, ``inactive``), plus
    ``login_locked`` when a failure reaches the per-name limit; ``login_refused`` (reason
    ``locked`` or ``address_locked``) for an attempt during a lockout. Each carries the client
    address; details hold counts and times, never the password or an unknown name's text.

    Parameters
    ----------
    database : Database
        The store; this function runs its own transactions.
    username, password : str
        As typed.
    name_key : bytes or None
        Key of the HMAC that replaces unknown usernames (:func:`hashed_username`); the service
        derives it from its secret key, which is not in the database. ``None``: unknown names
        are recorded without any name and not throttled per name (the address limit still
        applies).
    source_address : str, optional
        The client address (``request.client.host``), for the per-address limit.
    session_lifetime : timedelta, optional
        On success, start a server-side session of this lifetime (its token is returned in
        :attr:`LoginAttempt.session_token`).
    queue_timeout_s : float, default=LOGIN_QUEUE_TIMEOUT_S
        How long to wait for a hashing slot before answering ``busy``.
    now : datetime, optional
        The time to judge at and to record (timezone-aware); default now. Tests pass it.

    Returns
    -------
    LoginAttempt
        ``user`` set on success; ``locked_until`` set when refused by a lockout; ``busy``
        when no hashing slot became free in time (the service answers 503).
    """
    # wait for a hashing slot before anything is recorded: an attempt turned away as busy
    # costs nothing and counts for nothing
    if not _HASH_SLOTS.acquire(timeout=queue_timeout_s):
        return LoginAttempt(user=None, locked_until=None, now=utc_now(), busy=True)
    try:
        with database.transaction() as session:
            begun = _begin_attempt(
                session, username, name_key=name_key, source_address=source_address, now=now
            )
        if isinstance(begun, LoginAttempt):
            return begun
        reason, new_hash = run_password_check(_check_password, begun, password)
    finally:
        _HASH_SLOTS.release()
    with database.transaction() as session:
        return _finish_attempt(session, begun, reason, new_hash, session_lifetime)


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    name_key: bytes | None = None,
    now: datetime | None = None,
) -> User | None:
    """The active account matching ``username`` and ``password``, or ``None``, in the caller's
    transaction.

    The rules and the audit events of :func:`attempt_login` (``None`` also while the username
    is locked out, even for the right password). For the command line and scripts: the
    caller's transaction (on SQLite, the database's write lock) is held while the password is
    hashed, which a server must not do; the service calls :func:`attempt_login`. Use a
    transaction of its own: on PostgreSQL it takes the per-name lock, which must come before
    any audit event of the transaction (lock order). An unknown
    username costs the same hash verification as a known one. A hash made with older
    parameters is upgraded on success.
    """
    begun = _begin_attempt(session, username, name_key=name_key, source_address=None, now=now)
    if isinstance(begun, LoginAttempt):
        return None
    reason, new_hash = _check_password(begun, password)
    return _finish_attempt(session, begun, reason, new_hash, None).user


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


def set_password(
    session: Session,
    user_id: int,
    password: str | PreparedPassword,
    *,
    actor: User | None,
    keep_session_id: int | None = None,
) -> User:
    """Set a new password: for oneself, or for anyone as an admin (or the system, ``None``).

    Every open server-side session of the account is revoked (reason ``password_changed``),
    so a copied cookie stops working; ``keep_session_id`` spares the session of a user who
    changes their own password (it must be one of theirs). The ``set_password`` event records
    how many sessions ended.

    Parameters
    ----------
    password : str or PreparedPassword
        The new password (policy: :func:`check_password_policy`, with the username), or one
        prepared by :func:`prepare_password` before the transaction.
    keep_session_id : int, optional
        Only when ``actor`` is the account itself: the session that stays open.
    """
    user = get_user(session, user_id)
    if actor is not None and actor.id != user.id:
        _check_admin(actor, "set other users' passwords")
    elif actor is not None and not actor.is_active:
        raise PermissionDeniedError(
            "a deactivated account cannot change its password", action="set password"
        )
    if keep_session_id is not None and (actor is None or actor.id != user.id):
        raise ValueError("keep_session_id: only a user changing their own password keeps one")
    password_hash = _password_hash(password, user.username)
    now = utc_now()
    user.password_hash = password_hash
    user.password_changed_at = now
    user.updated_at = now
    revoked = revoke_user_sessions(
        session, user.id, reason="password_changed", keep_session_id=keep_session_id, now=now
    )
    record_event(
        session,
        actor=actor,
        action=AuditAction.SET_PASSWORD,
        entity_type="user",
        entity_id=user.id,
        detail={"sessions_revoked": revoked},
    )
    return user


def change_own_password(
    database: Database,
    user_id: int,
    current_password: str,
    new_password: str,
    *,
    keep_session_id: int | None = None,
    source_address: str | None = None,
) -> User:
    """A user changes their own password, proving the current one; no lock held while hashing.

    The current password is verified and the new one checked and hashed outside any
    transaction; then one short transaction stores it (unless the password changed meanwhile)
    and revokes the account's other sessions (see :func:`set_password`). A wrong current
    password is audited (``set_password_failed``, reason ``wrong_password``).

    Raises
    ------
    CaseError
        ``current_password`` is wrong, or ``new_password`` breaks the policy (field
        ``new_password``) or equals the current one.
    PermissionDeniedError
        The account is deactivated.
    ConflictError
        The password was changed by someone else while this request was checked.
    """
    with database.read() as session:
        user = get_user(session, user_id)
        stored_hash, username, active = user.password_hash, user.username, user.is_active
    if not active:
        raise PermissionDeniedError(
            "a deactivated account cannot change its password", action="set password"
        )
    if not (isinstance(current_password, str) and verify_password(stored_hash, current_password)):
        with database.transaction() as session:
            record_event(
                session,
                actor=get_user(session, user_id),
                action=AuditAction.SET_PASSWORD_FAILED,
                entity_type="user",
                entity_id=user_id,
                detail={"reason": "wrong_password"},
                source_address=source_address,
            )
        raise CaseError("current_password: wrong password", field="current_password")
    if new_password == current_password:
        raise CaseError(
            "new_password: the same as the current password; choose a new one",
            field="new_password",
        )
    try:
        prepared = prepare_password(new_password, username=username)
    except CaseError as error:  # the same rule, named after the form's field
        raise CaseError(
            str(error).replace("password:", "new_password:", 1), field="new_password"
        ) from None
    with database.transaction() as session:
        user = get_user(session, user_id)
        if user.password_hash != stored_hash:
            raise ConflictError(
                "current_password: the password was changed in the meantime; log in again",
                field="current_password",
            )
        return set_password(session, user_id, prepared, actor=user, keep_session_id=keep_session_id)


def deactivate_user(session: Session, user_id: int, *, actor: User | None) -> User:
    """Deactivate an account (it can no longer sign in, its open sessions are revoked; its
    history stays)."""
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
    revoked = revoke_user_sessions(session, user.id, reason="deactivated", now=user.updated_at)
    record_event(
        session,
        actor=actor,
        action=AuditAction.DEACTIVATE,
        entity_type="user",
        entity_id=user.id,
        detail={"sessions_revoked": revoked},
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
