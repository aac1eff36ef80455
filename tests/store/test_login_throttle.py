"""Login lockout after repeated failures per username and per client address
(imatinib_tdm.store._users.attempt_login), with no write lock held while a password is hashed.

Time is passed as ``now``: the rule and the audit events it writes use that clock, so no test
sleeps. Runs on SQLite and, with IMATINIB_TDM_TEST_POSTGRES_URL, on PostgreSQL.

Changed on purpose (issue 12): ``attempt_login`` takes the ``Database`` (it runs its own short
transactions) and a ``name_key``; unknown usernames are recorded as their keyed hash.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from imatinib_tdm.store import (
    ADDRESS_FAILURE_WINDOW,
    LOGIN_ATTEMPT,
    LOGIN_FAILURE_WINDOW,
    MAX_CONCURRENT_PASSWORD_CHECKS,
    MAX_FAILED_LOGINS,
    MAX_FAILED_LOGINS_PER_ADDRESS,
    AuditEvent,
    Database,
    LoginAttempt,
    _users,
    address_lockout,
    attempt_login,
    authenticate,
    hashed_username,
    list_events,
    locked_usernames,
    login_lockout,
    make_engine,
    record_event,
)
from imatinib_tdm.store._types import utc_now

from .conftest import PASSWORD, Actors

WRONG = "wrong password, long enough"
KEY = b"test key of the username hashes, not in the database"


@pytest.fixture
def t0() -> datetime:
    """A start time at hh:mm:30, so that the lockout ends at hh:mm:30 too."""
    return utc_now().replace(second=30, microsecond=0)


def _attempt(database: Database, username: str, password: str, at: datetime) -> LoginAttempt:
    return attempt_login(database, username, password, name_key=KEY, now=at)


def _fail(
    database: Database, username: str, start: datetime, count: int = MAX_FAILED_LOGINS
) -> None:
    """``count`` failed attempts, one second apart from ``start``; none of them locked."""
    for index in range(count):
        attempt = _attempt(database, username, WRONG, start + timedelta(seconds=index))
        assert attempt.user is None and not attempt.locked


def _events(database: Database, action: str) -> list[AuditEvent]:
    with database.read() as session:
        return list_events(session, action=action, limit=100)


def test_limits_are_documented_software_choices() -> None:
    assert MAX_FAILED_LOGINS == 5
    assert timedelta(minutes=15) == LOGIN_FAILURE_WINDOW


def test_lockout_refuses_the_right_password_and_spares_other_names(
    database: Database, actors: Actors, t0: datetime
) -> None:
    _fail(database, "clinician", t0)
    refused = _attempt(database, "Clinician ", PASSWORD, t0 + timedelta(minutes=1))
    assert refused.user is None and refused.locked
    # the lockout ends when the oldest counted failure is one window old
    assert refused.locked_until == t0 + LOGIN_FAILURE_WINDOW
    assert refused.retry_after == 14 * 60
    # the time shown is rounded up to the minute: trying then always works
    shown = t0 + LOGIN_FAILURE_WINDOW + timedelta(seconds=30)
    assert f"until {shown:%H:%M} UTC" in refused.message
    assert "(in 14 min)" in refused.message and "correct password is" in refused.message
    with database.transaction() as session:
        assert authenticate(session, "clinician", PASSWORD, now=t0 + timedelta(minutes=2)) is None
        assert authenticate(session, "viewer", PASSWORD, now=t0 + timedelta(minutes=2)) is not None
    with database.read() as session:
        at = t0 + timedelta(minutes=3)
        assert login_lockout(session, "CLINICIAN", now=at) == t0 + LOGIN_FAILURE_WINDOW
        assert login_lockout(session, "viewer", now=at) is None
        assert locked_usernames(session, now=at) == {"clinician": t0 + LOGIN_FAILURE_WINDOW}
    # audit: one lockout event, one refusal per refused attempt, no password anywhere
    (locked,) = _events(database, "login_locked")
    assert (locked.username, locked.entity_id, locked.at) == (
        "clinician",
        actors.clinician.id,
        t0 + timedelta(seconds=MAX_FAILED_LOGINS - 1),
    )
    assert locked.detail == {
        "failed_attempts": 5,
        "window_minutes": 15,
        "until": (t0 + LOGIN_FAILURE_WINDOW).isoformat(),
    }
    refusals = _events(database, "login_refused")
    assert len(refusals) == 2 and {e.username for e in refusals} == {"clinician"}
    assert refusals[0].detail == {
        "reason": "locked",
        "until": (t0 + LOGIN_FAILURE_WINDOW).isoformat(),
    }
    assert len(_events(database, "login_failed")) == MAX_FAILED_LOGINS  # refusals are no failures
    with database.read() as session:
        logged = json.dumps([e.detail for e in list_events(session, limit=1000)])
    assert PASSWORD not in logged and WRONG not in logged


def test_lockout_ends_after_the_window_and_refusals_do_not_extend_it(
    database: Database, actors: Actors, t0: datetime
) -> None:
    _fail(database, "clinician", t0)
    end = t0 + LOGIN_FAILURE_WINDOW
    assert _attempt(database, "clinician", PASSWORD, end - timedelta(seconds=1)).locked
    back = _attempt(database, "clinician", PASSWORD, end)
    assert back.user is not None and back.user.username == "clinician" and not back.locked


def test_unknown_username_is_throttled_like_a_known_one(
    database: Database, actors: Actors, t0: datetime
) -> None:
    _fail(database, "viewer", t0)
    _fail(database, "nobody", t0)
    later = t0 + timedelta(minutes=4)
    known = _attempt(database, "viewer", PASSWORD, later)
    unknown = _attempt(database, "NoBody", "anything at all", later)
    assert known.locked and unknown.locked
    assert (unknown.locked_until, unknown.message) == (known.locked_until, known.message)
    locked = {e.username: e for e in _events(database, "login_locked")}
    nobody = hashed_username("nobody", KEY)
    assert set(locked) == {"viewer", nobody} and locked[nobody].entity_id is None
    assert locked[nobody].detail == locked["viewer"].detail
    with database.read() as session:
        assert login_lockout(session, "NOBODY", name_key=KEY, now=later) is not None


def test_failures_before_a_success_do_not_count(
    database: Database, actors: Actors, t0: datetime
) -> None:
    _fail(database, "viewer", t0, count=MAX_FAILED_LOGINS - 1)
    assert _attempt(database, "viewer", PASSWORD, t0 + timedelta(seconds=10)).user is not None
    _fail(database, "viewer", t0 + timedelta(seconds=20), count=MAX_FAILED_LOGINS - 1)
    assert _attempt(database, "viewer", PASSWORD, t0 + timedelta(seconds=30)).user is not None
    # the success ended the count: four more failures do not lock, the fifth does
    _fail(database, "viewer", t0 + timedelta(seconds=40), count=MAX_FAILED_LOGINS)
    assert _attempt(database, "viewer", PASSWORD, t0 + timedelta(seconds=50)).locked
    # the audit log keeps every failure (append-only)
    assert len(_events(database, "login_failed")) == 3 * MAX_FAILED_LOGINS - 2


def test_failures_older_than_the_window_do_not_count(
    database: Database, actors: Actors, t0: datetime
) -> None:
    _fail(database, "viewer", t0, count=MAX_FAILED_LOGINS - 1)
    later = t0 + LOGIN_FAILURE_WINDOW + timedelta(seconds=5)
    _fail(database, "viewer", later, count=1)  # the 4 old ones have expired: no lock
    assert _attempt(database, "viewer", PASSWORD, later + timedelta(seconds=1)).user is not None


def test_parallel_attempts_from_several_processes_check_at_most_the_limit(
    database: Database, actors: Actors
) -> None:
    # two engines stand for two server processes; threads send the attempts at the same time
    url = database.engine.url.render_as_string(hide_password=False)
    other = Database(make_engine(url))
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            attempts = list(
                pool.map(
                    lambda index: _attempt(
                        (database, other)[index % 2], "viewer", WRONG, utc_now()
                    ),
                    range(2 * MAX_FAILED_LOGINS),
                )
            )
    finally:
        other.dispose()
    # the per-name lock makes the check and the recorded failure one step: never a sixth check
    assert sum(a.locked for a in attempts) == MAX_FAILED_LOGINS
    assert len(_events(database, "login_failed")) == MAX_FAILED_LOGINS
    assert len(_events(database, "login_locked")) == 1


def test_no_write_lock_is_held_while_the_password_is_hashed(
    database: Database, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the hash (0.25-0.8 s in production) blocks here until the other writer has committed
    hashing = threading.Event()
    release = threading.Event()
    real_verify = _users.verify_password  # type: ignore[attr-defined]

    def blocking_verify(password_hash: str, password: str) -> bool:
        hashing.set()
        assert release.wait(timeout=30), "the other writer never finished"
        return real_verify(password_hash, password)

    monkeypatch.setattr(_users, "verify_password", blocking_verify)
    with ThreadPoolExecutor(max_workers=1) as pool:
        login = pool.submit(attempt_login, database, "viewer", PASSWORD, name_key=KEY)
        assert hashing.wait(timeout=10)
        started = time.monotonic()
        # another connection writes (and commits) while the login is inside its hash
        url = database.engine.url.render_as_string(hide_password=False)
        other = Database(make_engine(url))
        try:
            writer = threading.Thread(target=_write_an_event, args=(other,))
            writer.start()
            writer.join(timeout=5)
            committed = not writer.is_alive()
        finally:
            release.set()
            writer.join()
            other.dispose()
        assert committed, "a write waited for the login's hash: the write lock was held"
        assert time.monotonic() - started < 5
        assert login.result().user is not None
    assert [e.action for e in _events(database, "login")] == ["login"]


def _write_an_event(database: Database) -> None:
    with database.transaction() as session:
        record_event(session, actor=None, action="view", entity_type="patient", entity_id=1)


def test_a_client_address_is_throttled_across_usernames(
    database: Database, actors: Actors, t0: datetime
) -> None:
    address = "192.0.2.7"
    names = [f"guess{index}" for index in range(MAX_FAILED_LOGINS_PER_ADDRESS)]
    for index, name in enumerate(names):  # one failure per name: no name is locked
        attempt = attempt_login(
            database,
            name,
            WRONG,
            name_key=KEY,
            source_address=address,
            now=t0 + timedelta(seconds=index),
        )
        assert attempt.user is None and not attempt.locked
    later = t0 + timedelta(minutes=1)
    refused = attempt_login(
        database, "viewer", PASSWORD, name_key=KEY, source_address=address, now=later
    )
    assert refused.locked and refused.locked_by == "address" and refused.user is None
    assert refused.locked_until == t0 + ADDRESS_FAILURE_WINDOW
    assert "from this network address" in refused.message
    # another address, and the same account from it, are not affected
    other = attempt_login(
        database, "viewer", PASSWORD, name_key=KEY, source_address="192.0.2.8", now=later
    )
    assert other.user is not None
    (event,) = [e for e in _events(database, "login_refused") if e.source_address == address]
    assert event.detail == {"reason": "address_locked", "until": refused.locked_until.isoformat()}
    with database.read() as session:
        assert address_lockout(session, address, now=later) == t0 + ADDRESS_FAILURE_WINDOW
        assert address_lockout(session, address, now=t0 + ADDRESS_FAILURE_WINDOW) is None
    # the lockout ends when the oldest failure leaves the window
    back = attempt_login(
        database,
        "viewer",
        PASSWORD,
        name_key=KEY,
        source_address=address,
        now=t0 + ADDRESS_FAILURE_WINDOW,
    )
    assert back.user is not None


def test_successful_logins_do_not_count_against_an_address(
    database: Database, actors: Actors, t0: datetime
) -> None:
    address = "192.0.2.9"
    for index in range(MAX_FAILED_LOGINS_PER_ADDRESS + 5):
        attempt = attempt_login(
            database,
            "viewer",
            PASSWORD,
            name_key=KEY,
            source_address=address,
            now=t0 + timedelta(seconds=index),
        )
        assert attempt.user is not None


def test_unknown_usernames_leave_no_trace_of_their_text(
    database: Database, actors: Actors, t0: datetime
) -> None:
    typed = "Tr0ub4dor&3-typed-in-the-wrong-field"
    for index in range(MAX_FAILED_LOGINS + 1):
        attempt_login(database, typed, "whatever", name_key=KEY, now=t0 + timedelta(seconds=index))
    with database.transaction() as session:
        authenticate(session, typed, "whatever", name_key=KEY, now=t0 + timedelta(minutes=1))
    with database.read() as session:
        rows = session.execute(text("SELECT * FROM audit_events")).all()
        locked = locked_usernames(session, now=t0 + timedelta(minutes=1))
    dump = json.dumps([[str(value) for value in row] for row in rows]).lower()
    assert "tr0ub4dor" not in dump and "wrong-field" not in dump
    hashed = hashed_username(typed, KEY)
    assert hashed.startswith("#") and len(hashed) == 33
    assert hashed_username(f"  {typed.upper()} ", KEY) == hashed  # as typed, any case
    assert hashed_username(typed, b"another key") != hashed
    assert set(locked) == {hashed}
    # known usernames stay readable
    attempt_login(database, "Viewer", WRONG, name_key=KEY, now=t0)
    assert "viewer" in {e.username for e in _events(database, "login_failed")}


def test_a_flood_waits_for_a_few_hashing_slots_and_is_turned_away(
    database: Database, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashing = threading.Semaphore(0)
    release = threading.Event()
    real_verify = _users.verify_password  # type: ignore[attr-defined]

    def blocking_verify(password_hash: str, password: str) -> bool:
        hashing.release()
        assert release.wait(timeout=30)
        return real_verify(password_hash, password)

    monkeypatch.setattr(_users, "verify_password", blocking_verify)
    slots = MAX_CONCURRENT_PASSWORD_CHECKS
    with ThreadPoolExecutor(max_workers=slots) as pool:
        running = [
            pool.submit(attempt_login, database, "viewer", PASSWORD, name_key=KEY)
            for _ in range(slots)
        ]
        for _ in range(slots):
            assert hashing.acquire(timeout=10)
        before = len(_events(database, LOGIN_ATTEMPT))
        busy = attempt_login(database, "clinician", PASSWORD, name_key=KEY, queue_timeout_s=0.2)
        assert busy.busy and busy.user is None and not busy.locked
        assert len(_events(database, LOGIN_ATTEMPT)) == before  # nothing recorded, nothing counted
        release.set()
        assert all(future.result().user is not None for future in running)
    assert attempt_login(database, "clinician", PASSWORD, name_key=KEY).user is not None
