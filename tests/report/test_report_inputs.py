"""Inputs of the interpretation report: patient identifiers and validation state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imatinib_tdm.errors import CaseError
from imatinib_tdm.report import ReportPatient, ReportValidation


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": "issued", "validated_at": datetime(2026, 1, 1, tzinfo=UTC)}, "validator_name"),
        ({"status": "issued", "validator_name": "X"}, "validated_at"),
        ({"status": "final"}, "status"),
        ({"version": 0}, "version"),
        ({"version": 2, "supersedes_version": 2, "correction_reason": "x"}, "supersedes_version"),
        ({"version": 2, "supersedes_version": 1}, "correction_reason"),
    ],
)
def test_invalid_validation_names_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(CaseError) as info:
        ReportValidation(**fields)  # type: ignore[arg-type]
    assert info.value.field == f"validation.{field}"


def test_empty_patient_name_is_refused() -> None:
    with pytest.raises(CaseError, match="display_name"):
        ReportPatient("  ")


def test_valid_inputs() -> None:
    issued = ReportValidation(
        status="issued", validator_name="B", validated_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert issued.is_issued and not ReportValidation().is_issued
    assert ReportPatient("Jane Example").mrn is None
