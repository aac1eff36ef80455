"""Sampling and analytical checks of a TDM case, and the classification of a trough.

:func:`check_sampling` looks at every blood sample of a case (the latest one first): time since the
last dose taken before it, the dosing interval then, whether it is a trough (inside the window of
``data/sampling.yaml``), days on therapy and since the last dose change, steady state by the
laboratory rule with a model-free note, the LLOQ used (the sample's own or the default, said
which), below-LLOQ, the assay method and matrix, and unit plausibility (from
:meth:`imatinib_tdm.case.Case.plausibility_warnings`). Each problem is a :class:`Finding` with its
numbers and the id of the rule it comes from. :func:`classify_trough` turns a level into a
:class:`TroughStatus`; :func:`classify_sample` does it for a checked sample.

Imports case (public API), errors and the tdm knowledge loaders; never report, store or service.
"""

from __future__ import annotations

import bisect
import enum
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from imatinib_tdm.case import (
    HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML,
    SUSPECT_HIGH_FACTOR,
    SUSPECT_LOW_NG_PER_ML,
    Case,
    PlausibilityWarning,
)
from imatinib_tdm.errors import CaseError, KnowledgeBaseError
from imatinib_tdm.tdm._findings import (
    EvidenceValue,
    Finding,
    FindingCategory,
    Severity,
    TroughStatus,
    rank_findings,
)
from imatinib_tdm.tdm._knowledge import Threshold, ThresholdKind, Verification
from imatinib_tdm.tdm._sampling_rules import SamplingRules, TroughWindowRule, load_sampling_rules

__all__ = [
    "LloqOrigin",
    "SampleCheck",
    "SamplingAssessment",
    "check_sampling",
    "classify_sample",
    "classify_trough",
]

_HOURS_PER_DAY = 24.0
# Two clock times closer than one second are the same moment (as in the case package): a sample
# drawn at the time of a dose is a pre-dose sample, so only doses strictly before it count.
_SAME_TIME_H = 1.0 / 3600.0
# Software tolerance for comparing dosing intervals of a dose diary written as single doses
# (clock times that drift by up to an hour are the same schedule).
_INTERVAL_MATCH_H = 1.0
# A regimen (amount, interval) counts as changed or restarted at an administration when the same
# regimen was not scheduled within the previous 1.5 intervals (so a missed dose is not a change,
# while a restart after a pause is).
_LOOKBACK_INTERVALS = 1.5

_SAMPLE_FIELD = re.compile(r"^samples\[(\d+)\]")


class LloqOrigin(enum.Enum):
    """Where the LLOQ used for a sample comes from."""

    SAMPLE = "sample"
    """Given with the sample (the laboratory's own limit)."""
    DEFAULT = "default"
    """The default of ``data/sampling.yaml`` (``default_lloq_lc_ms_ms``)."""


@dataclass(frozen=True)
class SampleCheck:
    """Sampling and analytical check of one sample (see :func:`check_sampling`).

    Attributes
    ----------
    sample_index : int
        Position in ``case.samples``.
    sample_label : str
        The sample id, or ``"samples[i]"`` when it has none.
    sample_time_h : float
        Hours since the first dose.
    concentration_ng_per_ml : float
        As reported, converted to ng/mL (meaningless when ``is_below_lloq``).
    last_dose_time_h, last_dose_mg : float or None
        Last administration taken strictly before the sample (None: no dose before it).
    time_since_last_dose_h : float or None
    interval_h : float or None
        Dosing interval in effect at the last dose (None: not known, e.g. one single dose).
    trough_window_id : str or None
        Window rule of that interval (None: no window published for it).
    window_lower_h, window_upper_h, offset_from_trough_h : float or None
        The window and ``time_since_last_dose_h - interval_h``.
    is_trough : bool
        True when drawn inside the window after a dose (never True without a window).
    is_absorption_phase : bool
        Drawn earlier than ``min_time_after_dose_icome`` after the dose.
    n_missed_doses_since_last_dose : int
        Scheduled administrations missed between the last dose taken and the sample.
    days_on_therapy : float
        Elapsed days from the first recorded dose to the sample.
    days_since_dose_change : float or None
        Elapsed days from the first administration of the current regimen (after a change of
        amount or interval, or a restart after a pause) to the sample; None when unchanged.
    n_missed_doses_in_window : int
        Missed administrations within ``min_days_after_dose_change`` days before the sample.
    is_steady_state : bool
        The laboratory rule (``steady_state_rule_id``) holds.
    steady_state_fraction_frac, steady_state_fraction_slow_frac : float
        Model-free: 1 - exp(-ke t) with the typical and the low population ke, t the time since
        the change (or the first dose).
    steady_state_note : str
        The model-free note in words.
    lloq_ng_per_ml : float
    lloq_origin : LloqOrigin
    lloq_source_id : str or None
        Id of the default LLOQ entry when it was used; None for the sample's own LLOQ.
    is_below_lloq : bool
        Reported below the LLOQ used: censored.
    assay : str or None
    is_preferred_assay : bool or None
        None when no assay is given.
    matrix : str or None
    not_interpretable_reason : str or None
        Why the measured level cannot be classified as a trough as it stands (unit mix-up, no
        dose before it, off-time, no trough window, matrix without plasma targets); None when it
        can.
    has_overriding_reason : bool
        A reason (suspected unit mix-up, no dose before the sample) makes even a censored result
        meaningless.
    findings : tuple of Finding
        Ranked (:func:`rank_findings`).
    """

    sample_index: int
    sample_label: str
    sample_time_h: float
    concentration_ng_per_ml: float
    last_dose_time_h: float | None
    last_dose_mg: float | None
    time_since_last_dose_h: float | None
    interval_h: float | None
    trough_window_id: str | None
    window_lower_h: float | None
    window_upper_h: float | None
    offset_from_trough_h: float | None
    is_trough: bool
    is_absorption_phase: bool
    n_missed_doses_since_last_dose: int
    days_on_therapy: float
    days_since_dose_change: float | None
    n_missed_doses_in_window: int
    is_steady_state: bool
    steady_state_rule_id: str
    steady_state_fraction_frac: float
    steady_state_fraction_slow_frac: float
    steady_state_note: str
    lloq_ng_per_ml: float
    lloq_origin: LloqOrigin
    lloq_source_id: str | None
    is_below_lloq: bool
    assay: str | None
    is_preferred_assay: bool | None
    matrix: str | None
    not_interpretable_reason: str | None
    has_overriding_reason: bool
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (units in the key names)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif name == "findings":
                value = [f.to_dict() for f in value]
            out[name] = value
        return out


