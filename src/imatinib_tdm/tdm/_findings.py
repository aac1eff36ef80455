"""Clinical findings of a TDM interpretation, their ranking, and the trough status.

A :class:`Finding` is a value returned inside a tdm result (never a Python warning): what was
found (``code``, ``message``), in which troubleshooting area (``category``), how much it matters
(``severity``), the numbers behind it (``evidence``, units in the key names), what to do
(``recommendation``) and the knowledge it relies on (``references``: ids of entries in
``data/*.yaml`` or citations). :func:`rank_findings` orders them for the report;
:class:`TroughStatus` is the verdict on a trough.

Imports only the standard library and :mod:`imatinib_tdm.errors`; never report, store or service.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from imatinib_tdm.errors import TdmError

__all__ = [
    "EvidenceValue",
    "Finding",
    "FindingCategory",
    "Severity",
    "TroughStatus",
    "rank_findings",
]

EvidenceValue = float | int | bool | None
"""A value of :attr:`Finding.evidence`: a number (unit in the key), a flag, or None (unknown)."""

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


class FindingCategory(enum.Enum):
    """Troubleshooting area of a finding (issue #4: the seed's four areas, sampling split off
    from analytical)."""

    ADHERENCE = "adherence"
    """Missed or reduced intake: the level is low because the drug was not taken."""
    INTERACTION = "interaction"
    """A co-medication or food that changes imatinib exposure (CYP3A4 inducers, inhibitors)."""
    PATIENT_FACTORS = "patient_factors"
    """Covariates: BMI, AGP, albumin, WBC, haemoglobin, gastrectomy, time on therapy."""
    SAMPLING = "sampling"
    """When the blood was drawn: time after the dose, steady state, dose history."""
    ANALYTICAL = "analytical"
    """How it was measured and reported: LLOQ, assay method, matrix, unit."""


class Severity(enum.Enum):
    """How much a finding limits the use of the level or calls for action.

    Members are listed from least to most severe; :attr:`rank` gives that order as a number.
    """

    INFO = "info"
    """Context the reader should know; nothing to do."""
    CAUTION = "caution"
    """Interpret with care; the result stays usable."""
    WARNING = "warning"
    """The result is probably biased or incomplete; an action is recommended (e.g. re-sample)."""
    CRITICAL = "critical"
    """Do not base a decision on the level as it stands (e.g. suspected unit mix-up)."""

    @property
    def rank(self) -> int:
        """0 (info) to 3 (critical)."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.CAUTION: 1,
    Severity.WARNING: 2,
    Severity.CRITICAL: 3,
}


class TroughStatus(enum.Enum):
    """Verdict on an imatinib trough against a target and an alert (see :func:`classify_trough`
    in :mod:`imatinib_tdm.tdm._sampling` for the boundaries).

    ``NOT_INTERPRETABLE`` always comes with a reason in the result that carries it
    (e.g. ``SampleCheck.not_interpretable_reason``).
    """

    BELOW_LLOQ = "below_lloq"
    """Reported below the lower limit of quantification: censored, no number."""
    SUBTHERAPEUTIC = "subtherapeutic"
    """Quantified and below the efficacy target."""
    ON_TARGET = "on_target"
    """At or above the efficacy target and not above the alert."""
    ABOVE_ALERT = "above_alert"
    """Above the high-level alert (a caution level, not a toxicity limit)."""
    NOT_INTERPRETABLE = "not_interpretable"
    """No usable level (none measured, or the sample cannot be read as a trough); see the reason."""


