"""Server-side sessions through the service: a copied cookie stops working after logout, a
password change or a deactivation; logout is audited; the session check runs on writes too."""

from __future__ import annotations

import json
import secrets
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path

import itsdangerous
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.service import Settings, create_app
from imatinib_tdm.store import list_events

from .conftest import PASSWORD, add_accounts, log_in

Client = Callable[[str], TestClient]
NEW_PASSWORD = "an entirely new passphrase"


def _copy(app: FastAPI, client: TestClient) -> TestClient:
    """Another client with the same cookie and CSRF header (a stolen or copied cookie)."""
    thief = TestClient(app, follow_redirects=False)
    thief.cookies.update(dict(client.cookies))
    thief.headers["X-CSRF-Token"] = client.headers["X-CSRF-Token"]
    return thief


def test_a_copied_cookie_stops_working_after_logout(app: FastAPI) -> None:
    clinician = log_in(app, "clinician")
    thief = _copy(app, clinician)
    assert thief.get("/api/auth/me").status_code == 200
    assert clinician.post("/api/auth/logout").status_code == 200
    assert thief.get("/api/auth/me").status_code == 401
    assert thief.get("/api/patients").status_code == 401
    new = {"mrn": "T-1", "family_name": "A", "given_name": "B"}
    assert thief.post("/api/patients", json=new).status_code == 401  # the write path too
    assert thief.get("/patients").status_code == 303  # pages: back to the login
    with app.state.database.read() as session:
        (event,) = list_events(session, action="logout")
    assert event.username == "clinician" and event.source_address == "testclient"


def test_the_logout_form_revokes_the_session(app: FastAPI) -> None:
    browser = log_in(app, "viewer")
    thief = _copy(app, browser)
    token = browser.headers["X-CSRF-Token"]
    assert (
        browser.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert thief.get("/patients").status_code == 303
    assert thief.get("/api/auth/me").status_code == 401


def test_a_copied_cookie_stops_working_after_a_password_change(app: FastAPI) -> None:
    clinician = log_in(app, "clinician")
    thief = _copy(app, clinician)
    changed = clinician.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert thief.get("/api/auth/me").status_code == 401
    # the client that changed it got a fresh session (new cookie, new CSRF token)
    assert changed.json()["csrf_token"] != thief.headers["X-CSRF-Token"]
    clinician.headers["X-CSRF-Token"] = changed.json()["csrf_token"]
    assert clinician.get("/api/auth/me").status_code == 200
    assert clinician.post("/api/auth/logout").status_code == 200
    other = TestClient(app)
    old = other.post("/api/auth/login", json={"username": "clinician", "password": PASSWORD})
    assert old.status_code == 401
    new = other.post("/api/auth/login", json={"username": "clinician", "password": NEW_PASSWORD})
    assert new.status_code == 200


def test_an_admin_reset_or_deactivation_ends_every_session(app: FastAPI) -> None:
    admin = log_in(app, "admin")
    viewer = log_in(app, "viewer")
    users = {u["username"]: u["id"] for u in admin.get("/api/users").json()}
    reset = admin.post(f"/api/users/{users['viewer']}/password", json={"password": NEW_PASSWORD})
    assert reset.status_code == 200, reset.text
    assert viewer.get("/api/auth/me").status_code == 401
    again = TestClient(app)
    assert (
        again.post(
            "/api/auth/login", json={"username": "viewer", "password": NEW_PASSWORD}
        ).status_code
        == 200
    )
    assert admin.post(f"/api/users/{users['viewer']}/deactivate").status_code == 200
    assert again.get("/api/auth/me").status_code == 401


def test_a_signed_cookie_without_a_server_side_session_is_anonymous(app: FastAPI) -> None:
    # before issue 12 the cookie held {"uid": ...}: correctly signed, it must no longer be enough
    signer = itsdangerous.TimestampSigner(app.state.settings.secret_key)
    forged = signer.sign(b64encode(json.dumps({"uid": 1, "csrf": "t"}).encode())).decode()
    client = TestClient(app, follow_redirects=False)
    client.cookies.set(app.state.settings.cookie_name, forged)
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/patients").status_code == 303
    # a session token that was never issued, signed with the right key, neither
    unknown = signer.sign(b64encode(json.dumps({"sid": "made-up", "csrf": "t"}).encode()))
    client.cookies.set(app.state.settings.cookie_name, unknown.decode())
    assert client.get("/api/auth/me").status_code == 401


def test_client_address_comes_from_a_trusted_proxy_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proxy.sqlite3'}"
    settings = Settings(
        database_url=url, secret_key=secrets.token_urlsafe(48), trusted_proxies="127.0.0.1, ::1"
    )
    assert settings.trusted_proxies == frozenset({"127.0.0.1", "::1"})
    app = create_app(settings)
    try:
        add_accounts(app)
        behind = TestClient(app, client=("127.0.0.1", 4000))
        spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        login = {"username": "viewer", "password": PASSWORD}
        assert behind.post("/api/auth/login", json=login, headers=spoofed).status_code == 200
        direct = TestClient(app, client=("192.0.2.50", 4000))
        assert direct.post("/api/auth/login", json=login, headers=spoofed).status_code == 200
        with app.state.database.read() as session:
            addresses = [e.source_address for e in list_events(session, action="login")]
        # the proxy's right-most entry is believed; a header from anyone else is ignored
        assert addresses == ["192.0.2.50", "203.0.113.9"]
    finally:
        app.state.database.dispose()
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(database_url=url, secret_key=secrets.token_urlsafe(48), trusted_proxies="proxy")
