"""Authentication, authorisation on every route, CSRF, cookies, audit, and logs without
patient data."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from imatinib_tdm.service.server import QueryStringFilter, log_config
from imatinib_tdm.service.settings import SECRET_KEY_ENV, Settings, load_or_create_secret_key
from imatinib_tdm.store import list_events

from .conftest import PASSWORD

Client = Callable[[str], TestClient]
PUBLIC = {"/api/health", "/api/auth/login", "/login", "/openapi.json", "/docs", "/redoc",
          "/docs/oauth2-redirect", "/vendor/plotly.min.js", "/"}  # fmt: skip


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(app.router.routes):
        path = getattr(context.route, "path", "")
        for method in getattr(context.route, "methods", None) or ():
            if method != "HEAD" and path not in PUBLIC and not path.startswith("/static"):
                found.append((method, path))
    return sorted(found)


def test_anonymous_requests_get_nothing(
    app: FastAPI, anonymous: TestClient, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, episode_id = patient_with_episode
    routes = _routes(app)
    assert len(routes) > 30
    ids = {"patient_id": patient_id, "episode_id": episode_id, "report_id": 1, "user_id": 1,
           "model_id": "widmer2006_base"}  # fmt: skip
    for method, path in routes:
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        answer = anonymous.request(method, url, json={})
        if path.startswith("/api/"):
            assert answer.status_code == 401, (method, path, answer.status_code)
        else:
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"] == "/login"
        assert "MRN-0001" not in answer.text and "Muster" not in answer.text


def test_roles_are_enforced(
    client_as: Client, patient_with_episode: tuple[int, int], case_json: dict[str, object]
) -> None:
    patient_id, episode_id = patient_with_episode
    viewer, clinician, pharmacologist = (
        client_as(r) for r in ("viewer", "clinician", "pharmacologist")
    )
    new = {"mrn": "V-1", "family_name": "A", "given_name": "B"}
    assert viewer.post("/api/patients", json=new).status_code == 403
    assert viewer.get(f"/api/patients/{patient_id}").status_code == 200
    episode_url = f"/api/patients/{patient_id}/episodes/{episode_id}"
    assert viewer.put(episode_url, json={"case": case_json}).status_code == 403
    assert viewer.post(episode_url + "/interpretations", json={}).status_code == 403
    assert clinician.post(episode_url + "/interpretations", json={}).status_code == 201
    report_url = f"/api/episodes/{episode_id}/reports"
    assert viewer.post(report_url, json={}).status_code == 403
    assert clinician.post(report_url, json={}).status_code == 403
    assert pharmacologist.post(report_url, json={}).status_code == 201
    # pages: a viewer sees no edit form and cannot post one
    assert viewer.get("/patients/new", follow_redirects=False).status_code == 403
    form = viewer.post(
        f"/episodes/{episode_id}/reports", data={"csrf_token": viewer.headers["X-CSRF-Token"]}
    )
    assert form.status_code == 403


def test_writes_need_the_csrf_token(client_as: Client, case_json: dict[str, object]) -> None:
    client = client_as("clinician")
    token = client.headers.pop("X-CSRF-Token")
    new = {"mrn": "C-1", "family_name": "A", "given_name": "B"}
    assert client.post("/api/patients", json=new).status_code == 403
    assert client.post("/api/patients", json=new, headers={"X-CSRF-Token": "x"}).status_code == 403
    assert (
        client.post("/api/patients", json=new, headers={"X-CSRF-Token": token}).status_code == 201
    )
    form = {**new, "mrn": "C-2"}
    assert client.post("/patients/new", data=form).status_code == 403
    posted = client.post(
        "/patients/new", data={**form, "csrf_token": token}, follow_redirects=False
    )
    assert posted.status_code == 303


def test_login_sets_a_protected_cookie_and_audits(app: FastAPI) -> None:
    client = TestClient(app)
    wrong = client.post("/api/auth/login", json={"username": "viewer", "password": "nope" * 4})
    assert wrong.status_code == 401
    right = client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    client.headers["X-CSRF-Token"] = right.json()["csrf_token"]
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    with app.state.database.transaction() as session:
        actions = [e.action for e in list_events(session, limit=20)]
    assert "login_failed" in actions and "login" in actions
    assert client.post("/api/auth/logout").status_code == 200
    assert client.get("/api/auth/me").status_code == 401


def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    from imatinib_tdm.service import create_app

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", secret_key="k" * 40, cookie_secure=True
    )
    client = TestClient(create_app(settings), base_url="https://testserver")
    client.get("/login")
    assert client.cookies  # a session (with its CSRF token) was started
    login_page = client.get("/login")
    assert login_page.status_code == 200
    jar = list(client.cookies.jar)
    assert jar and all(c.secure for c in jar)


def test_views_of_patient_data_are_audited(
    app: FastAPI, client_as: Client, patient_with_episode: tuple[int, int]
) -> None:
    patient_id, episode_id = patient_with_episode
    viewer = client_as("viewer")
    viewer.get(f"/api/patients/{patient_id}")
    viewer.get(f"/patients/{patient_id}")
    viewer.get(f"/episodes/{episode_id}")
    with app.state.database.transaction() as session:
        events = list_events(session, patient_id=patient_id, action="view", limit=50)
        seen = {(e.username, e.entity_type) for e in events}
    assert ("viewer", "patient") in seen and ("viewer", "episode") in seen


def test_access_log_drops_query_strings() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/patients?q=Muster", "1.1", 200), None,
    )  # fmt: skip
    assert QueryStringFilter().filter(record)
    assert "Muster" not in record.getMessage() and "/patients" in record.getMessage()
    assert log_config()["handlers"]["access"]["filters"] == ["no_query"]


def test_secret_key_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    key = load_or_create_secret_key(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600 and len(key) >= 32
    assert load_or_create_secret_key(tmp_path) == key
    monkeypatch.setenv(SECRET_KEY_ENV, "short")
    with pytest.raises(ValueError, match="too short"):
        load_or_create_secret_key(tmp_path)


def test_security_headers(anonymous: TestClient) -> None:
    headers = anonymous.get("/login").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