@dataclass(frozen=True)
class SamplingAssessment:
    """Result of :func:`check_sampling`.

    Attributes
    ----------
    latest : SampleCheck or None
        The latest sample (by time; the last listed on a tie); None when the case has none.
    samples : tuple of SampleCheck
        Every sample, in file order.
    findings : tuple of Finding
        Ranked findings of the latest sample plus the case-level ones (no sample yet, dose
        history); per-sample findings are in each :class:`SampleCheck`.
    rule_ids : tuple of str
        Knowledge entries the checks used (provenance).
    """

    latest: SampleCheck | None
    samples: tuple[SampleCheck, ...]
    findings: tuple[Finding, ...]
    rule_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "latest": None if self.latest is None else self.latest.to_dict(),
            "samples": [s.to_dict() for s in self.samples],
            "findings": [f.to_dict() for f in self.findings],
            "rule_ids": list(self.rule_ids),
        }


# --- classification ---------------------------------------------------------------------------


def _threshold_value(
    threshold: Threshold | float, kind: ThresholdKind, name: str
) -> tuple[float, str]:
    if isinstance(threshold, Threshold):
        if threshold.kind is not kind:
            raise KnowledgeBaseError(
                f"{name}: threshold {threshold.id!r} is of kind {threshold.kind.value!r}, "
                f"expected {kind.value!r}; pick an id of that kind from targets.yaml",
                threshold_id=threshold.id,
            )
        return threshold.value_ng_per_ml, threshold.id
    value = float(threshold)
    if not math.isfinite(value) or value <= 0:
        raise KnowledgeBaseError(f"{name} must be a finite number > 0 ng/mL, got {threshold!r}")
    return value, f"{value:g} ng/mL"


def classify_trough(
    value_ng_per_ml: float | None,
    below_lloq: bool,
    target: Threshold | float,
    alert: Threshold | float | None = None,
) -> TroughStatus:
    """Classify a trough against an efficacy target and an optional high-level alert.

    Parameters
    ----------
    value_ng_per_ml : float or None
        The trough (measured or estimated), total plasma imatinib in ng/mL; None when there is no
        number (not measured, or censored).
    below_lloq : bool
        The level was reported below the LLOQ (censored).
    target : Threshold or float
        Efficacy target (a ``targets.yaml`` entry of kind ``efficacy_target``, or ng/mL).
    alert : Threshold or float, optional
        High-level alert (kind ``alert``, or ng/mL); none by default.

    Returns
    -------
    TroughStatus
        ``BELOW_LLOQ`` when ``below_lloq`` (whatever the value); ``NOT_INTERPRETABLE`` when
        there is no value (the reason is "no concentration"); otherwise ``ABOVE_ALERT`` when
        ``value > alert``, ``ON_TARGET`` when ``value >= target``, else ``SUBTHERAPEUTIC``.

    Raises
    ------
    CaseError
        A negative or non-finite value.
    KnowledgeBaseError
        A target or alert that is not positive, of the wrong kind, or an alert not above the
        target.

    Notes
    -----
    Boundaries. A trough exactly at the target is **on target**: the published groups are
    "< 1100 vs >= 1100 ng/mL" (Ran 2024, R1, threshold from Demetri 2009, whose poor-outcome
    quartile is "below 1,100 ng/mL", R2), "≥ 1000 ng/mL" for CML and "≥ 1165 ng/mL" for TOPS
    (KB section 5a), and ``targets.yaml`` defines an efficacy target as "trough should be >=
    value". The issue's shorthand "Cmin > 1100" is read as that. A trough exactly at the alert
    is **not** above it: ``targets.yaml`` defines an alert as "trough > value is a caution"
    (Zhuang 2018 gives a ROC cut-off, 1451.6 ng/mL, without a side).

    Examples
    --------
    >>> from imatinib_tdm.tdm._knowledge import Indication, load_targets
    >>> targets = load_targets()
    >>> gist = targets.default_target(Indication.GIST)
    >>> alert = targets.default_alert(Indication.GIST)
    >>> classify_trough(1100.0, False, gist, alert).value
    'on_target'
    >>> classify_trough(1099.9, False, gist, alert).value
    'subtherapeutic'
    >>> classify_trough(1451.6, False, gist, alert).value, classify_trough(1452, False, gist, alert)
    ('on_target', <TroughStatus.ABOVE_ALERT: 'above_alert'>)
    """
    target_ng_per_ml, target_label = _threshold_value(
        target, ThresholdKind.EFFICACY_TARGET, "target"
    )
    alert_ng_per_ml: float | None = None
    if alert is not None:
        alert_ng_per_ml, alert_label = _threshold_value(alert, ThresholdKind.ALERT, "alert")
        if alert_ng_per_ml <= target_ng_per_ml:
            raise KnowledgeBaseError(
                f"the alert ({alert_label}, {alert_ng_per_ml:g} ng/mL) must be above the target "
                f"({target_label}, {target_ng_per_ml:g} ng/mL); choose another pair"
            )
    if below_lloq:
        return TroughStatus.BELOW_LLOQ
    if value_ng_per_ml is None:
        return TroughStatus.NOT_INTERPRETABLE
    value = float(value_ng_per_ml)
    if not math.isfinite(value) or value < 0:
        raise CaseError(
            f"trough must be a finite number >= 0 ng/mL, got {value_ng_per_ml!r}",
            field="value_ng_per_ml",
        )
    if alert_ng_per_ml is not None and value > alert_ng_per_ml:
        return TroughStatus.ABOVE_ALERT
    if value >= target_ng_per_ml:
        return TroughStatus.ON_TARGET
    return TroughStatus.SUBTHERAPEUTIC


