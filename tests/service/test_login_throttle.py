"""Login lockout through the API (429 JSON) and the login form (429 page, username kept).

Logins here use the production argon2 parameters (~0.1-0.25 s each): the tests are kept few.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.store import LOGIN_FAILURE_WINDOW, MAX_FAILED_LOGINS, _users, list_events
from imatinib_tdm.store._types import utc_now

from .conftest import PASSWORD

WRONG = {"password": "not the password, long"}


def _fail_api(client: TestClient, username: str) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        answer = client.post("/api/auth/login", json={"username": username, **WRONG})
        assert answer.status_code == 401, answer.text


def test_api_locks_a_username_after_repeated_failures(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(app)
    _fail_api(client, "viewer")
    locked = client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert locked.status_code == 429
    detail = locked.json()["detail"]
    assert "Too many failed log-in attempts" in detail and re.search(r"until \d\d:\d\d UTC", detail)
    assert 0 < int(locked.headers["Retry-After"]) <= LOGIN_FAILURE_WINDOW.total_seconds()
    # another username is not affected
    other = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert other.status_code == 200
    # an unknown username is throttled the same way, with the same kind of answer
    _fail_api(client, "ghost")
    ghost = client.post("/api/auth/login", json={"username": "ghost", "password": PASSWORD})
    assert ghost.status_code == 429 and "Too many failed log-in attempts" in ghost.json()["detail"]
    with app.state.database.read() as session:
        actions = [(e.action, e.username) for e in list_events(session, limit=100)]
    assert actions.count(("login_locked", "viewer")) == 1
    assert actions.count(("login_locked", "ghost")) == 1
    assert ("login_refused", "viewer") in actions and ("login_refused", "ghost") in actions
    # after the window (the store's clock moved on) the right password works again
    later = utc_now() + LOGIN_FAILURE_WINDOW + timedelta(seconds=1)
    monkeypatch.setattr(_users, "utc_now", lambda: later)
    back = client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert back.status_code == 200, back.text


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the form"
    return match.group(1)


def test_login_form_shows_the_lockout_and_keeps_the_username(app: FastAPI) -> None:
    browser = TestClient(app, follow_redirects=False)
    page = browser.get("/login").text
    for _ in range(MAX_FAILED_LOGINS):
        form = {"username": "Clinician", "password": WRONG["password"], "csrf_token": _csrf(page)}
        answer = browser.post("/login", data=form)
        assert answer.status_code == 401
        page = answer.text
    form = {"username": "Clinician", "password": PASSWORD, "csrf_token": _csrf(page)}
    locked = browser.post("/login", data=form)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert re.search(r'id="login-error">Too many failed log-in attempts[^<]* UTC', locked.text)
    assert 'value="Clinician"' in locked.text  # the username stays, the password does not
    assert PASSWORD not in locked.text
    assert browser.get("/patients").status_code == 303  # not logged in
