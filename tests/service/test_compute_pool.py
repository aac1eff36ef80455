"""``POST /api/interpret`` through compute processes (``Settings.compute_processes``) answers
exactly as in the server process: same JSON, same errors (they cross the process boundary)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imatinib_tdm.service import Settings, create_app

from .conftest import PASSWORD, add_accounts


@pytest.mark.slow
def test_pool_answers_like_the_server_process(tmp_path: Path, case_json: dict[str, Any]) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pool.sqlite3'}",
        secret_key=secrets.token_urlsafe(48),
        compute_processes=1,
    )
    app = create_app(settings)
    add_accounts(app)
    with TestClient(app) as client:  # the context runs the lifespan: the pool starts and stops
        assert app.state.compute_pool is not None
        login = client.post("/api/auth/login", json={"username": "clinician", "password": PASSWORD})
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        pooled = client.post("/api/interpret", json={"case": case_json})
        assert pooled.status_code == 200, pooled.text
        auto = client.post("/api/interpret", json={"case": case_json, "model": "auto"})
        assert auto.status_code == 200, auto.text
        assert auto.json()["assumptions"][0].startswith("--model auto")
        bad = dict(case_json, samples=[{**case_json["samples"][0], "concentration": -5}])
        refused = client.post("/api/interpret", json={"case": bad})
        unknown = client.post("/api/interpret", json={"case": case_json, "model": "no_such"})
    assert app.state.compute_pool is None  # stopped with the app
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["case", "samples", 0, "concentration"]
    assert unknown.status_code == 422 and "model" in unknown.text

    in_process = create_app(settings.model_copy(update={"compute_processes": 0}))
    with TestClient(in_process) as client:
        login = client.post("/api/auth/login", json={"username": "clinician", "password": PASSWORD})
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        local = client.post("/api/interpret", json={"case": case_json})
    assert local.status_code == 200
    assert pooled.json() == local.json()