def classify_sample(
    check: SampleCheck,
    target: Threshold | float,
    alert: Threshold | float | None = None,
) -> TroughStatus:
    """Classify a checked sample as a measured trough.

    Parameters
    ----------
    check : SampleCheck
    target, alert
        As :func:`classify_trough`.

    Returns
    -------
    TroughStatus
        ``NOT_INTERPRETABLE`` when a suspected unit mix-up or a missing dose makes the number
        meaningless (even if censored); else ``BELOW_LLOQ`` when censored; else
        ``NOT_INTERPRETABLE`` when the level is not a trough as it stands (off-time, no window,
        a matrix without plasma targets: estimate the trough instead); else
        :func:`classify_trough` of the level. The reason is ``check.not_interpretable_reason``.
    """
    if check.has_overriding_reason:
        classify_trough(None, False, target, alert)  # still validates the thresholds
        return TroughStatus.NOT_INTERPRETABLE
    if check.is_below_lloq:
        return classify_trough(None, True, target, alert)
    if check.not_interpretable_reason is not None:
        classify_trough(None, False, target, alert)
        return TroughStatus.NOT_INTERPRETABLE
    return classify_trough(check.concentration_ng_per_ml, False, target, alert)


# --- schedule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Admin:
    time_h: float
    entry: int
    amount_mg: float
    interval_h: float | None
    taken: bool


def _schedule(case: Case) -> list[_Admin]:
    """Every scheduled administration, sorted as the case sorts them, with its interval."""
    raw: list[tuple[float, int, float]] = []
    for index, dose in enumerate(case.doses):
        start_h = case.hours_since_first_dose(dose.time)
        step_h = dose.interval_h or 0.0
        raw.extend(
            (start_h + k * step_h, index, dose.amount_mg) for k in range(dose.n_administrations)
        )
    raw.sort(key=lambda r: (r[0], r[1]))
    events = case.dose_events(include_missed=True)
    if len(events) != len(raw):  # pragma: no cover - both expand the same entries
        raise CaseError("dose history: cannot align the scheduled administrations")
    times = [r[0] for r in raw]
    spans = []
    for dose in case.doses:
        start_h = case.hours_since_first_dose(dose.time)
        spans.append((start_h, start_h + (dose.n_administrations - 1) * (dose.interval_h or 0.0)))

    def interleaved(entry: int) -> bool:
        me = case.doses[entry]
        if me.interval_h is None:
            return False
        return any(
            other != entry
            and case.doses[other].interval_h == me.interval_h
            and spans[other][0] <= spans[entry][1]
            and spans[entry][0] <= spans[other][1]
            for other in range(len(case.doses))
        )

    is_interleaved = [interleaved(i) for i in range(len(case.doses))]
    admins: list[_Admin] = []
    for k, (t, entry, amount) in enumerate(raw):
        gaps = [g for g in (t - times[k - 1] if k else None,) if g is not None and g > _SAME_TIME_H]
        nxt = [times[k + 1] - t] if k + 1 < len(times) and times[k + 1] - t > _SAME_TIME_H else []
        entry_interval = case.doses[entry].interval_h
        interval: float | None
        if entry_interval is not None and not is_interleaved[entry]:
            interval = float(entry_interval)
        elif entry_interval is not None:
            interval = min(gaps + nxt) if gaps + nxt else float(entry_interval)
        else:
            interval = gaps[0] if gaps else (nxt[0] if nxt else None)
        admins.append(_Admin(t, entry, amount, interval, events[k][1] > 0))
    return admins


def _same_regimen(a: _Admin, b: _Admin) -> bool:
    if not math.isclose(a.amount_mg, b.amount_mg):
        return False
    if a.interval_h is None or b.interval_h is None:
        return a.interval_h is None and b.interval_h is None
    return abs(a.interval_h - b.interval_h) <= _INTERVAL_MATCH_H


