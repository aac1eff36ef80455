"""Request and response models of the JSON API (strict pydantic, one class per role).

Requests are strict (no string-to-number coercion, unknown fields refused) so that what the
OpenAPI schema documents is exactly what is accepted. A case travels as the case-file JSON
format (``docs/case-file.md``); it is validated by :func:`imatinib_tdm.case.parse_case`, whose
tolerant reading of case files (case-insensitive choices, units spelled several ways) is the
product's documented format, so its schema here is a plain JSON object.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from imatinib_tdm.case import (
    MAX_INTERVAL_H,
    MAX_SINGLE_ADMINISTRATION_MG,
    MIN_INTERVAL_H,
    plain_text,
)

__all__ = [
    "MAX_ID",
    "AuditEventOut",
    "CaseBody",
    "EpisodeIn",
    "EpisodeInterpretRequest",
    "EpisodeOut",
    "EpisodeUpdate",
    "InterpretRequest",
    "LoginRequest",
    "LoginResponse",
    "PatientIn",
    "PatientOut",
    "PatientUpdate",
    "RegimenChoice",
    "ReportIssueRequest",
    "ReportOut",
    "SimulateRequest",
    "Text",
    "WhatIfRequest",
]

_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_CASE_DESCRIPTION = (
    "a TDM case in the case-file JSON format (patient, covariates, doses, samples, "
    "comedications; see docs/case-file.md and schemas/case.schema.json)"
)


# Bounds of integers: ids and revisions fit a 32-bit column (and a 4,300-digit number can no
# longer reach int-to-text conversion, which raised ValueError: a 500).
MAX_ID = 2**31 - 1
"""Largest record id or revision accepted in a request."""

# NUL (PostgreSQL refuses it in text) and other controls, and lone surrogates (no UTF-8 for
# them): refused in every text field of a request, with the position only, never the text
Text = Annotated[str, AfterValidator(plain_text)]
"""Request text without control characters (tab and line breaks allowed) or lone surrogates."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class LoginRequest(_Strict):
    """Credentials for ``POST /api/auth/login``."""

    username: Text = Field(min_length=1, max_length=128)
    password: Text = Field(min_length=1, max_length=1024)


class LoginResponse(_Out):
    """The logged-in user and the CSRF token to send as ``X-CSRF-Token`` on API writes."""

    username: str
    role: str
    csrf_token: str


class CaseBody(_Strict):
    """Fields shared by the requests that take a case."""

    case: dict[str, Any] = Field(description=_CASE_DESCRIPTION)
    model: Text | None = Field(
        default=None,
        pattern=_ID_PATTERN,
        description="model id from GET /api/models, or 'auto' (POST /api/interpret: the library "
        "model that fits the patient's levels best); default: the service's default model",
    )
    target: Text | None = Field(
        default=None, pattern=_ID_PATTERN, description="target id (data/targets.yaml)"
    )
    alert: Text | None = Field(
        default=None, pattern=_ID_PATTERN, description="high-level alert id (data/targets.yaml)"
    )
    probability: float = Field(
        default=0.8, gt=0.0, lt=1.0, description="required probability of reaching the target"
    )
    seed: int = Field(default=20261126, ge=0, le=2**32 - 1, description="random seed")


class InterpretRequest(CaseBody):
    """``POST /api/interpret``: a case in, the interpretation out."""


class RegimenChoice(_Strict):
    """A regimen to look at: ``dose_mg`` every ``interval_h`` hours."""

    dose_mg: float = Field(gt=0, le=MAX_SINGLE_ADMINISTRATION_MG, description="mg per dose")
    interval_h: float = Field(ge=MIN_INTERVAL_H, le=MAX_INTERVAL_H, description="hours")


class WhatIfRequest(CaseBody):
    """``POST /api/whatif``: predicted steady-state troughs of the allowed regimens for a case.

    ``regimens`` narrows the table to these (each must be one of the allowed regimens, made of
    whole tablets per the dosing rules); empty means all of them.
    """

    regimens: list[RegimenChoice] = Field(default_factory=list, max_length=20)


