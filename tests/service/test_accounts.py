"""Account pages and API: one's own password (/account), account management for admins
(/users, /api/users): role-checked, CSRF-protected, audited, escaped."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.store import list_events

from .conftest import PASSWORD, log_in

Client = Callable[[str], TestClient]
NEW_PASSWORD = "an entirely new passphrase"
HOSTILE_NAME = '<script>alert("x")</script><b>Bold</b>'


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the form"
    return match.group(1)


def _ids(client: TestClient) -> dict[str, int]:
    return {u["username"]: u["id"] for u in client.get("/api/users").json()}


def test_own_password_page_requires_the_current_password(app: FastAPI) -> None:
    browser = log_in(app, "clinician")
    browser.follow_redirects = False
    del browser.headers["X-CSRF-Token"]  # a browser: the token travels in the form
    page = browser.get("/account")
    assert page.status_code == 200 and 'action="/account/password"' in page.text
    token = _csrf(page.text)
    form = {"current_password": "not my password!", "new_password": NEW_PASSWORD,
            "repeat_password": NEW_PASSWORD, "csrf_token": token}  # fmt: skip
    wrong = browser.post("/account/password", data=form)
    assert wrong.status_code == 422 and "current_password: wrong password" in wrong.text
    weak = browser.post(
        "/account/password",
        data={
            **form,
            "current_password": PASSWORD,
            "new_password": "password1234",
            "repeat_password": "password1234",
        },
    )
    assert weak.status_code == 422 and "too common" in weak.text
    differ = browser.post(
        "/account/password", data={**form, "current_password": PASSWORD, "repeat_password": "x"}
    )
    assert differ.status_code == 422 and "differ" in differ.text
    no_csrf = browser.post("/account/password", data={**form, "csrf_token": "forged"})
    assert no_csrf.status_code == 403
    done = browser.post("/account/password", data={**form, "current_password": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
    assert "Your password was changed" in browser.get(done.headers["location"]).text  # new session
    with app.state.database.read() as session:
        actions = [e.action for e in list_events(session, limit=100)]
    assert actions.count("set_password") == 1 and actions.count("set_password_failed") == 1
    fresh = TestClient(app)
    login = {"username": "clinician", "password": NEW_PASSWORD}
    assert fresh.post("/api/auth/login", json=login).status_code == 200


def test_only_admins_see_and_use_the_account_pages(app: FastAPI, client_as: Client) -> None:
    admin = client_as("admin")
    ids = _ids(admin)
    for role in ("viewer", "clinician", "pharmacologist"):
        client = client_as(role)
        client.follow_redirects = False
        token = client.headers["X-CSRF-Token"]
        assert client.get("/users").status_code == 403
        assert client.get("/api/users").status_code == 403
        for path in ("/role", "/password", "/deactivate", "/reactivate"):
            url = f"/users/{ids['viewer']}{path}"
            data = {"csrf_token": token, "role": "admin", "password": NEW_PASSWORD}
            assert client.post(url, data=data).status_code == 403, (role, path)
            assert client.post(f"/api{url}", json={"role": "admin"}).status_code in (403, 422)
        assert client.post("/api/users", json={}).status_code in (403, 422)
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get("/users").status_code == 303
    assert anonymous.get("/api/users").status_code == 401


def test_admin_manages_accounts_through_the_pages(app: FastAPI) -> None:
    admin = log_in(app, "admin")
    admin.follow_redirects = False
    page = admin.get("/users")
    del admin.headers["X-CSRF-Token"]  # a browser: the token travels in the form
    forged = admin.post("/users", data={"username": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert page.status_code == 200 and "clinician" in page.text
    token = _csrf(page.text)
    created = admin.post(
        "/users",
        data={
            "username": "new.nurse",
            "full_name": HOSTILE_NAME,
            "role": "viewer",
            "password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert created.status_code == 303, created.text
    listing = admin.get("/users").text
    assert "<script>alert" not in listing and "&lt;script&gt;" in listing  # escaped
    ids = _ids(admin)
    weak = admin.post(
        "/users",
        data={
            "username": "second",
            "full_name": "S",
            "role": "viewer",
            "password": "Password2024!",
            "csrf_token": token,
        },
    )
    assert weak.status_code == 422 and "too common" in weak.text
    taken = admin.post(
        "/users",
        data={
            "username": "new.nurse",
            "full_name": "S",
            "role": "viewer",
            "password": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert taken.status_code == 409 and "already taken" in taken.text
    nurse = ids["new.nurse"]
    assert admin.post(f"/users/{nurse}/role", data={"role": "clinician", "csrf_token": token}
                      ).status_code == 303  # fmt: skip
    bad_role = admin.post(f"/users/{nurse}/role", data={"role": "god", "csrf_token": token})
    assert bad_role.status_code == 422
    nurse_client = TestClient(app)
    login = {"username": "new.nurse", "password": NEW_PASSWORD}
    assert nurse_client.post("/api/auth/login", json=login).json()["role"] == "clinician"
    reset = admin.post(
        f"/users/{nurse}/password", data={"password": "lamp river orchard", "csrf_token": token}
    )
    assert reset.status_code == 303
    assert nurse_client.get("/api/auth/me").status_code == 401  # the reset ended its session
    assert admin.post(f"/users/{nurse}/deactivate", data={"csrf_token": token}).status_code == 303
    assert "deactivated" in admin.get("/users").text
    again = {"username": "new.nurse", "password": "lamp river orchard"}
    assert TestClient(app).post("/api/auth/login", json=again).status_code == 401
    assert admin.post(f"/users/{nurse}/reactivate", data={"csrf_token": token}).status_code == 303
    assert TestClient(app).post("/api/auth/login", json=again).status_code == 200
    last_admin = admin.post(f"/users/{ids['admin']}/deactivate", data={"csrf_token": token})
    assert last_admin.status_code == 409 and "last active admin" in last_admin.text
    with app.state.database.read() as session:
        actions = {e.action for e in list_events(session, limit=200)}
    assert {"create", "set_role", "set_password", "deactivate", "restore"} <= actions


def test_admin_manages_accounts_through_the_api(app: FastAPI) -> None:
    admin = log_in(app, "admin")
    created = admin.post(
        "/api/users",
        json={
            "username": "Lab.Tech",
            "full_name": "Lab Tech",
            "role": "viewer",
            "password": NEW_PASSWORD,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["username"] == "lab.tech" and "password_hash" not in body
    user_id = body["id"]
    assert admin.post(f"/api/users/{user_id}/role", json={"role": "clinician"}).json()["role"] == (
        "clinician"
    )
    weak = admin.post(f"/api/users/{user_id}/password", json={"password": "lab.tech-secret"})
    assert weak.status_code == 422 and "username" in weak.text
    assert admin.post(f"/api/users/{user_id}/deactivate").json()["is_active"] is False
    assert admin.post(f"/api/users/{user_id}/reactivate").json()["is_active"] is True
    assert admin.post("/api/users/999999/deactivate").status_code == 404
    no_csrf = TestClient(app)
    no_csrf.cookies.update(dict(admin.cookies))
    assert no_csrf.post(f"/api/users/{user_id}/deactivate").status_code == 403