def _last_change_h(admins: Sequence[_Admin], upto: int) -> float | None:
    """Time of the first administration of the regimen in effect at ``admins[upto]`` (None when
    it has not changed since the first dose)."""
    for j in range(upto, 0, -1):
        current = admins[j]
        lookback_h = _LOOKBACK_INTERVALS * (current.interval_h or _HOURS_PER_DAY)
        seen_before = False
        for k in range(j - 1, -1, -1):
            if current.time_h - admins[k].time_h > lookback_h:
                break
            if _same_regimen(admins[k], current):
                seen_before = True
                break
        if not seen_before:
            return current.time_h
    return None


# --- findings ---------------------------------------------------------------------------------


@dataclass
class _Notes:
    """Findings and not-interpretable reasons of one check, collected as it runs (local to one
    call, never shared)."""

    label: str | None
    findings: list[Finding] = field(default_factory=list)
    reasons: list[tuple[int, str]] = field(default_factory=list)

    def add(
        self,
        code: str,
        category: FindingCategory,
        severity: Severity,
        message: str,
        evidence: dict[str, EvidenceValue],
        recommendation: str = "",
        references: Iterable[str] = (),
    ) -> None:
        self.findings.append(
            Finding(
                code=code,
                category=category,
                severity=severity,
                message=message,
                evidence=evidence,
                recommendation=recommendation,
                references=tuple(references),
                sample_id=self.label,
            )
        )

    def not_interpretable(self, reason: str, *, overrides_censoring: bool = False) -> None:
        """Record why the level cannot be read as a trough; ``overrides_censoring`` reasons
        (unit mix-up, no dose) come first and make even a censored result meaningless."""
        self.reasons.append((0 if overrides_censoring else 1, reason))

    def reason(self) -> str | None:
        ordered = [text for _, text in sorted(self.reasons, key=lambda r: r[0])]
        return "; ".join(dict.fromkeys(ordered)) or None


_S = FindingCategory.SAMPLING
_A = FindingCategory.ANALYTICAL


def _plausibility_index(warning: PlausibilityWarning) -> int | None:
    match = _SAMPLE_FIELD.match(warning.field)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class _Ctx:
    """What every section of one sample's check needs."""

    case: Case
    index: int
    label: str
    t_sample: float
    concentration: float
    rules: SamplingRules
    notes: _Notes


@dataclass(frozen=True)
class _Timing:
    last: _Admin | None
    since_h: float | None
    interval_h: float | None
    window: TroughWindowRule | None
    offset_h: float | None
    is_trough: bool
    is_absorption: bool
    n_missed_since: int
    n_before: int
    last_taken_index: int | None


