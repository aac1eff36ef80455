"""The centre's model prior (``IMATINIB_TDM_MODEL_PRIOR``, issue 7) in the service's model
"auto": stated first under the assumptions, checked when the app starts."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imatinib_tdm.errors import CaseError
from imatinib_tdm.service import Settings, create_app
from imatinib_tdm.service.compute import configure_model_prior

from .conftest import PASSWORD, add_accounts


def _settings(tmp_path: Path, prior: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'prior.sqlite3'}",
        secret_key=secrets.token_urlsafe(48),
        model_prior_path=str(prior),
    )


def test_auto_uses_the_centre_prior(tmp_path: Path, case_json: dict[str, Any]) -> None:
    prior = tmp_path / "centre.json"
    # an evaluate --json output reduced to its prior: almost every patient fitted yamakawa2011
    prior.write_text(
        json.dumps({"centre_model_prior": {"yamakawa2011": 0.97, "widmer2006_covariate": 0.03}})
    )
    app = create_app(_settings(tmp_path, prior))
    add_accounts(app)
    try:
        client = TestClient(app)
        login = client.post("/api/auth/login", json={"username": "clinician", "password": PASSWORD})
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        answer = client.post("/api/interpret", json={"case": case_json, "model": "auto"})
    finally:
        configure_model_prior(None)  # process-wide: leave no prior to the other tests
    assert answer.status_code == 200, answer.text
    first = answer.json()["assumptions"][0]
    assert "centre prior" in first and "centre.json" in first
    assert answer.json()["model"]["id"] in ("yamakawa2011", "widmer2006_covariate")


def test_a_bad_prior_file_stops_the_app_at_start(tmp_path: Path) -> None:
    prior = tmp_path / "not-an-evaluation.json"
    prior.write_text(json.dumps({"ranking": []}))
    try:
        with pytest.raises(CaseError, match="centre_model_prior"):
            create_app(_settings(tmp_path, prior))
    finally:
        configure_model_prior(None)
