"""The centre's triage classifier in POST /api/interpret at a first visit (issue 6).

The ``app`` fixture is overridden here: an app whose settings name a triage classifier.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.ml import (
    generate_synthetic_cohort,
    load_training_data,
    save_triage_model,
    train_triage_model,
    write_synthetic_csv,
)
from imatinib_tdm.service import create_app
from imatinib_tdm.service.settings import Settings


@pytest.fixture(scope="module")
def triage_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("triage")
    csv = write_synthetic_csv(generate_synthetic_cohort(150, seed=3), folder / "cohort.csv")
    model, _ = train_triage_model(
        load_training_data(csv), candidates=["logistic"], outer_folds=3, n_bootstrap=20, fast=True
    )
    return save_triage_model(model, folder / "triage.json")


@pytest.fixture
def app(tmp_path: Path, _template_database: Path, triage_file: Path) -> Iterator[FastAPI]:
    shutil.copyfile(_template_database, tmp_path / "service.sqlite3")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'service.sqlite3'}",
        secret_key=secrets.token_urlsafe(48),
        triage_model_path=str(triage_file),
    )
    application = create_app(settings)
    yield application
    application.state.database.dispose()
    create_app(Settings(database_url="sqlite://", secret_key=secrets.token_urlsafe(48)))


def demo_case_json() -> dict[str, Any]:
    data: dict[str, Any] = load_demo_case("demo-001").model_dump(mode="json")
    return data


def _first_visit(**patient: Any) -> dict[str, Any]:
    case = demo_case_json()
    case["samples"] = []
    case["patient"].update(patient)
    case["covariates"].update(rbc_10e12_per_l=4.2, plt_10e9_per_l=240, neutrophils_pct=60)
    return case


def test_first_visit_gets_the_triage(client_as: Callable[[str], TestClient]) -> None:
    client = client_as("clinician")
    answer = client.post("/api/interpret", json={"case": _first_visit(metastatic_site="liver")})
    assert answer.status_code == 200, answer.text
    codes = [f["code"] for f in answer.json()["findings"]]
    assert "ml_triage" in codes and "tdm_priority" in codes


def test_missing_feature_is_an_assumption_not_an_error(
    client_as: Callable[[str], TestClient],
) -> None:
    client = client_as("clinician")
    answer = client.post("/api/interpret", json={"case": _first_visit()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "ml_triage" not in [f["code"] for f in body["findings"]]
    assert any("ML triage not run" in a and "metastatic" in a for a in body["assumptions"])


def test_a_level_makes_the_triage_irrelevant(client_as: Callable[[str], TestClient]) -> None:
    client = client_as("clinician")
    case = demo_case_json()
    case["patient"]["metastatic_site"] = "liver"
    answer = client.post("/api/interpret", json={"case": case})
    assert "ml_triage" not in [f["code"] for f in answer.json()["findings"]]