def _check_timing(ctx: _Ctx, admins: Sequence[_Admin]) -> _Timing:
    """Time since the last dose taken, the interval then, the trough window."""
    label, t_sample, notes, rules = ctx.label, ctx.t_sample, ctx.notes, ctx.rules
    times = [a.time_h for a in admins]
    before = bisect.bisect_left(times, t_sample - _SAME_TIME_H)  # admins[:before] are earlier
    taken_before = [k for k in range(before) if admins[k].taken]
    last = admins[taken_before[-1]] if taken_before else None
    since_h = None if last is None else t_sample - last.time_h
    interval_h = None if last is None else last.interval_h
    window = None if interval_h is None else rules.window_for(interval_h)
    min_t = rules.min_time_after_dose
    n_missed_since = (
        0
        if last is None
        else sum(1 for k in range(taken_before[-1] + 1, before) if not admins[k].taken)
    )
    offset_h = None if since_h is None or interval_h is None else since_h - interval_h
    is_trough = bool(window is not None and since_h is not None and window.contains(since_h))
    is_absorption = since_h is not None and since_h < min_t.value
    timing: dict[str, EvidenceValue] = {
        "time_since_last_dose_h": since_h,
        "interval_h": interval_h,
        "window_lower_h": None if window is None else window.lower_h,
        "window_upper_h": None if window is None else window.upper_h,
        "offset_from_trough_h": offset_h,
    }
    if last is None:
        notes.add(
            "no_dose_before_sample",
            _S,
            Severity.CRITICAL,
            f"Sample {label} was drawn at or before the first recorded dose: there is no dose "
            "before it, so it is not an on-treatment level.",
            {"sample_time_h": t_sample},
            "Check the sample time and the dose history (an earlier dose may be missing).",
            (),
        )
        notes.not_interpretable("no dose was taken before the sample", overrides_censoring=True)
    elif is_absorption:
        notes.add(
            "absorption_phase_sample",
            _S,
            Severity.CRITICAL,
            f"Sample {label} was drawn {since_h:.1f} h after the last dose, before "
            f"{min_t.value:g} h: absorption/distribution phase. It is not a trough, and "
            "log-linear extrapolation to the trough does not hold there.",
            timing | {"min_time_after_dose_h": min_t.value},
            "Use a model-based (Bayesian) trough estimate only, or re-sample near the trough"
            + (
                f" ({window.lower_h:g}-{window.upper_h:g} h after a dose, before the next)."
                if window is not None
                else "."
            ),
            (min_t.id,) + (() if window is None else (window.id,)),
        )
        notes.not_interpretable(f"drawn {since_h:.1f} h after the dose, in the absorption phase")
    elif window is None:
        shown = "unknown" if interval_h is None else f"{interval_h:g} h"
        notes.add(
            "interval_without_trough_window",
            _S,
            Severity.WARNING,
            f"Sample {label}: the dosing interval at the last dose is {shown}; trough windows "
            "are defined for "
            + " and ".join(f"{w.interval_h:g} h" for w in rules.trough_windows)
            + " only, so it cannot be read as a trough.",
            timing,
            "Check the dose history; the trough can be estimated with a model.",
            tuple(w.id for w in rules.trough_windows),
        )
        notes.not_interpretable(f"no trough window for a dosing interval of {shown}")
    elif not is_trough:
        assert since_h is not None and offset_h is not None
        notes.add(
            "off_time_sample",
            _S,
            Severity.WARNING,
            f"Sample {label} was drawn {since_h:.1f} h after the last dose, "
            f"{abs(offset_h):.1f} h {'before' if offset_h < 0 else 'after'} the trough time "
            f"({window.interval_h:g} h); outside the {window.lower_h:g}-{window.upper_h:g} h "
            "trough window, so the trough is estimated, not measured.",
            timing,
            "Read the estimated trough (Bayesian, with the log-linear correction beside it); "
            f"for a measured trough draw the next sample {window.lower_h:g}-"
            f"{window.upper_h:g} h after a dose, before the next one.",
            (window.id, rules.elimination.id),
        )
        notes.not_interpretable(
            f"drawn {since_h:.1f} h after the dose, outside the {window.lower_h:g}-"
            f"{window.upper_h:g} h trough window (estimate the trough)"
        )
    else:
        assert offset_h is not None
        practice = rules.study_practice.get(window.id)
        if practice is not None and abs(offset_h) > practice.tolerance:
            notes.add(
                "outside_study_practice_window",
                _S,
                Severity.INFO,
                f"Sample {label} is {abs(offset_h):.1f} h from the trough time: inside the "
                f"±{window.tolerance_h:g} h window, outside the ±{practice.tolerance:g} h of "
                "the cited study practice; an uncorrected level may be off by about "
                f"{rules.elimination.published_errors.uncorrected_deviation.typical_ke:g}% "
                "at 3 h for a typical patient.",
                timing | {"study_practice_tolerance_h": practice.tolerance},
                "",
                (window.id, practice.id, rules.elimination.id),
            )
    if n_missed_since:
        notes.add(
            "missed_dose_before_sample",
            _S,
            Severity.WARNING,
            f"Sample {label}: {n_missed_since} scheduled dose(s) between the last dose taken "
            "and the sample were missed, so the level is not a trough of the regimen.",
            timing | {"n_missed_doses": n_missed_since},
            "Record the actual intake; estimate the trough with a model from the doses "
            "taken, or re-sample after regular intake.",
            (),
        )
    return _Timing(
        last=last,
        since_h=since_h,
        interval_h=interval_h,
        window=window,
        offset_h=offset_h,
        is_trough=is_trough,
        is_absorption=is_absorption,
        n_missed_since=n_missed_since,
        n_before=before,
        last_taken_index=taken_before[-1] if taken_before else None,
    )


@dataclass(frozen=True)
class _SteadyState:
    days_on_therapy: float
    days_since_change: float | None
    is_steady: bool
    frac: float
    frac_slow: float
    note: str
    n_missed_window: int


