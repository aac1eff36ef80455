"""The patient-record exchange format (``imatinib-tdm/patient-record``, version 2) as pydantic
models: one patient's identifiers and every episode with its case file, interpretations and
report versions. :mod:`imatinib_tdm.store._exchange` writes and reads it.

Reports refer to the interpretation they were built from by its position in the episode's
``interpretations`` list, and to the version they correct by version number, so that a record
moves between installations without database ids.

Version 2 adds ``imported_from`` to reports: the provenance of a report that the exporting
installation had itself imported (so that a chain of exports and imports keeps saying where a
report was validated). Version 1 files (without it) are still read.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from imatinib_tdm.case import Indication, Sex
from imatinib_tdm.store._models import (
    LABEL_LENGTH,
    MODEL_ID_LENGTH,
    MRN_LENGTH,
    NAME_LENGTH,
    EpisodeStatus,
)

__all__ = [
    "READABLE_VERSIONS",
    "RECORD_FORMAT",
    "RECORD_VERSION",
    "EpisodeRecord",
    "InterpretationRecord",
    "PatientIdentity",
    "PatientRecord",
    "ReportRecord",
]

RECORD_FORMAT = "imatinib-tdm/patient-record"
RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Record versions :func:`imatinib_tdm.store.import_patient` accepts."""
PROVENANCE_LENGTH = 4000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PatientIdentity(_Strict):
    """Identifiers and demographics of the patient."""

    mrn: str = Field(min_length=1, max_length=MRN_LENGTH)
    family_name: str = Field(min_length=1, max_length=NAME_LENGTH)
    given_name: str = Field(min_length=1, max_length=NAME_LENGTH)
    birth_date: date | None = None
    sex: Sex
    indication: Indication
    archived: bool = False


class InterpretationRecord(_Strict):
    """One stored interpretation: model, result JSON and the case it was computed on."""

    model_id: str = Field(min_length=1, max_length=MODEL_ID_LENGTH)
    created_at: AwareDatetime
    software_version: str = Field(default="", max_length=40)
    case: dict[str, Any]
    result: dict[str, Any]


class ReportRecord(_Strict):
    """One issued report version."""

    version: int = Field(ge=1)
    supersedes_version: int | None = Field(default=None, ge=1)
    interpretation: int = Field(ge=0, description="index in the episode's interpretations")
    issued_at: AwareDatetime
    validator_name: str = Field(min_length=1, max_length=NAME_LENGTH)
    correction_reason: str | None = None
    html: str = Field(min_length=1)
    pdf_base64: str = Field(min_length=1)
    pdf_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    imported_from: str | None = Field(
        default=None,
        max_length=PROVENANCE_LENGTH,
        description="version 2: provenance when the exporting installation had imported it",
    )


class EpisodeRecord(_Strict):
    """One TDM episode."""

    label: str = Field(min_length=1, max_length=LABEL_LENGTH)
    status: EpisodeStatus
    case: dict[str, Any]
    interpretations: list[InterpretationRecord] = Field(default_factory=list)
    reports: list[ReportRecord] = Field(default_factory=list)


class PatientRecord(_Strict):
    """The whole document."""

    format: Literal["imatinib-tdm/patient-record"]
    version: Literal[1, 2]
    exported_at: AwareDatetime | None = None
    software_version: str | None = None
    patient: PatientIdentity
    episodes: list[EpisodeRecord] = Field(default_factory=list)
