"""Report rendering for the service: the report layer's HTML and PDF of an interpretation.

The service only gathers what the report prints (case, interpretation, model, the patient's
identifiers from the store, the validating pharmacologist and time) and hands it to
:mod:`imatinib_tdm.report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from imatinib_tdm.case import Case
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.report import (
    ReportPatient,
    ReportValidation,
    html_to_pdf,
    render_interpretation_html,
)
from imatinib_tdm.tdm import Interpretation

__all__ = ["ReportFacts", "render_report_html", "render_report_pdf"]


@dataclass(frozen=True, kw_only=True)
class ReportFacts:
    """Who the report is about and who validated it (plain values from the store).

    Without ``validator_name`` and ``validated_at`` the report is a DRAFT.
    """

    display_name: str
    mrn: str | None
    birth_date: date | None
    sex: str | None
    validator_name: str | None = None
    validated_at: datetime | None = None
    version: int = 1
    supersedes_version: int | None = None
    correction_reason: str | None = None

    @property
    def issued(self) -> bool:
        """True when a validator and a time are set (otherwise the report is a draft)."""
        return self.validator_name is not None and self.validated_at is not None


def render_report_html(
    case: Case, interpretation: Interpretation, model: PopPKModel, facts: ReportFacts
) -> str:
    """The interpretation report as self-contained HTML (a DRAFT unless ``facts.issued``)."""
    patient = ReportPatient(
        display_name=facts.display_name,
        mrn=facts.mrn,
        birth_date=facts.birth_date,
        sex=facts.sex,
    )
    validation_args: dict[str, Any] = {"status": "issued" if facts.issued else "draft"}
    if facts.issued:
        validation_args.update(
            validator_name=facts.validator_name,
            validated_at=facts.validated_at,
            version=facts.version,
            supersedes_version=facts.supersedes_version,
            correction_reason=facts.correction_reason,
        )
    validation = ReportValidation(**validation_args)
    return render_interpretation_html(
        case, interpretation, model, patient=patient, validation=validation
    )


def render_report_pdf(html: str) -> bytes:
    """PDF bytes of a report's HTML (WeasyPrint, through the report layer)."""
    return html_to_pdf(html)
