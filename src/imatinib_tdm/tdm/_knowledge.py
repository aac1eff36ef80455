"""Clinical knowledge of the TDM layer: trough targets and alerts, dosing rules, trough correction.

The knowledge lives in ``imatinib_tdm/data/targets.yaml``, ``dosing.yaml`` and
``trough_correction.yaml``. Each file is read once, validated by the frozen pydantic schemas below
and cached read-only. The schemas refuse an entry without a ``source``; a citation of ``unknown`` is
accepted only for an entry graded ``unverified``; an unverified threshold can never be a default.
Code refers to an entry by its ``id`` (``load_targets()["gist_trough_demetri2009"]``), never by its
number.

This module imports only pydantic, PyYAML and :mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import enum
import functools
import importlib.resources
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imatinib_tdm.errors import KnowledgeBaseError

__all__ = [
    "AdultRegimenRule",
    "BodySurfaceAreaRule",
    "DosingRules",
    "Indication",
    "LogLinearRule",
    "MaxDailyDose",
    "PaediatricDoseLevel",
    "PaediatricRules",
    "PublishedTroughErrors",
    "SamplingDaysRule",
    "SamplingTimeRule",
    "Source",
    "TabletStrengths",
    "TargetSet",
    "Threshold",
    "ThresholdKind",
    "TroughCorrectionRules",
    "Verification",
    "load_dosing_rules",
    "load_targets",
    "load_trough_correction",
]

UNKNOWN_CITATION = "unknown"


class Verification(enum.Enum):
    """Verification grade of a knowledge entry (the KB tags [V], [S], [NV])."""

    VERIFIED = "verified"
    """Read in the primary paper's own abstract or label text."""
    SECONDHAND = "secondhand"
    """Read in a third-party summary, review, vendor or laboratory page."""
    UNVERIFIED = "unverified"
    """Sought but not found in an accessible text: never a default."""


class Indication(enum.Enum):
    """Disease the evidence for a threshold comes from."""

    CML = "cml"
    GIST = "gist"


class ThresholdKind(enum.Enum):
    """Role of a trough threshold."""

    EFFICACY_TARGET = "efficacy_target"
    """The trough should be at least this value."""
    ALERT = "alert"
    """A trough above this value is a caution (association with adverse events)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """Where a piece of knowledge comes from.

    Attributes
    ----------
    citation : str
        Full citation, or ``"unknown"`` when the knowledge base gives none (then the entry must be
        graded ``unverified``).
    doi, pmid : str or None
    location : str or None
        Table, page, URL or KB reference where the value was read.
    """

    citation: str = Field(min_length=1)
    doi: str | None = None
    pmid: str | None = None
    location: str | None = None

    @property
    def is_unknown(self) -> bool:
        """True when the knowledge base gives no source for the entry."""
        return self.citation.strip().lower() == UNKNOWN_CITATION


class _Entry(_Frozen):
    """Fields shared by every knowledge entry: id, source, verification grade, notes."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    source: Source
    verification: Verification
    kb_section: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _unknown_source_is_unverified(self) -> _Entry:
        if self.source.is_unknown and self.verification is not Verification.UNVERIFIED:
            raise ValueError(
                f"entry {self.id!r}: the source is 'unknown', so verification must be "
                f"'unverified', not {self.verification.value!r}"
            )
        return self


# --- targets ----------------------------------------------------------------------------------


class Threshold(_Entry):
    """A trough concentration threshold: an efficacy target or an alert.

    Attributes
    ----------
    kind : ThresholdKind
    indications : tuple of Indication
        Diseases the evidence comes from.
    value : float
        Threshold in ``unit`` (ng/mL, total plasma imatinib).
    unit : {"ng/mL"}
    default_for : tuple of Indication
        Indications for which this threshold is the default (empty for alternatives).
    finding : str
        What the source found, in one or two sentences.
    supporting_sources : tuple of Source
    """

    kind: ThresholdKind
    indications: tuple[Indication, ...] = Field(min_length=1)
    value: float = Field(gt=0)
    unit: Literal["ng/mL"]
    default_for: tuple[Indication, ...] = ()
    finding: str = Field(min_length=1)
    supporting_sources: tuple[Source, ...] = ()

    @property
    def value_ng_per_ml(self) -> float:
        """The threshold in ng/mL."""
        return self.value

    @model_validator(mode="after")
    def _check_default(self) -> Threshold:
        if self.default_for and self.verification is Verification.UNVERIFIED:
            raise ValueError(
                f"threshold {self.id!r} is unverified and cannot be a default "
                f"(default_for={[i.value for i in self.default_for]}); set default_for: []"
            )
        stray = set(self.default_for) - set(self.indications)
        if stray:
            raise ValueError(
                f"threshold {self.id!r} is a default for {sorted(i.value for i in stray)} but its "
                "evidence is not from that indication"
            )
        return self