def _check_steady_state(ctx: _Ctx, admins: Sequence[_Admin], timing: _Timing) -> _SteadyState:
    """Days on therapy and since the last dose change, the rule, the model-free note."""
    label, t_sample, notes, rules = ctx.label, ctx.t_sample, ctx.notes, ctx.rules
    before = timing.n_before
    days_rule = rules.steady_state_days
    days_on_therapy = t_sample / _HOURS_PER_DAY
    last_index = timing.last_taken_index if timing.last_taken_index is not None else before - 1
    change_h = _last_change_h(admins, last_index) if last_index > 0 else None
    days_since_change = None if change_h is None else (t_sample - change_h) / _HOURS_PER_DAY
    steady = days_on_therapy >= days_rule.min_days_on_therapy and (
        days_since_change is None or days_since_change >= days_rule.min_days_after_dose_change
    )
    elim = rules.elimination
    span_h = t_sample - (0.0 if change_h is None else change_h)
    frac = 1.0 - math.exp(-elim.ke_typical * span_h)
    frac_slow = 1.0 - math.exp(-elim.ke_low * span_h)
    since_what = "the first dose" if change_h is None else "the last dose change"
    note = (
        f"Model-free: with the population elimination rate (ke {elim.ke_typical:g} 1/h, "
        f"t1/2 {math.log(2) / elim.ke_typical:.1f} h; slow eliminators {elim.ke_low:g} 1/h), "
        f"{span_h / _HOURS_PER_DAY:.1f} days since {since_what} cover {100 * frac:.0f}% "
        f"(slow: {100 * frac_slow:.0f}%) of the way to steady state by elimination alone. This "
        "ignores the change of clearance during the first weeks of therapy, which the "
        "laboratory rule covers; the model-based time to steady state is the second opinion."
    )
    window_start_h = t_sample - days_rule.min_days_after_dose_change * _HOURS_PER_DAY
    n_missed_window = sum(
        1 for k in range(before) if not admins[k].taken and admins[k].time_h >= window_start_h
    )
    steady_evidence: dict[str, EvidenceValue] = {
        "days_on_therapy": days_on_therapy,
        "min_days_on_therapy": days_rule.min_days_on_therapy,
        "days_since_dose_change": days_since_change,
        "min_days_after_dose_change": days_rule.min_days_after_dose_change,
        "steady_state_fraction_frac": frac,
        "steady_state_fraction_slow_frac": frac_slow,
    }
    refs = (rules.steady_state.id, days_rule.id, elim.id)
    if days_on_therapy < days_rule.min_days_on_therapy:
        notes.add(
            "not_steady_state_days_on_therapy",
            _S,
            Severity.WARNING,
            f"Sample {label} was drawn {days_on_therapy:.1f} days after the first recorded "
            f"dose; laboratory practice asks for at least {days_rule.min_days_on_therapy:g} "
            "days of therapy before a steady-state level. " + note,
            steady_evidence,
            "Read the level as not yet at steady state; confirm with a sample after "
            f"{days_rule.min_days_on_therapy:g} days of uninterrupted therapy, or compare "
            "with the model-predicted level for this day.",
            refs,
        )
    if days_since_change is not None and days_since_change < days_rule.min_days_after_dose_change:
        notes.add(
            "not_steady_state_dose_change",
            _S,
            Severity.WARNING,
            f"Sample {label} was drawn {days_since_change:.1f} days after the last change "
            "of dose or interval (or restart); laboratory practice asks for at least "
            f"{days_rule.min_days_after_dose_change:g} days without a change. " + note,
            steady_evidence,
            "Re-sample at least "
            f"{days_rule.min_days_after_dose_change:g} days after the change, or compare "
            "with the model-predicted level for this day.",
            refs,
        )
    if n_missed_window:
        notes.add(
            "missed_doses_in_steady_state_window",
            _S,
            Severity.CAUTION,
            f"Sample {label}: {n_missed_window} recorded missed dose(s) in the "
            f"{days_rule.min_days_after_dose_change:g} days before it; the steady-state rule "
            "assumes uninterrupted therapy.",
            {
                "n_missed_doses": n_missed_window,
                "window_days": days_rule.min_days_after_dose_change,
            },
            "Take the missed doses into account (the model uses the recorded intake).",
            (days_rule.id,),
        )
    return _SteadyState(
        days_on_therapy=days_on_therapy,
        days_since_change=days_since_change,
        is_steady=steady,
        frac=frac,
        frac_slow=frac_slow,
        note=note,
        n_missed_window=n_missed_window,
    )


def _check_lloq(ctx: _Ctx, since_h: float | None) -> tuple[float, LloqOrigin, str | None, bool]:
    """LLOQ used (own or default), and whether the sample is censored."""
    label, notes, rules, concentration = ctx.label, ctx.notes, ctx.rules, ctx.concentration
    default = rules.default_lloq
    own_lloq = float(ctx.case.lloq_ng_per_ml()[ctx.index])
    if math.isnan(own_lloq):
        lloq, origin, lloq_source = default.value_ng_per_ml, LloqOrigin.DEFAULT, default.id
    else:
        lloq, origin, lloq_source = own_lloq, LloqOrigin.SAMPLE, None
    below = concentration < lloq
    lloq_refs = () if lloq_source is None else (lloq_source,)
    if origin is LloqOrigin.DEFAULT:
        notes.add(
            "default_lloq_used",
            _A,
            Severity.INFO,
            f"Sample {label} gives no LLOQ; the default {lloq:g} ng/mL "
            f"({default.assay_family}) is used.",
            {"lloq_ng_per_ml": lloq, "is_default_lloq": True},
            "Give the laboratory's LLOQ with the sample.",
            lloq_refs,
        )
    if below:
        where = (
            "the LLOQ given with the sample"
            if origin is LloqOrigin.SAMPLE
            else f"the default LLOQ ({default.id}); the laboratory reported a number without "
            "an LLOQ, so check the assay's own limit"
        )
        notes.add(
            "below_lloq",
            _A,
            Severity.WARNING,
            f"Sample {label} is below the limit of quantification ({lloq:g} ng/mL, {where}): "
            "a censored result, not a number. On daily dosing a level this low points to "
            "missed intake, a sampling error or a very fast clearance.",
            {
                "concentration_ng_per_ml": concentration,
                "lloq_ng_per_ml": lloq,
                "is_default_lloq": origin is LloqOrigin.DEFAULT,
                "time_since_last_dose_h": since_h,
            },
            "Ask about intake in the days before the sample and re-sample at the trough.",
            lloq_refs,
        )
    return lloq, origin, lloq_source, below


