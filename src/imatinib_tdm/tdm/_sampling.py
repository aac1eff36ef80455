"""Sampling and analytical checks of a TDM case, and the classification of a trough.

:func:`check_sampling` looks at every blood sample of a case (the latest one first): time since the
last dose taken before it, the dosing interval then, whether it is a trough (inside the window of
``data/sampling.yaml``), days on therapy and since the last dose change, steady state by the
laboratory rule with a model-free note, the LLOQ used (the sample's own or the default, said
which), below-LLOQ, the assay method and matrix, and unit plausibility (from
:meth:`imatinib_tdm.case.Case.plausibility_warnings`). Each problem is a :class:`Finding` with its
numbers and the id of the rule it comes from. :func:`classify_trough` turns a level into a
:class:`TroughStatus`; :func:`classify_sample` does it for a checked sample.

The work is split: the result types are in :mod:`._sampling_types`, the classification in
:mod:`._sampling_classify`, the dose schedule in :mod:`._sampling_schedule` and the rules applied
per section of a check in :mod:`._sampling_checks`. This module assembles one sample's check
(:func:`_check_one`) and the case's assessment (:func:`check_sampling`), and re-exports the
others, so that every name stays importable from here.

Imports case (public API), errors and the tdm knowledge loaders; never report, store or service.
"""

from __future__ import annotations

from collections.abc import Sequence

from imatinib_tdm.case import Case, PlausibilityWarning
from imatinib_tdm.tdm._findings import Severity, rank_findings
from imatinib_tdm.tdm._sampling_rules import SamplingRules, load_sampling_rules

# Re-exports: every name defined here before the split stays importable from here (the
# redundant aliases mark explicit re-exports for mypy and ruff).
# isort: off
from imatinib_tdm.tdm._sampling_types import (
    LloqOrigin as LloqOrigin,
    SampleCheck as SampleCheck,
    SamplingAssessment as SamplingAssessment,
)
from imatinib_tdm.tdm._sampling_classify import (
    classify_sample as classify_sample,
    classify_trough as classify_trough,
    _threshold_value as _threshold_value,
)
from imatinib_tdm.tdm._sampling_schedule import (
    _Admin as _Admin,
    _HOURS_PER_DAY as _HOURS_PER_DAY,
    _INTERVAL_MATCH_H as _INTERVAL_MATCH_H,
    _last_change_h as _last_change_h,
    _LOOKBACK_INTERVALS as _LOOKBACK_INTERVALS,
    _same_regimen as _same_regimen,
    _SAME_TIME_H as _SAME_TIME_H,
    _schedule as _schedule,
)
from imatinib_tdm.tdm._sampling_checks import (
    _A as _A,
    _check_assay_and_matrix as _check_assay_and_matrix,
    _check_lloq as _check_lloq,
    _check_steady_state as _check_steady_state,
    _check_timing as _check_timing,
    _check_units as _check_units,
    _Ctx as _Ctx,
    _Notes as _Notes,
    _plausibility_index as _plausibility_index,
    _S as _S,
    _SAMPLE_FIELD as _SAMPLE_FIELD,
    _SteadyState as _SteadyState,
    _Timing as _Timing,
)
# isort: on

__all__ = [
    "LloqOrigin",
    "SampleCheck",
    "SamplingAssessment",
    "check_sampling",
    "classify_sample",
    "classify_trough",
]


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
