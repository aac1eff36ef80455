"""Save/load round trip, tamper and version checks, per-patient contributions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logit

from imatinib_tdm.errors import TriageModelFileError
from imatinib_tdm.ml import (
    TrainingData,
    TriageModel,
    load_triage_model,
    predict_triage,
    save_triage_model,
    train_triage_model,
)


@pytest.fixture(scope="module", params=["logistic", "xgboost"])
def trained(request: pytest.FixtureRequest, signal_data: TrainingData) -> TriageModel:
    model, _ = train_triage_model(
        signal_data, candidates=[request.param], outer_folds=3, n_bootstrap=20, fast=True
    )
    return model


def test_round_trip_gives_identical_predictions(
    trained: TriageModel, signal_data: TrainingData, tmp_path: Path
) -> None:
    path = save_triage_model(trained, tmp_path / "model.json")
    loaded = load_triage_model(path, training_data_sha256=signal_data.sha256)
    assert np.array_equal(
        trained.predict_probability(signal_data.x), loaded.predict_probability(signal_data.x)
    )
    assert loaded.card["training_data"]["synthetic"] is True


def test_contributions_add_up_to_the_log_odds(
    trained: TriageModel, signal_data: TrainingData
) -> None:
    base, terms = trained.contributions(signal_data.x)
    probability = trained.predict_probability(signal_data.x)
    assert np.allclose(base + terms.sum(axis=1), logit(probability), atol=1e-4)
    prediction = predict_triage(trained, signal_data.x[:1])[0]
    assert prediction.priority in {"high", "medium", "low"}
    assert prediction.synthetic_model


def test_tampered_file_is_refused(trained: TriageModel, tmp_path: Path) -> None:
    path = save_triage_model(trained, tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["card"]["training_data"]["n_patients"] = 10_000
    path.write_text(json.dumps(document))
    with pytest.raises(TriageModelFileError, match="damaged or edited"):
        load_triage_model(path)


def test_version_mismatch_is_refused(trained: TriageModel, tmp_path: Path) -> None:
    path = save_triage_model(trained, tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["package_version"] = "0.0.0-other"
    path.write_text(json.dumps(document))
    with pytest.raises(TriageModelFileError, match="retrain"):
        load_triage_model(path)
    document["format_version"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(TriageModelFileError, match="format version"):
        load_triage_model(path)


def test_other_training_data_is_refused(trained: TriageModel, tmp_path: Path) -> None:
    path = save_triage_model(trained, tmp_path / "model.json")
    with pytest.raises(TriageModelFileError, match="trained on data"):
        load_triage_model(path, training_data_sha256="0" * 64)