class TargetSet(_Frozen):
    """All trough thresholds of ``targets.yaml``, looked up by id.

    Use ``targets[id]`` for a threshold, :meth:`default_target` / :meth:`default_alert` for the
    defaults of an indication and :meth:`alternatives` for the selectable ones.
    """

    schema_name: Literal["imatinib_tdm.targets"] = Field(alias="schema")
    version: int
    thresholds: tuple[Threshold, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_set(self) -> TargetSet:
        _check_unique_ids(t.id for t in self.thresholds)
        for kind in ThresholdKind:
            for indication in Indication:
                defaults = [
                    t.id for t in self.thresholds if t.kind is kind and indication in t.default_for
                ]
                if len(defaults) > 1:
                    raise ValueError(
                        f"several default {kind.value} thresholds for {indication.value}: "
                        f"{defaults}; keep one"
                    )
        for indication in Indication:
            if not any(
                t.kind is ThresholdKind.EFFICACY_TARGET and indication in t.default_for
                for t in self.thresholds
            ):
                raise ValueError(f"no default efficacy target for {indication.value}")
        return self

    def __getitem__(self, threshold_id: str) -> Threshold:
        for threshold in self.thresholds:
            if threshold.id == threshold_id:
                return threshold
        raise KnowledgeBaseError(
            f"no threshold with id {threshold_id!r} in targets.yaml; known ids: "
            f"{', '.join(t.id for t in self.thresholds)}",
            threshold_id=threshold_id,
        )

    def default_target(self, indication: Indication) -> Threshold:
        """The default efficacy target of an indication (always verified or secondhand)."""
        for t in self.thresholds:
            if t.kind is ThresholdKind.EFFICACY_TARGET and indication in t.default_for:
                return t
        raise KnowledgeBaseError(  # unreachable: the schema requires one per indication
            f"no default efficacy target for {indication.value}", indication=indication.value
        )

    def default_alert(self, indication: Indication) -> Threshold | None:
        """The default high-level alert of an indication, or None when there is none."""
        for t in self.thresholds:
            if t.kind is ThresholdKind.ALERT and indication in t.default_for:
                return t
        return None

    def alternatives(self, kind: ThresholdKind, indication: Indication) -> tuple[Threshold, ...]:
        """Every threshold of ``kind`` with evidence for ``indication``, defaults included."""
        return tuple(t for t in self.thresholds if t.kind is kind and indication in t.indications)


# --- dosing -----------------------------------------------------------------------------------


class TabletStrengths(_Entry):
    """Available tablet strengths (mg), ascending."""

    strengths: tuple[float, ...] = Field(min_length=1)
    unit: Literal["mg"]

    @field_validator("strengths")
    @classmethod
    def _positive_sorted(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in value):
            raise ValueError("tablet strengths must be > 0 mg")
        return tuple(sorted(value))

    @property
    def strengths_mg(self) -> tuple[float, ...]:
        """Strengths in mg, ascending."""
        return self.strengths


class AgeLimit(_Entry):
    """Age (years) from which adult dosing applies."""

    value: float = Field(gt=0)
    unit: Literal["years"]


class MaxDailyDose(_Entry):
    """Maximum daily dose (mg/day)."""

    value: float = Field(gt=0)
    unit: Literal["mg/day"]


class AdultRegimenRule(_Entry):
    """An allowed adult regimen: ``dose`` mg every ``interval`` h.

    ``basis`` is ``label`` (a labelled regimen) or ``tdm_practice`` (a daily dose used in published
    TDM-driven dosing, reached with tablet combinations).
    """

    dose: float = Field(gt=0)
    dose_unit: Literal["mg"]
    interval: float = Field(gt=0)
    interval_unit: Literal["h"]
    basis: Literal["label", "tdm_practice"]


class PaediatricDoseLevel(_Entry):
    """A paediatric dose level in mg/m²/day."""

    value: float = Field(gt=0)
    unit: Literal["mg/m2/day"]
    role: Literal["standard", "reduced"]


class RoundingRule(_Entry):
    """Rounding of a computed dose to whole tablets."""

    step: float = Field(gt=0)
    unit: Literal["mg"]
    mode: Literal["nearest"]
    min_dose: float = Field(gt=0)


class IntervalRule(_Entry):
    """A dosing interval (h)."""

    value: float = Field(gt=0)
    unit: Literal["h"]


class MaxDoseReference(_Entry):
    """A maximum that refers to another entry by id."""

    refers_to: str


class PaediatricRules(_Frozen):
    """Paediatric (body-surface-area) dosing."""

    dose_levels: tuple[PaediatricDoseLevel, ...] = Field(min_length=1)
    rounding: RoundingRule
    interval: IntervalRule
    max_daily_dose: MaxDoseReference


class BodySurfaceAreaRule(_Entry):
    """Body-surface-area formula (only ``mosteller`` is implemented)."""

    formula: Literal["mosteller"]
    expression: str
    unit: Literal["m2"]


class DosingRules(_Frozen):
    """Contents of ``dosing.yaml``."""

    schema_name: Literal["imatinib_tdm.dosing"] = Field(alias="schema")
    version: int
    tablet_strengths: TabletStrengths
    adult_min_age: AgeLimit
    adult_max_daily_dose: MaxDailyDose
    adult_regimens: tuple[AdultRegimenRule, ...] = Field(min_length=1)
    paediatric: PaediatricRules
    bsa: BodySurfaceAreaRule

    @model_validator(mode="after")
    def _check_rules(self) -> DosingRules:
        ids = [self.tablet_strengths.id, self.adult_min_age.id, self.adult_max_daily_dose.id]
        ids += [r.id for r in self.adult_regimens]
        ids += [d.id for d in self.paediatric.dose_levels]
        ids += [self.paediatric.rounding.id, self.paediatric.interval.id, self.bsa.id]
        ids.append(self.paediatric.max_daily_dose.id)
        _check_unique_ids(ids)
        if self.paediatric.max_daily_dose.refers_to != self.adult_max_daily_dose.id:
            raise ValueError(
                f"paediatric.max_daily_dose.refers_to must name {self.adult_max_daily_dose.id!r}, "
                f"got {self.paediatric.max_daily_dose.refers_to!r}"
            )
        for regimen in self.adult_regimens:
            daily = regimen.dose * 24.0 / regimen.interval
            if daily > self.adult_max_daily_dose.value:
                raise ValueError(
                    f"regimen {regimen.id!r} gives {daily:g} mg/day, above the maximum "
                    f"{self.adult_max_daily_dose.value:g} mg/day"
                )
        return self


# --- trough correction ------------------------------------------------------------------------


class _IntervalSpec(_Frozen):
    regimen: Literal["once_daily", "twice_daily"]
    value: float = Field(gt=0)
    unit: Literal["h"]


class _ByKe(_Frozen):
    low_ke: float
    typical_ke: float
    high_ke: float


class PublishedTroughErrors(_Frozen):
    """Published deviations (%) of a sample taken ``offset`` h away from the trough.

    ``uncorrected_deviation``: the raw level vs the true trough, for a patient whose elimination
    rate is the low, typical or high ke. ``corrected_deviation``: after log-linear correction with
    the typical ke.
    """

    offset: float = Field(gt=0)
    offset_unit: Literal["h"]
    error_unit: Literal["%"]
    uncorrected_deviation: _ByKe
    corrected_deviation: _ByKe
    corrected_with: Literal["typical_ke"]


class LogLinearRule(_Entry):
    """Log-linear trough extrapolation with a population elimination rate constant."""

    formula: str
    ke_typical: float = Field(gt=0)
    ke_low: float = Field(gt=0)
    ke_high: float = Field(gt=0)
    ke_unit: Literal["1/h"]
    intervals: tuple[_IntervalSpec, ...] = Field(min_length=1)
    published_errors: PublishedTroughErrors
    acceptable_deviation: float = Field(gt=0)
    acceptable_deviation_unit: Literal["%"]

    @model_validator(mode="after")
    def _ordered(self) -> LogLinearRule:
        if not self.ke_low <= self.ke_typical <= self.ke_high:
            raise ValueError(
                f"{self.id}: need ke_low <= ke_typical <= ke_high, got {self.ke_low}, "
                f"{self.ke_typical}, {self.ke_high}"
            )
        return self

    @property
    def published_intervals_h(self) -> tuple[float, ...]:
        """Dosing intervals (h) the method was published for."""
        return tuple(i.value for i in self.intervals)


class MinTimeAfterDose(_Entry):
    """Earliest time after a dose (h) at which a sample is outside the absorption phase."""

    value: float = Field(gt=0)
    unit: Literal["h"]


class SamplingDaysRule(_Entry):
    """Days on therapy and days after a dose change before a steady-state sample."""

    min_days_on_therapy: float = Field(gt=0)
    min_days_after_dose_change: float = Field(gt=0)
    unit: Literal["day"]


class SamplingTimeRule(_Entry):
    """Nominal trough sampling time after the dose (h) with its tolerance (h)."""

    time_after_dose: float = Field(gt=0)
    tolerance: float = Field(ge=0)
    unit: Literal["h"]


class TroughCorrectionRules(_Frozen):
    """Contents of ``trough_correction.yaml``."""

    schema_name: Literal["imatinib_tdm.trough_correction"] = Field(alias="schema")
    version: int
    log_linear: LogLinearRule
    min_time_after_dose: MinTimeAfterDose
    sampling_days: SamplingDaysRule
    sampling_time: SamplingTimeRule

    @model_validator(mode="after")
    def _ids(self) -> TroughCorrectionRules:
        _check_unique_ids(
            [
                self.log_linear.id,
                self.min_time_after_dose.id,
                self.sampling_days.id,
                self.sampling_time.id,
            ]
        )
        return self


# --- loading ----------------------------------------------------------------------------------

_T = TypeVar("_T", bound=BaseModel)


def _check_unique_ids(ids: Any) -> None:
    seen: set[str] = set()
    for entry_id in ids:
        if entry_id in seen:
            raise ValueError(f"duplicate id {entry_id!r}")
        seen.add(entry_id)


def _data_path(name: str) -> Path:
    return Path(str(importlib.resources.files("imatinib_tdm").joinpath("data", name)))


def _describe(error: ValidationError, raw: Mapping[str, Any]) -> str:
    lines = []
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(p) for p in loc) or "(file)"
        # Name the entry id when the location passes through a list of entries.
        node: Any = raw
        entry_id = None
        for part in loc:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(node, Mapping) and isinstance(node.get("id"), str):
                entry_id = node["id"]
        label = f"{where} (entry {entry_id!r})" if entry_id else where
        message = item["msg"]
        if item["type"] == "missing":
            message = f"field {loc[-1]!r} is required"
            if loc[-1] == "source":
                message += " (every knowledge entry must say where it comes from)"
        lines.append(f"  {label}: {message}")
    return "\n".join(lines)


