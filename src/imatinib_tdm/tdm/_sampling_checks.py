"""The rules of ``data/sampling.yaml`` applied to one sample, section by section.

Owns the collection of findings and not-interpretable reasons of one check (:class:`_Notes`) and
the sections of a sample's check: timing and trough window (:func:`_check_timing`), steady state
(:func:`_check_steady_state`), LLOQ and censoring (:func:`_check_lloq`), unit plausibility
(:func:`_check_units`), assay and matrix (:func:`_check_assay_and_matrix`). Each section adds its
findings with their numbers and rule ids. Assembled by :mod:`imatinib_tdm.tdm._sampling`, which
re-exports these names.

Imports case (public API) and the tdm findings and knowledge types; never report, store or service.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from imatinib_tdm.case import (
    HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML,
    SUSPECT_HIGH_FACTOR,
    SUSPECT_LOW_NG_PER_ML,
    Case,
    PlausibilityWarning,
)
from imatinib_tdm.tdm._findings import EvidenceValue, Finding, FindingCategory, Severity
from imatinib_tdm.tdm._knowledge import Verification
from imatinib_tdm.tdm._sampling_rules import SamplingRules, TroughWindowRule
from imatinib_tdm.tdm._sampling_schedule import _HOURS_PER_DAY, _SAME_TIME_H, _Admin, _last_change_h
from imatinib_tdm.tdm._sampling_types import LloqOrigin

_SAMPLE_FIELD = re.compile(r"^samples\[(\d+)\]")


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
