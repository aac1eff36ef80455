"""Sampling and analytical rules (``data/sampling.yaml``), validated, with references resolved.

The file holds the trough windows (once and twice daily), the steady-state rule, the default
LLOQ, the preferred assay, the sample matrices and the unit-plausibility mapping. Numbers that
already live in ``trough_correction.yaml`` (steady-state days, study-practice sampling time,
earliest usable time after a dose, population elimination rate) are referenced by id and resolved
here, so each number exists once; the unit-mix-up limits stay in :mod:`imatinib_tdm.case`.

The schema refuses an entry without a ``source`` (``"unknown"`` only for an ``unverified``
entry), a unit other than the expected one, a reference to a missing id, and a trough window that
goes beyond what its source covers (an interval the log-linear method was not published for, a
tolerance wider than its published offset).

Imports pydantic, PyYAML, :mod:`imatinib_tdm.errors` and the knowledge loader; never report, store
or service.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import Field, model_validator

from imatinib_tdm.errors import KnowledgeBaseError
from imatinib_tdm.tdm._knowledge import (
    LogLinearRule,
    MinTimeAfterDose,
    SamplingDaysRule,
    SamplingTimeRule,
    Source,
    TroughCorrectionRules,
    _check_unique_ids,
    _data_path,
    _Entry,
    _Frozen,
    _load,
    load_trough_correction,
)

__all__ = [
    "AssayFamily",
    "AssayRule",
    "DefaultLloqRule",
    "MatrixRule",
    "SamplingFile",
    "SamplingRules",
    "SteadyStateRule",
    "TroughWindowRule",
    "UnitPlausibilityRule",
    "load_sampling_rules",
    "normalise_assay_name",
]


def normalise_assay_name(text: str) -> str:
    """Lower-case ``text`` and keep only letters and digits (``"UPLC-MS/MS"`` -> ``"uplcmsms"``)."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


class _Rule(_Entry):
    """A knowledge entry that may be a project decision built on its source."""

    rationale: str | None = None


class TroughWindowRule(_Rule):
    """A level drawn ``interval ± tolerance`` h after the last dose of a regimen is a trough.

    Attributes
    ----------
    regimen : {"once_daily", "twice_daily"}
    interval, tolerance : float
        Hours (``unit``).
    study_practice_ref : str or None
        Id of the study-practice sampling time in ``trough_correction.yaml``, when one exists for
        this regimen (a sample inside the window but outside that practice gets an INFO finding).
    """

    regimen: Literal["once_daily", "twice_daily"]
    interval: float = Field(gt=0)
    tolerance: float = Field(gt=0)
    unit: Literal["h"]
    study_practice_ref: str | None = None

    @property
    def interval_h(self) -> float:
        """Dosing interval (h)."""
        return self.interval

    @property
    def tolerance_h(self) -> float:
        """Half-width of the window (h)."""
        return self.tolerance

    @property
    def lower_h(self) -> float:
        """Earliest time after the dose still read as a trough (h)."""
        return self.interval - self.tolerance

    @property
    def upper_h(self) -> float:
        """Latest time after the dose still read as a trough (h)."""
        return self.interval + self.tolerance

    def contains(self, time_after_dose_h: float) -> bool:
        """True when ``lower_h <= time_after_dose_h <= upper_h`` (both ends included)."""
        return self.lower_h <= time_after_dose_h <= self.upper_h


class SteadyStateRule(_Rule):
    """Steady state by laboratory practice, with the elimination rate for the model-free note."""

    days_rule_ref: str
    elimination_ref: str


class DefaultLloqRule(_Rule):
    """LLOQ used for a sample that gives none."""

    value: float = Field(gt=0)
    unit: Literal["ng/mL"]
    assay_family: str
    supporting_sources: tuple[Source, ...] = ()

    @property
    def value_ng_per_ml(self) -> float:
        """The default LLOQ in ng/mL."""
        return self.value