def _load(path: Path, schema: type[_T]) -> _T:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read the file ({exc})", file=str(path)) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{path}: invalid YAML ({exc})", file=str(path)) from exc
    if not isinstance(raw, Mapping):
        raise KnowledgeBaseError(f"{path}: expected a mapping at the top level", file=str(path))
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise KnowledgeBaseError(
            f"{path.name}: invalid knowledge file ({exc.error_count()} problem(s)):\n"
            f"{_describe(exc, raw)}\nFix the file; every entry needs an id, values with units, "
            "a source and a verification grade.",
            file=str(path),
        ) from exc


@functools.cache
def _builtin_targets() -> TargetSet:
    return _load(_data_path("targets.yaml"), TargetSet)


@functools.cache
def _builtin_dosing() -> DosingRules:
    return _load(_data_path("dosing.yaml"), DosingRules)


@functools.cache
def _builtin_trough_correction() -> TroughCorrectionRules:
    return _load(_data_path("trough_correction.yaml"), TroughCorrectionRules)


def load_targets(path: str | PathLike[str] | None = None) -> TargetSet:
    """Trough targets and alerts (``data/targets.yaml``, or another file of the same format).

    Parameters
    ----------
    path : path-like, optional
        A centre's own file; default the package file (read once and cached).

    Returns
    -------
    TargetSet
        Frozen; ``targets["gist_trough_demetri2009"].value_ng_per_ml``.

    Raises
    ------
    KnowledgeBaseError
        The file is unreadable or invalid: an entry without a source, an unverified default, two
        defaults for one indication, a unit other than ng/mL, ... (all problems are listed).

    Examples
    --------
    >>> targets = load_targets()
    >>> targets.default_target(Indication.GIST).id
    'gist_trough_demetri2009'
    """
    if path is None:
        return _builtin_targets()
    return _load(Path(path), TargetSet)


def load_dosing_rules(path: str | PathLike[str] | None = None) -> DosingRules:
    """Tablet strengths, allowed adult regimens, paediatric mg/m² rules (``data/dosing.yaml``).

    Parameters
    ----------
    path : path-like, optional
        Another file of the same format; default the package file (cached).

    Returns
    -------
    DosingRules

    Raises
    ------
    KnowledgeBaseError
        The file is unreadable or invalid.
    """
    if path is None:
        return _builtin_dosing()
    return _load(Path(path), DosingRules)


def load_trough_correction(path: str | PathLike[str] | None = None) -> TroughCorrectionRules:
    """Log-linear trough correction and sampling rules (``data/trough_correction.yaml``).

    Parameters
    ----------
    path : path-like, optional
        Another file of the same format; default the package file (cached).

    Returns
    -------
    TroughCorrectionRules

    Raises
    ------
    KnowledgeBaseError
        The file is unreadable or invalid.
    """
    if path is None:
        return _builtin_trough_correction()
    return _load(Path(path), TroughCorrectionRules)
