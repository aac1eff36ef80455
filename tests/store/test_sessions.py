"""Server-side sessions (imatinib_tdm.store._sessions) and the password changes that end them
(imatinib_tdm.store._users: set_password, change_own_password, deactivate_user)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from imatinib_tdm.errors import CaseError
from imatinib_tdm.store import (
    Database,
    User,
    attempt_login,
    change_own_password,
    create_user,
    deactivate_user,
    end_session,
    find_session,
    get_user,
    list_events,
    list_sessions,
    prepare_password,
    reactivate_user,
    set_password,
    start_session,
    token_digest,
)
from imatinib_tdm.store._types import utc_now

from .conftest import PASSWORD, Actors

HOURS_8 = timedelta(hours=8)
NEW_PASSWORD = "an entirely new passphrase"


def _start(database: Database, user: User) -> tuple[int, str]:
    with database.transaction() as session:
        row, token = start_session(session, user=get_user(session, user.id), lifetime=HOURS_8)
        return row.id, token


def _valid(database: Database, token: str) -> bool:
    with database.read() as session:
        return find_session(session, token) is not None


def test_only_the_token_digest_is_stored(database: Database, actors: Actors) -> None:
    _, token = _start(database, actors.viewer)
    with database.read() as session:
        stored = session.execute(text("SELECT token_sha256 FROM user_sessions")).scalars().all()
        found = find_session(session, token)
    assert stored == [token_digest(token)] and token not in stored and len(token) >= 43
    assert found is not None and found[1].id == actors.viewer.id


def test_a_session_ends_at_logout_expiry_or_deactivation(
    database: Database, actors: Actors
) -> None:
    session_id, token = _start(database, actors.viewer)
    with database.read() as session:
        assert find_session(session, token, now=utc_now() + HOURS_8 + timedelta(seconds=1)) is None
        assert find_session(session, "not a token") is None and find_session(session, None) is None
    with database.transaction() as session:
        ended = end_session(session, token, source_address="192.0.2.1")
    assert ended is not None and ended.revoked_reason == "logout" and not _valid(database, token)
    with database.read() as session:
        (event,) = list_events(session, action="logout")
    assert (event.user_id, event.detail, event.source_address) == (
        actors.viewer.id,
        {"session_id": session_id},
        "192.0.2.1",
    )
    with database.transaction() as session:
        assert end_session(session, token) is None  # already ended: nothing recorded twice
    _, second = _start(database, actors.viewer)
    with database.transaction() as session:
        deactivate_user(session, actors.viewer.id, actor=actors.admin)
        event = list_events(session, action="deactivate", limit=1)[0]
    assert event.detail == {"sessions_revoked": 1}
    with database.transaction() as session:
        reactivate_user(session, actors.viewer.id, actor=actors.admin)
    assert not _valid(database, second)  # reactivation does not bring sessions back


def test_a_password_change_revokes_the_sessions(database: Database, actors: Actors) -> None:
    kept_id, kept = _start(database, actors.viewer)
    _, copied = _start(database, actors.viewer)
    _, other_user = _start(database, actors.clinician)
    with database.transaction() as session:
        viewer = get_user(session, actors.viewer.id)
        set_password(session, viewer.id, NEW_PASSWORD, actor=viewer, keep_session_id=kept_id)
        event = list_events(session, action="set_password", limit=1)[0]
    assert event.detail == {"sessions_revoked": 1}
    assert _valid(database, kept) and not _valid(database, copied) and _valid(database, other_user)
    # an admin's reset ends every session of the account
    with database.transaction() as session:
        set_password(session, actors.viewer.id, PASSWORD, actor=actors.admin)
    assert not _valid(database, kept)
    with pytest.raises(ValueError, match="keep_session_id"), database.transaction() as session:
        set_password(session, actors.viewer.id, NEW_PASSWORD, actor=actors.admin, keep_session_id=1)


def test_change_own_password_checks_the_current_one(database: Database, actors: Actors) -> None:
    kept_id, kept = _start(database, actors.clinician)
    _, copied = _start(database, actors.clinician)
    with pytest.raises(CaseError, match="current_password: wrong") as wrong:
        change_own_password(database, actors.clinician.id, "not my password!", NEW_PASSWORD)
    assert wrong.value.field == "current_password"
    with pytest.raises(CaseError, match="new_password: too common") as weak:
        change_own_password(database, actors.clinician.id, PASSWORD, "Password2024!")
    assert weak.value.field == "new_password"
    with pytest.raises(CaseError, match="username") as named:
        change_own_password(database, actors.clinician.id, PASSWORD, "clinician is my name")
    assert named.value.field == "new_password"
    with pytest.raises(CaseError, match="the same as the current"):
        change_own_password(database, actors.clinician.id, PASSWORD, PASSWORD)
    change_own_password(
        database, actors.clinician.id, PASSWORD, NEW_PASSWORD, keep_session_id=kept_id
    )
    assert _valid(database, kept) and not _valid(database, copied)
    assert attempt_login(database, "clinician", NEW_PASSWORD, name_key=None).user is not None
    assert attempt_login(database, "clinician", PASSWORD, name_key=None).user is None
    with database.read() as session:
        failed = list_events(session, action="set_password_failed")
        logged = " ".join(str(e.detail) for e in list_events(session, limit=1000))
    assert [(e.user_id, e.detail) for e in failed] == [
        (actors.clinician.id, {"reason": "wrong_password"})
    ]
    assert NEW_PASSWORD not in logged and "not my password!" not in logged


def test_login_starts_a_server_side_session(database: Database, actors: Actors) -> None:
    attempt = attempt_login(database, "viewer", PASSWORD, name_key=None, session_lifetime=HOURS_8)
    assert attempt.user is not None and attempt.session_token and attempt.session_id
    with database.read() as session:
        (row,) = list_sessions(session, actors.viewer.id)
    assert row.id == attempt.session_id and row.expires_at - row.created_at == HOURS_8
    assert attempt.session_token not in repr(attempt)


def test_new_passwords_are_checked_with_the_username(database: Database, actors: Actors) -> None:
    with pytest.raises(CaseError, match="username"), database.transaction() as session:
        create_user(
            session,
            username="maria.rossi",
            password="Maria.Rossi-2024",
            role="viewer",
            full_name="Maria Rossi",
            actor=actors.admin,
        )
    prepared = prepare_password("lamp river orchard", username="Maria.Rossi")
    assert "password_hash" not in repr(prepared)
    with database.transaction() as session:
        user = create_user(
            session,
            username="maria.rossi",
            password=prepared,
            role="viewer",
            full_name="Maria Rossi",
            actor=actors.admin,
        )
    with pytest.raises(CaseError, match="another username"), database.transaction() as session:
        set_password(session, actors.viewer.id, prepared, actor=actors.admin)
    assert attempt_login(database, "maria.rossi", "lamp river orchard", name_key=None).user
    assert user.username == "maria.rossi"
