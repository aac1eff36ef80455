"""Dose schedule of a case as the sampling checks see it.

Owns the expansion of the dose history into scheduled administrations (taken or missed) with the
dosing interval in effect at each (:func:`_schedule`), and the detection of the last change of
regimen (:func:`_last_change_h`), with the time tolerances they use. Used by
:mod:`imatinib_tdm.tdm._sampling_checks`; re-exported by :mod:`imatinib_tdm.tdm._sampling`.

Imports case (public API) and errors only; never report, store or service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError

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