def _check_units(
    ctx: _Ctx,
    warnings: Sequence[PlausibilityWarning],
    lloq: float,
    origin: LloqOrigin,
    below: bool,
) -> None:
    """Unit plausibility: the case's warnings, and small numbers written below their LLOQ."""
    label, notes, rules, concentration = ctx.label, ctx.notes, ctx.rules, ctx.concentration
    index, sample, default = ctx.index, ctx.case.samples[ctx.index], rules.default_lloq
    unit_rule = rules.unit_plausibility
    for warning in warnings:
        if _plausibility_index(warning) != index or warning.code not in unit_rule.warning_codes:
            continue
        if warning.code == "concentration_zero_without_lloq":
            notes.add(
                "zero_without_lloq",
                _A,
                Severity.CAUTION,
                f"Sample {label}: a concentration of 0 without an LLOQ; read as below the "
                f"default LLOQ ({lloq:g} ng/mL). {warning.message}",
                {"concentration_ng_per_ml": concentration, "lloq_ng_per_ml": lloq},
                "Give the assay's LLOQ with the sample.",
                (unit_rule.id, default.id),
            )
            continue
        notes.add(
            "unit_mix_up_suspected",
            _A,
            Severity.CRITICAL,
            warning.message,
            {
                "concentration_ng_per_ml": concentration,
                "suspect_low_ng_per_ml": SUSPECT_LOW_NG_PER_ML,
                "suspect_high_ng_per_ml": SUSPECT_HIGH_FACTOR * HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML,
            },
            "Confirm the value and its unit with the laboratory before any decision.",
            (unit_rule.id,),
        )
        notes.not_interpretable(
            "the concentration looks like a unit mix-up", overrides_censoring=True
        )
    if below and 0 < concentration < SUSPECT_LOW_NG_PER_ML and origin is LloqOrigin.SAMPLE:
        # The case package skips censored samples; a non-zero number this small written below
        # its LLOQ may be a value in ug/mL (1.2 ug/mL = 1200 ng/mL).
        as_ug = sample.concentration * 1000.0
        notes.add(
            "unit_mix_up_suspected",
            _A,
            Severity.CRITICAL,
            f"Sample {label}: {sample.concentration:g} {sample.unit.value} is written below "
            f"its LLOQ ({lloq:g} ng/mL) but is a number below {SUSPECT_LOW_NG_PER_ML:g} "
            "ng/mL, the lowest LLOQ of published assays; if the unit was ug/mL it would be "
            f"{as_ug:g} ng/mL.",
            {
                "concentration_ng_per_ml": concentration,
                "lloq_ng_per_ml": lloq,
                "suspect_low_ng_per_ml": SUSPECT_LOW_NG_PER_ML,
            },
            "Confirm with the laboratory whether the result was below the LLOQ or reported "
            "in another unit; write a censored result as 0 with its LLOQ.",
            (unit_rule.id,),
        )
        notes.not_interpretable(
            "the concentration looks like a unit mix-up", overrides_censoring=True
        )


def _check_assay_and_matrix(
    ctx: _Ctx, lloq: float, origin: LloqOrigin
) -> tuple[bool | None, str | None]:
    """Assay method against the preferred one; matrix against the plasma targets."""
    label, notes, rules, concentration = ctx.label, ctx.notes, ctx.rules, ctx.concentration
    sample = ctx.case.samples[ctx.index]
    assay_rule = rules.assay
    preferred: bool | None = None
    if sample.assay is None:
        notes.add(
            "assay_not_reported",
            _A,
            Severity.INFO,
            f"Sample {label}: no analytical method given; LC-MS/MS is assumed.",
            {},
            "Give the assay with the sample (e.g. LC-MS/MS).",
            (assay_rule.id,),
        )
    else:
        preferred = assay_rule.is_preferred(sample.assay)
        if not preferred:
            notes.add(
                "assay_not_preferred",
                _A,
                Severity.CAUTION,
                f"Sample {label} was measured by {sample.assay!r}, not by LC-MS/MS, the "
                "method of the cohorts behind the targets; its agreement with LC-MS/MS and "
                "its LLOQ are not known to this tool.",
                {"lloq_ng_per_ml": lloq, "is_default_lloq": origin is LloqOrigin.DEFAULT},
                "Interpret with care; confirm an unexpected level by LC-MS/MS.",
                (assay_rule.id,),
            )
    matrix = None if sample.matrix is None else sample.matrix.value
    if matrix is not None:
        matrix_rule = rules.matrix(matrix)
        if matrix_rule is not None and not matrix_rule.targets_apply:
            notes.add(
                "matrix_not_plasma",
                _A,
                Severity.WARNING,
                f"Sample {label} was measured in {matrix.replace('_', ' ')}; the targets "
                "are plasma troughs and do not apply without the laboratory's conversion.",
                {"concentration_ng_per_ml": concentration},
                "Ask the laboratory for the plasma-equivalent value or its matrix-specific target.",
                (matrix_rule.id,),
            )
            notes.not_interpretable(f"measured in {matrix.replace('_', ' ')}, not plasma")
        elif matrix_rule is not None and matrix_rule.verification is Verification.UNVERIFIED:
            notes.add(
                "matrix_assumed_plasma",
                _A,
                Severity.INFO,
                f"Sample {label} was measured in {matrix}; read like plasma (equivalence "
                "assumed, not sourced).",
                {},
                "",
                (matrix_rule.id,),
            )
    return preferred, matrix