class SimulateRequest(_Strict):
    """``POST /api/simulate``: typical-individual profile of a regular regimen (as the CLI)."""

    model: Text | None = Field(default=None, pattern=_ID_PATTERN)
    dose_mg: float = Field(default=400.0, gt=0, le=MAX_SINGLE_ADMINISTRATION_MG)
    interval_h: float = Field(default=24.0, ge=MIN_INTERVAL_H, le=MAX_INTERVAL_H)
    n_doses: int = Field(default=15, ge=1, le=1000)
    times_h: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0],
        min_length=1,
        max_length=2000,
        description="times, h since the first dose (>= 0)",
    )
    covariates: dict[Annotated[Text, Field(max_length=64)], float] = Field(
        default_factory=dict,
        max_length=50,
        description="covariate name -> value in the model's units",
    )


class PatientIn(_Strict):
    """A new patient."""

    mrn: Text = Field(min_length=1, max_length=64, description="medical record number")
    family_name: Text = Field(min_length=1, max_length=128)
    given_name: Text = Field(min_length=1, max_length=128)
    birth_date: str | None = Field(default=None, pattern=_DATE_PATTERN, description="YYYY-MM-DD")
    sex: str = Field(default="unknown", pattern=r"^(female|male|unknown)$")
    indication: str = Field(default="GIST", pattern=r"^(GIST|CML|other)$")


class PatientUpdate(_Strict):
    """Changes to a patient; fields left out are kept."""

    mrn: Text | None = Field(default=None, min_length=1, max_length=64)
    family_name: Text | None = Field(default=None, min_length=1, max_length=128)
    given_name: Text | None = Field(default=None, min_length=1, max_length=128)
    birth_date: str | None = Field(default=None, pattern=_DATE_PATTERN, description="YYYY-MM-DD")
    sex: str | None = Field(default=None, pattern=r"^(female|male|unknown)$")
    indication: str | None = Field(default=None, pattern=r"^(GIST|CML|other)$")


class PatientOut(_Out):
    """A patient as the API returns it."""

    id: int
    mrn: str
    family_name: str
    given_name: str
    birth_date: date | None
    sex: str
    indication: str
    archived: bool


class EpisodeIn(_Strict):
    """A new TDM episode of a patient: its case and a label."""

    label: Text = Field(default="", max_length=200)
    case: dict[str, Any] = Field(description=_CASE_DESCRIPTION)


class EpisodeUpdate(_Strict):
    """A changed case; ``expected_revision`` (required) guards against overwriting someone's
    change: the revision the edit was made on, as returned by the GET (409 when the episode has
    moved on since).

    After a report was issued the data can only be amended with a ``reason`` (a correction).
    """

    case: dict[str, Any] = Field(description=_CASE_DESCRIPTION)
    label: Text | None = Field(default=None, max_length=200)
    expected_revision: int = Field(
        ge=0,
        le=MAX_ID,
        description="the episode's revision this edit was made on (from GET); required",
    )
    reason: Text | None = Field(
        default=None, min_length=1, max_length=2000, description="required to amend"
    )


class EpisodeInterpretRequest(_Strict):
    """Interpret an episode's current case and store the result."""

    model: Text | None = Field(default=None, pattern=_ID_PATTERN)
    target: Text | None = Field(default=None, pattern=_ID_PATTERN)
    alert: Text | None = Field(default=None, pattern=_ID_PATTERN)


class EpisodeOut(_Out):
    """An episode as the API returns it."""

    id: int
    patient_id: int
    label: str
    status: str
    revision: int
    case: dict[str, Any]


class ReportIssueRequest(_Strict):
    """Issue (or correct) the report of an episode from its latest interpretation."""

    reason: Text | None = Field(
        default=None, max_length=2000, description="required for a correction"
    )


class ReportOut(_Out):
    """A stored report (metadata; the HTML and PDF have their own URLs)."""

    id: int
    episode_id: int
    version: int
    supersedes_id: int | None
    validated_here: bool = Field(
        description="issued and validated by a user of this service; false for an imported report"
    )
    validator_name: str | None = Field(
        description="the validating user of this service; null for an imported report (see "
        "imported_from)"
    )
    validation: str = Field(description="who validated the report, as the pages show it")
    imported_from: str | None = Field(
        description="provenance of an imported report (where, when, by whom it was imported, and "
        "who validated it elsewhere according to the file); null for a report issued here"
    )
    issued_at: datetime | None
    html_url: str
    pdf_url: str


class AuditEventOut(_Out):
    """One audit event (who, what, when)."""

    id: int
    at: datetime | None
    actor: str | None
    action: str
    entity_type: str
    entity_id: str | None
    patient_id: int | None
