"""Login lockout after repeated failures per username (imatinib_tdm.store._users.attempt_login).

Time is passed as ``now``: the rule and the audit events it writes use that clock, so no test
sleeps. Runs on SQLite and, with IMATINIB_TDM_TEST_POSTGRES_URL, on PostgreSQL.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from imatinib_tdm.store import (
    LOGIN_FAILURE_WINDOW,
    MAX_FAILED_LOGINS,
    AuditEvent,
    Database,
    LoginAttempt,
    attempt_login,
    authenticate,
    list_events,
    locked_usernames,
    login_lockout,
    make_engine,
)
from imatinib_tdm.store._types import utc_now

from .conftest import PASSWORD, Actors

WRONG = "wrong password, long enough"


@pytest.fixture
def t0() -> datetime:
    """A start time at hh:mm:30, so that the lockout ends at hh:mm:30 too."""
    return utc_now().replace(second=30, microsecond=0)


def _attempt(database: Database, username: str, password: str, at: datetime) -> LoginAttempt:
    with database.transaction() as session:
        return attempt_login(session, username, password, now=at)


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
    assert set(locked) == {"viewer", "nobody"} and locked["nobody"].entity_id is None
    assert locked["nobody"].detail == locked["viewer"].detail


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