class AssayFamily(_Frozen):
    """A family of analytical methods recognised by name."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    match_any: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _normalised(self) -> AssayFamily:
        for fragment in self.match_any:
            if fragment != normalise_assay_name(fragment) or not fragment:
                raise ValueError(
                    f"assay family {self.name!r}: match_any fragment {fragment!r} must be "
                    "lower-case letters and digits only"
                )
        return self

    def matches(self, assay: str) -> bool:
        """True when the normalised ``assay`` contains one of the fragments."""
        text = normalise_assay_name(assay)
        return any(fragment in text for fragment in self.match_any)


class AssayRule(_Rule):
    """The preferred analytical method; others are flagged."""

    preferred_family: str
    families: tuple[AssayFamily, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_family(self) -> AssayRule:
        names = [f.name for f in self.families]
        if self.preferred_family not in names:
            raise ValueError(
                f"{self.id}: preferred_family {self.preferred_family!r} is not among the "
                f"families {names}"
            )
        return self

    def family_of(self, assay: str) -> AssayFamily | None:
        """The family an assay name belongs to, or None."""
        for family in self.families:
            if family.matches(assay):
                return family
        return None

    def is_preferred(self, assay: str) -> bool:
        """True when ``assay`` belongs to the preferred family."""
        family = self.family_of(assay)
        return family is not None and family.name == self.preferred_family


class MatrixRule(_Rule):
    """Whether the plasma targets apply to levels measured in a matrix."""

    matrix: Literal["plasma", "serum", "dried_blood_spot"]
    targets_apply: bool


class UnitPlausibilityRule(_Rule):
    """Maps the case package's plausibility warnings on concentrations to findings."""

    applied_by: str
    warning_codes: tuple[str, ...] = Field(min_length=1)


class SamplingFile(_Frozen):
    """Contents of ``sampling.yaml`` as written (references not yet resolved)."""

    schema_name: Literal["imatinib_tdm.sampling"] = Field(alias="schema")
    version: int
    trough_windows: tuple[TroughWindowRule, ...] = Field(min_length=1)
    steady_state: SteadyStateRule
    default_lloq: DefaultLloqRule
    assay: AssayRule
    matrices: tuple[MatrixRule, ...] = Field(min_length=1)
    unit_plausibility: UnitPlausibilityRule

    @model_validator(mode="after")
    def _check_file(self) -> SamplingFile:
        ids = [w.id for w in self.trough_windows] + [m.id for m in self.matrices]
        ids += [self.steady_state.id, self.default_lloq.id, self.assay.id]
        ids.append(self.unit_plausibility.id)
        _check_unique_ids(ids)
        for field_name, items in (
            ("regimen", [w.regimen for w in self.trough_windows]),
            ("matrix", [m.matrix for m in self.matrices]),
        ):
            if len(set(items)) != len(items):
                raise ValueError(f"two entries for the same {field_name}: {items}")
        return self


@dataclass(frozen=True)
class SamplingRules:
    """Sampling rules with their references resolved (result of :func:`load_sampling_rules`).

    Attributes
    ----------
    file : SamplingFile
        The entries of ``sampling.yaml``.
    steady_state_days : SamplingDaysRule
        ``>= min_days_on_therapy`` and ``>= min_days_after_dose_change`` (from
        ``trough_correction.yaml``).
    elimination : LogLinearRule
        Population elimination rate constants for the model-free steady-state note.
    min_time_after_dose : MinTimeAfterDose
        End of the absorption/distribution phase (h).
    study_practice : mapping of str to SamplingTimeRule
        Study-practice sampling time by trough-window id (only windows that have one); read-only.
    """

    file: SamplingFile
    steady_state_days: SamplingDaysRule
    elimination: LogLinearRule
    min_time_after_dose: MinTimeAfterDose
    study_practice: Mapping[str, SamplingTimeRule]

    @property
    def trough_windows(self) -> tuple[TroughWindowRule, ...]:
        """Every trough window."""
        return self.file.trough_windows

    @property
    def steady_state(self) -> SteadyStateRule:
        """The steady-state rule entry (its source and rationale)."""
        return self.file.steady_state

    @property
    def default_lloq(self) -> DefaultLloqRule:
        """The default LLOQ entry."""
        return self.file.default_lloq

    @property
    def assay(self) -> AssayRule:
        """The assay-method rule."""
        return self.file.assay

    @property
    def unit_plausibility(self) -> UnitPlausibilityRule:
        """The unit-plausibility mapping."""
        return self.file.unit_plausibility

    def window_for(self, interval_h: float) -> TroughWindowRule | None:
        """The trough window of a dosing interval (h), or None when none is published for it."""
        for window in self.file.trough_windows:
            if math.isclose(window.interval, interval_h, abs_tol=1e-9):
                return window
        return None

    def matrix(self, name: str) -> MatrixRule | None:
        """The rule for a sample matrix (``"plasma"``, ``"serum"``, ``"dried_blood_spot"``)."""
        for rule in self.file.matrices:
            if rule.matrix == name:
                return rule
        return None


