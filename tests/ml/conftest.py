"""Shared synthetic data for the ml tests (small, so the suite stays fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imatinib_tdm.ml import (
    TrainingData,
    generate_synthetic_cohort,
    load_training_data,
    write_synthetic_csv,
)


@pytest.fixture(scope="session")
def signal_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ml") / "signal.csv"
    return write_synthetic_csv(generate_synthetic_cohort(300, seed=3, signal=True), path)


@pytest.fixture(scope="session")
def signal_data(signal_csv: Path) -> TrainingData:
    return load_training_data(signal_csv)