def _check_one(
    case: Case,
    index: int,
    admins: Sequence[_Admin],
    warnings: Sequence[PlausibilityWarning],
    rules: SamplingRules,
) -> SampleCheck:
    sample = case.samples[index]
    label = sample.id if sample.id is not None else f"samples[{index}]"
    concentration = float(case.concentrations_ng_per_ml()[index])
    notes = _Notes(label=label)
    ctx = _Ctx(case, index, label, float(case.sample_times_h()[index]), concentration, rules, notes)
    timing = _check_timing(ctx, admins)
    steady = _check_steady_state(ctx, admins, timing)
    lloq, origin, lloq_source, below = _check_lloq(ctx, timing.since_h)
    _check_units(ctx, warnings, lloq, origin, below)
    preferred, matrix = _check_assay_and_matrix(ctx, lloq, origin)
    window, last = timing.window, timing.last
    return SampleCheck(
        sample_index=index,
        sample_label=label,
        sample_time_h=ctx.t_sample,
        concentration_ng_per_ml=concentration,
        last_dose_time_h=None if last is None else last.time_h,
        last_dose_mg=None if last is None else last.amount_mg,
        time_since_last_dose_h=timing.since_h,
        interval_h=timing.interval_h,
        trough_window_id=None if window is None else window.id,
        window_lower_h=None if window is None else window.lower_h,
        window_upper_h=None if window is None else window.upper_h,
        offset_from_trough_h=timing.offset_h,
        is_trough=timing.is_trough,
        is_absorption_phase=timing.is_absorption,
        n_missed_doses_since_last_dose=timing.n_missed_since,
        days_on_therapy=steady.days_on_therapy,
        days_since_dose_change=steady.days_since_change,
        n_missed_doses_in_window=steady.n_missed_window,
        is_steady_state=steady.is_steady,
        steady_state_rule_id=rules.steady_state.id,
        steady_state_fraction_frac=steady.frac,
        steady_state_fraction_slow_frac=steady.frac_slow,
        steady_state_note=steady.note,
        lloq_ng_per_ml=lloq,
        lloq_origin=origin,
        lloq_source_id=lloq_source,
        is_below_lloq=below,
        assay=sample.assay,
        is_preferred_assay=preferred,
        matrix=matrix,
        not_interpretable_reason=notes.reason(),
        has_overriding_reason=any(priority == 0 for priority, _ in notes.reasons),
        findings=rank_findings(notes.findings),
    )


def check_sampling(case: Case, *, rules: SamplingRules | None = None) -> SamplingAssessment:
    """Check when and how every sample of a case was taken and measured.

    Parameters
    ----------
    case : Case
    rules : SamplingRules, optional
        Default :func:`load_sampling_rules` (``data/sampling.yaml`` with the numbers it
        references in ``trough_correction.yaml``).

    Returns
    -------
    SamplingAssessment
        ``latest`` (the latest sample), ``samples`` (all, file order), ``findings`` (ranked:
        latest sample and case level).

    Notes
    -----
    * Time since the last dose: from the last administration *taken* strictly before the sample
      (a sample drawn at a dose time is a pre-dose sample; missed doses do not count).
    * Interval: that of the dose entry of that administration; for interleaved entries with the
      same interval (e.g. 08:00 and 20:00 both every 24 h) and for single-dose entries, the gap to
      the neighbouring scheduled administration.
    * Trough: ``interval - tolerance <= time since dose <= interval + tolerance`` (ends included;
      ``trough_window_once_daily``, ``trough_window_twice_daily``). Earlier than
      ``min_time_after_dose_icome`` (4 h) is an absorption-phase sample (critical).
    * Steady state (``steady_state_lab_practice`` -> ``sampling_arup_days``): elapsed days from
      the first recorded dose >= 29, and elapsed days since the first administration of the
      current regimen (a change of amount or interval, or a restart after a pause) >= 8.
    * LLOQ: the sample's own; otherwise the default (``default_lloq_lc_ms_ms``), with an INFO
      finding. Below the LLOQ used is censored.
    * Unit plausibility: the case's plausibility warnings on the sample's concentration, plus a
      non-zero value below 10 ng/mL written below its own LLOQ (which the case does not check).

    Examples
    --------
    >>> from imatinib_tdm.case import load_demo_case
    >>> result = check_sampling(load_demo_case("demo-001"))
    >>> s = result.latest
    >>> s.time_since_last_dose_h, s.interval_h, s.is_trough, s.is_steady_state
    (23.5, 24.0, True, True)
    >>> s.lloq_ng_per_ml, s.lloq_origin.value, [f.code for f in result.findings]
    (50.0, 'sample', [])
    """
    rules = load_sampling_rules() if rules is None else rules
    rule_ids = (
        *(w.id for w in rules.trough_windows),
        rules.min_time_after_dose.id,
        rules.steady_state.id,
        rules.steady_state_days.id,
        rules.elimination.id,
        rules.default_lloq.id,
        rules.assay.id,
        *(m.id for m in rules.file.matrices),
        rules.unit_plausibility.id,
    )
    admins = _schedule(case)
    warnings = case.plausibility_warnings()
    checks = tuple(
        _check_one(case, index, admins, warnings, rules) for index in range(len(case.samples))
    )
    case_notes = _Notes(label=None)
    if not checks:
        case_notes.add(
            "no_sample",
            _S,
            Severity.INFO,
            "No blood sample yet: only the population-predicted trough for the dose and "
            "covariates can be given.",
            {},
            "Draw a trough sample at steady state.",
            (rules.steady_state.id,),
        )
    for warning in warnings:
        if warning.code == "daily_dose_above_label":
            case_notes.add(
                "daily_dose_above_label",
                _S,
                Severity.CAUTION,
                warning.message,
                {},
                "Check the dose history for overlapping entries.",
            )
    latest = None
    if checks:
        latest = max(checks, key=lambda c: (c.sample_time_h, c.sample_index))
    findings = rank_findings([*(latest.findings if latest else ()), *case_notes.findings])
    return SamplingAssessment(latest=latest, samples=checks, findings=findings, rule_ids=rule_ids)