def _resolve(file: SamplingFile, correction: TroughCorrectionRules, origin: str) -> SamplingRules:
    entries = {
        correction.log_linear.id: correction.log_linear,
        correction.min_time_after_dose.id: correction.min_time_after_dose,
        correction.sampling_days.id: correction.sampling_days,
        correction.sampling_time.id: correction.sampling_time,
    }
    problems: list[str] = []

    def lookup(ref: str, expected: type, where: str) -> object | None:
        entry = entries.get(ref)
        if not isinstance(entry, expected):
            problems.append(
                f"  {where}: {ref!r} is not a {expected.__name__} entry of "
                f"trough_correction.yaml (known ids: {', '.join(entries)})"
            )
            return None
        return entry

    days = lookup(file.steady_state.days_rule_ref, SamplingDaysRule, "steady_state.days_rule_ref")
    elim = lookup(file.steady_state.elimination_ref, LogLinearRule, "steady_state.elimination_ref")
    practice: dict[str, SamplingTimeRule] = {}
    method = correction.log_linear
    for window in file.trough_windows:
        where = f"trough_windows (entry {window.id!r})"
        if window.study_practice_ref is not None:
            rule = lookup(
                window.study_practice_ref, SamplingTimeRule, f"{where}.study_practice_ref"
            )
            if isinstance(rule, SamplingTimeRule):
                if not math.isclose(rule.time_after_dose, window.interval):
                    problems.append(
                        f"  {where}: study practice {rule.id!r} is {rule.time_after_dose:g} h "
                        f"after the dose, but the window is centred on {window.interval:g} h"
                    )
                practice[window.id] = rule
        if not any(math.isclose(window.interval, p) for p in method.published_intervals_h):
            published = ", ".join(f"{p:g}" for p in method.published_intervals_h)
            problems.append(
                f"  {where}: interval {window.interval:g} h is not among the intervals "
                f"{method.id!r} was published for ({published} h)"
            )
        if window.tolerance > method.published_errors.offset:
            problems.append(
                f"  {where}: tolerance {window.tolerance:g} h is wider than the "
                f"{method.published_errors.offset:g} h covered by the published error figures "
                f"of {method.id!r}"
            )
        if window.lower_h < correction.min_time_after_dose.value:
            problems.append(
                f"  {where}: the window starts at {window.lower_h:g} h, inside the absorption "
                f"phase (< {correction.min_time_after_dose.value:g} h, "
                f"{correction.min_time_after_dose.id!r})"
            )
    if problems:
        raise KnowledgeBaseError(
            f"{origin}: invalid knowledge file ({len(problems)} problem(s)):\n"
            + "\n".join(problems)
            + "\nFix the reference or the value; numbers shared with trough_correction.yaml "
            "must be referenced by id, not repeated.",
            file=origin,
        )
    if not isinstance(days, SamplingDaysRule) or not isinstance(elim, LogLinearRule):
        raise KnowledgeBaseError(f"{origin}: unresolved references", file=origin)  # unreachable
    return SamplingRules(
        file=file,
        steady_state_days=days,
        elimination=elim,
        min_time_after_dose=correction.min_time_after_dose,
        study_practice=MappingProxyType(practice),
    )


@functools.cache
def _builtin_sampling() -> SamplingRules:
    return _resolve(
        _load(_data_path("sampling.yaml"), SamplingFile), load_trough_correction(), "sampling.yaml"
    )


def load_sampling_rules(
    path: str | PathLike[str] | None = None,
    *,
    trough_correction: TroughCorrectionRules | None = None,
) -> SamplingRules:
    """Sampling and analytical rules (``data/sampling.yaml``) with their references resolved.

    Parameters
    ----------
    path : path-like, optional
        A centre's own file of the same format; default the package file (read once, cached).
    trough_correction : TroughCorrectionRules, optional
        Where the referenced ids are looked up; default :func:`load_trough_correction`.

    Returns
    -------
    SamplingRules
        Frozen.

    Raises
    ------
    KnowledgeBaseError
        The file is unreadable or invalid: an entry without a source, a wrong unit, a reference
        to a missing id, a trough window beyond what its source covers (all problems listed).

    Examples
    --------
    >>> rules = load_sampling_rules()
    >>> window = rules.window_for(24.0)
    >>> window.id, window.lower_h, window.upper_h
    ('trough_window_once_daily', 21.0, 27.0)
    >>> rules.steady_state_days.min_days_on_therapy, rules.default_lloq.value_ng_per_ml
    (29.0, 50.0)
    """
    if path is None and trough_correction is None:
        return _builtin_sampling()
    correction = load_trough_correction() if trough_correction is None else trough_correction
    if path is None:
        return _resolve(
            _load(_data_path("sampling.yaml"), SamplingFile), correction, "sampling.yaml"
        )
    return _resolve(_load(Path(path), SamplingFile), correction, str(path))