@dataclass(frozen=True)
class Finding:
    """One troubleshooting finding (a value shown in the report, not a Python warning).

    Attributes
    ----------
    code : str
        Stable machine-readable code in snake_case, e.g. ``"off_time_sample"``.
    category : FindingCategory
    severity : Severity
    message : str
        What was found, with numbers and units, in one or two sentences.
    evidence : mapping of str to float, int, bool or None
        The numbers behind the finding; each key carries its unit (``time_since_last_dose_h``,
        ``lloq_ng_per_ml``, ``days_on_therapy``, ``explained_frac``) or says what it counts
        (``n_missed_doses``) or asserts (``is_default_lloq``). Read-only.
    recommendation : str
        What to do next (may be empty for a pure INFO finding).
    references : tuple of str
        Ids of the knowledge entries used (``"sampling_arup_days"``) or citations.
    explained_frac : float or None, default None
        Share (0-1) of the observed deviation from the expected or target trough that this finding
        can account for (e.g. 0.74 for an inducer that lowers AUC by 74% when the level is that
        much below expectation); None when it cannot be quantified. Used by
        :func:`rank_findings`.
    sample_id : str or None, default None
        The sample the finding is about (its id, or ``"samples[i]"`` when it has none); None for
        case-level findings.

    Raises
    ------
    TdmError
        On construction: an empty code or message, a code or evidence key that is not snake_case,
        a non-numeric or non-finite evidence value, ``explained_frac`` outside [0, 1].

    Examples
    --------
    >>> f = Finding(
    ...     code="off_time_sample",
    ...     category=FindingCategory.SAMPLING,
    ...     severity=Severity.WARNING,
    ...     message="Drawn 4 h after the dose; the trough is estimated.",
    ...     evidence={"time_since_last_dose_h": 4.0, "interval_h": 24.0},
    ...     recommendation="Re-sample 21-27 h after a dose.",
    ...     references=("trough_window_once_daily",),
    ... )
    >>> f.to_dict()["severity"], f.evidence["interval_h"]
    ('warning', 24.0)
    """

    code: str
    category: FindingCategory
    severity: Severity
    message: str
    evidence: Mapping[str, EvidenceValue] = field(default_factory=dict)
    recommendation: str = ""
    references: tuple[str, ...] = ()
    explained_frac: float | None = None
    sample_id: str | None = None

    def __post_init__(self) -> None:
        if not _SNAKE.match(self.code):
            raise TdmError(f"finding code must be snake_case text, got {self.code!r}")
        if not isinstance(self.category, FindingCategory) or not isinstance(
            self.severity, Severity
        ):
            raise TdmError(
                f"finding {self.code!r}: category and severity must be FindingCategory and "
                f"Severity members, got {self.category!r} and {self.severity!r}"
            )
        if not self.message.strip():
            raise TdmError(f"finding {self.code!r}: the message is empty")
        evidence: dict[str, EvidenceValue] = {}
        for key, value in self.evidence.items():
            if not isinstance(key, str) or not _SNAKE.match(key):
                raise TdmError(
                    f"finding {self.code!r}: evidence key {key!r} must be snake_case with its "
                    "unit (e.g. time_since_last_dose_h)"
                )
            if value is not None and not isinstance(value, bool | int | float):
                raise TdmError(
                    f"finding {self.code!r}: evidence {key!r} must be a number, a flag or None, "
                    f"got {value!r}; put text in the message"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise TdmError(
                    f"finding {self.code!r}: evidence {key!r} is {value!r}; use None for unknown"
                )
            evidence[key] = value
        object.__setattr__(self, "evidence", MappingProxyType(evidence))
        object.__setattr__(self, "references", tuple(self.references))
        if self.explained_frac is not None and not 0.0 <= self.explained_frac <= 1.0:
            raise TdmError(
                f"finding {self.code!r}: explained_frac must be in [0, 1], got "
                f"{self.explained_frac!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (enums as their string values, evidence as a plain dict)."""
        return {
            "code": self.code,
            "category": self.category.value,
            "severity": self.severity.value,
            "message": self.message,
            "evidence": dict(self.evidence),
            "recommendation": self.recommendation,
            "references": list(self.references),
            "explained_frac": self.explained_frac,
            "sample_id": self.sample_id,
        }


def rank_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Order findings for the report: most severe first, then the one that explains most.

    Parameters
    ----------
    findings : iterable of Finding

    Returns
    -------
    tuple of Finding
        The same findings, sorted.

    Notes
    -----
    The rule, in order:

    1. severity, descending (critical, warning, caution, info): a finding that makes the level
       unusable (a unit mix-up, an absorption-phase sample) must be read before any explanation
       of the level;
    2. ``explained_frac``, descending: among equally severe findings, the one that accounts for
       more of the gap between the observed and the expected (or target) trough comes first;
       findings whose share cannot be quantified (None) come after every quantified one of the
       same severity;
    3. input order (the sort is stable), so producers can list their findings in their own
       order of importance.

    Examples
    --------
    >>> a = Finding("a", FindingCategory.SAMPLING, Severity.INFO, "a")
    >>> b = Finding("b", FindingCategory.INTERACTION, Severity.WARNING, "b", explained_frac=0.3)
    >>> c = Finding("c", FindingCategory.ADHERENCE, Severity.WARNING, "c", explained_frac=0.7)
    >>> [f.code for f in rank_findings([a, b, c])]
    ['c', 'b', 'a']
    """

    def key(finding: Finding) -> tuple[int, int, float]:
        share = finding.explained_frac
        return (-finding.severity.rank, 0 if share is not None else 1, -(share or 0.0))

    return tuple(sorted(findings, key=key))
