"""Who the report is about and who validated it: the caller's inputs to the interpretation report.

The case is pseudonymous (a patient id only); names, record numbers and the validation state come
from the caller (e.g. the web service's store) and are printed as given, escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from imatinib_tdm.errors import CaseError

__all__ = ["ReportPatient", "ReportValidation"]


@dataclass(frozen=True)
class ReportPatient:
    """Patient identifiers printed on the report (kept outside the case, which is pseudonymous).

    Attributes
    ----------
    display_name : str
        Name as it should appear on the report (non-empty).
    mrn : str or None
        Medical record number.
    birth_date : date or None
    sex : str or None
        As recorded by the hospital; default the case's sex.
    """

    display_name: str
    mrn: str | None = None
    birth_date: date | None = None
    sex: str | None = None

    def __post_init__(self) -> None:
        if not self.display_name.strip():
            raise CaseError(
                "patient.display_name is empty; give the name to print on the report",
                field="patient.display_name",
            )


@dataclass(frozen=True)
class ReportValidation:
    """Validation state of a report: a draft, or issued by a named pharmacologist at a time.

    Attributes
    ----------
    status : {"draft", "issued"}
        A draft carries a DRAFT watermark and label on every page.
    validator_name : str or None
        Who validated it; required when issued.
    validated_at : datetime or None
        When it was validated; required when issued (timezone-aware is printed with its offset).
    version : int, default 1
        Version of the report of this episode (>= 1).
    supersedes_version : int or None
        The earlier version this one corrects (< ``version``).
    correction_reason : str or None
        Why the earlier version was corrected; required with ``supersedes_version``.
    comment : str or None
        The validator's comment, printed in the validation block.

    Raises
    ------
    CaseError
        An inconsistent combination, naming the field (``validation.validator_name`` ...).
    """

    status: Literal["draft", "issued"] = "draft"
    validator_name: str | None = None
    validated_at: datetime | None = None
    version: int = 1
    supersedes_version: int | None = None
    correction_reason: str | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("draft", "issued"):
            raise CaseError(
                f"validation.status must be 'draft' or 'issued', got {self.status!r}",
                field="validation.status",
            )
        if self.status == "issued":
            if not (self.validator_name or "").strip():
                raise CaseError(
                    "an issued report needs the validating pharmacologist's name",
                    field="validation.validator_name",
                )
            if self.validated_at is None:
                raise CaseError(
                    "an issued report needs the validation time", field="validation.validated_at"
                )
        if self.version < 1:
            raise CaseError(
                f"validation.version must be >= 1, got {self.version}", field="validation.version"
            )
        if self.supersedes_version is not None:
            if not 1 <= self.supersedes_version < self.version:
                raise CaseError(
                    f"validation.supersedes_version must be between 1 and version - 1 "
                    f"({self.version - 1}), got {self.supersedes_version}",
                    field="validation.supersedes_version",
                )
            if not (self.correction_reason or "").strip():
                raise CaseError(
                    "a corrected version needs the reason for the correction",
                    field="validation.correction_reason",
                )

    @property
    def is_issued(self) -> bool:
        """True once a named pharmacologist has validated the report."""
        return self.status == "issued"
