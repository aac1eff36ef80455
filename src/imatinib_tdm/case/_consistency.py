"""Cross-field checks of a case and its plausibility warnings.

:func:`_consistency_problems` runs once every field is individually valid (mixed kinds of time,
missed doses that match no administration, overlapping dose entries, samples before the first
dose, co-medications stopped before they started); :func:`_plausibility_warnings` lists values that
are allowed but look wrong. The case type is used for annotations only: this module is imported
by :mod:`imatinib_tdm.case._models`, not the reverse.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from imatinib_tdm.case._limits import (
    HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML,
    LABELLED_MAX_DAILY_DOSE_MG,
    MAX_HOURS,
    SUSPECT_HIGH_FACTOR,
    SUSPECT_LOW_NG_PER_ML,
)
from imatinib_tdm.case._times import (
    _SAME_TIME_TOLERANCE_H,
    _hours_between,
    _kind,
    _max_amount_in_24_h,
    _show,
)
from imatinib_tdm.units import convert_concentration

if TYPE_CHECKING:
    from imatinib_tdm.case._models import Case

__all__ = ["PlausibilityWarning"]


@dataclass(frozen=True)
class PlausibilityWarning:
    """A value that is allowed but looks wrong (e.g. a concentration in the wrong unit).

    The TDM layer turns these into findings; they never stop the analysis.

    Attributes
    ----------
    code : str
        Stable identifier, e.g. ``"concentration_suspiciously_low"``.
    field : str
        Dotted path of the value, e.g. ``"samples[0].concentration"``.
    message : str
        What looks wrong, why, and what to check.
    """

    code: str
    field: str
    message: str


_Loc = tuple[str | int, ...]


def _path(loc: _Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "(case)"


def _times(case: Case) -> Iterator[tuple[_Loc, datetime | float]]:
    for i, dose in enumerate(case.doses):
        yield ("doses", i, "time"), dose.time
    for i, missed in enumerate(case.missed_doses):
        yield ("missed_doses", i), missed
    for i, sample in enumerate(case.samples):
        yield ("samples", i, "time"), sample.time
    for i, comedication in enumerate(case.comedications):
        if comedication.start is not None:
            yield ("comedications", i, "start"), comedication.start
        if comedication.stop is not None:
            yield ("comedications", i, "stop"), comedication.stop


def _expand(case: Case) -> list[tuple[int, float, float]]:
    """(dose entry index, hours since first dose, amount mg) of every scheduled administration."""
    events: list[tuple[int, float, float]] = []
    origin = case.time_origin
    for index, dose in enumerate(case.doses):
        start_h = _hours_between(origin, dose.time)
        interval_h = dose.interval_h or 0.0
        for k in range(dose.n_administrations):
            events.append((index, start_h + k * interval_h, dose.amount_mg))
    return events


def _administrations(case: Case) -> tuple[list[tuple[int, float, float, bool]], list[int]]:
    """Scheduled administrations sorted by time as (entry, hours, mg, missed), and the indices of
    ``missed_doses`` that match no administration.

    Each missed time cancels one administration at that time, preferring a repeated entry over a
    single dose (a single dose written next to a regimen is a dose that was taken), then the
    first-listed entry.
    """
    events = [[i, t, a, False] for i, t, a in sorted(_expand(case), key=lambda e: (e[1], e[0]))]
    times = [float(event[1]) for event in events]
    unmatched: list[int] = []
    for index, missed in enumerate(case.missed_doses):
        t = case.hours_since_first_dose(missed)
        lo = bisect.bisect_left(times, t - _SAME_TIME_TOLERANCE_H)
        hi = bisect.bisect_right(times, t + _SAME_TIME_TOLERANCE_H)
        candidates = [k for k in range(lo, hi) if not events[k][3]]
        if not candidates:
            unmatched.append(index)
            continue
        best = min(candidates, key=lambda k: (case.doses[int(events[k][0])].count is None, k))
        events[best][3] = True
    return [(int(i), float(t), float(a), bool(m)) for i, t, a, m in events], unmatched


def _too_far(time: datetime | float, origin: datetime | float) -> str:
    return (
        f"{_show(time)} is more than {MAX_HOURS:g} h (100 years) from the first dose "
        f"({_show(origin)}); check the date"
    )


def _consistency_problems(case: Case) -> list[tuple[_Loc, str]]:
    problems: list[tuple[_Loc, str]] = []
    # 1. one kind of time per case
    first_loc, first_time = ("doses", 0, "time"), case.doses[0].time
    for loc, time in _times(case):
        if _kind(time) != _kind(first_time):
            problems.append(
                (
                    loc,
                    f"{_show(time)} is {_kind(time)}, but {_path(first_loc)} is "
                    f"{_kind(first_time)}; all times of a case must be of one kind (all "
                    "date-times with offset, all without, or all hours since the first dose)",
                )
            )
    if problems:
        return problems
    origin = case.time_origin
    # 1b. every time (and every entry's last administration) within 100 years of the first dose:
    # farther times made the engine's weights underflow (NaN) instead of giving an answer
    for loc, time in _times(case):
        if abs(_hours_between(origin, time)) > MAX_HOURS:
            problems.append((loc, _too_far(time, origin)))
    for index, dose in enumerate(case.doses):
        last_h = _hours_between(origin, dose.time) + (dose.n_administrations - 1) * (
            dose.interval_h or 0.0
        )
        if last_h > MAX_HOURS:
            problems.append(
                (
                    ("doses", index, "count"),
                    f"the entry's last administration is {last_h:g} h after the first dose; "
                    f"a dose history spans at most {MAX_HOURS:g} h (100 years): check the count",
                )
            )
    if problems:
        return problems
    # 2. missed doses must be scheduled administrations, listed once
    administrations, unmatched = _administrations(case)
    scheduled = [t for _, t, _, _ in administrations]
    seen_missed: set[int] = set()
    for index, missed in enumerate(case.missed_doses):
        t = _hours_between(origin, missed)
        second = round(t * 3600.0)  # compare at one-second resolution
        if second in seen_missed:
            problems.append((("missed_doses", index), f"{_show(missed)} is listed twice"))
            continue
        seen_missed.add(second)
        if index in unmatched:
            nearest = min(scheduled, key=lambda s: abs(s - t))
            problems.append(
                (
                    ("missed_doses", index),
                    f"{_show(missed)} matches no scheduled administration (nearest: "
                    f"{_show(_time_at(case, origin, nearest))}); a missed dose must be one of the "
                    "administrations of the dose entries",
                )
            )
    # 3. overlapping dose entries: two administrations taken at the same moment ...
    taken = [(i, t) for i, t, _, missed in administrations if not missed]
    reported: set[tuple[int, int]] = set()
    for (i, t_i), (j, t_j) in itertools.pairwise(taken):
        if t_j - t_i < _SAME_TIME_TOLERANCE_H and (min(i, j), max(i, j)) not in reported:
            reported.add((min(i, j), max(i, j)))
            first, second = min(i, j), max(i, j)
            problems.append(
                (
                    ("doses", second),
                    f"doses[{second}] and doses[{first}] both schedule an administration at "
                    f"{_show(_time_at(case, origin, t_j))}; overlapping dose entries (end the "
                    "first regimen with its count before the next one starts)",
                )
            )
    # ... or two regimens with different intervals running at the same time
    for i, a in enumerate(case.doses):
        for j in range(i + 1, len(case.doses)):
            b = case.doses[j]
            if a.count is None or b.count is None or a.interval_h == b.interval_h:
                continue  # same interval, different clock time: an interleaved schedule
            a0, b0 = _hours_between(origin, a.time), _hours_between(origin, b.time)
            a1 = a0 + (a.count - 1) * (a.interval_h or 0.0)
            b1 = b0 + (b.count - 1) * (b.interval_h or 0.0)
            if a0 <= b1 and b0 <= a1 and (min(i, j), max(i, j)) not in reported:
                reported.add((i, j))
                problems.append(
                    (
                        ("doses", j),
                        f"doses[{j}] (every {b.interval_h:g} h from {_show(b.time)}) overlaps "
                        f"doses[{i}] (every {a.interval_h:g} h from {_show(a.time)}); a regimen "
                        "change must start after the previous regimen's last administration "
                        "(shorten its count)",
                    )
                )
    # 4. samples after the first dose, unique ids
    seen_ids: dict[str, int] = {}
    for index, sample in enumerate(case.samples):
        if _hours_between(origin, sample.time) < 0:
            problems.append(
                (
                    ("samples", index, "time"),
                    f"{_show(sample.time)} is before the first recorded dose "
                    f"({_show(origin)}); check the dose history or the sample time",
                )
            )
        if sample.id is not None:
            if sample.id in seen_ids:
                problems.append(
                    (
                        ("samples", index, "id"),
                        f"sample id {sample.id!r} is also used by samples[{seen_ids[sample.id]}]",
                    )
                )
            seen_ids.setdefault(sample.id, index)
    # 5. co-medication periods
    for index, comedication in enumerate(case.comedications):
        start, stop = comedication.start, comedication.stop
        if start is not None and stop is not None and _hours_between(start, stop) < 0:
            problems.append(
                (
                    ("comedications", index, "stop"),
                    f"{comedication.name} stopped ({_show(stop)}) before it started "
                    f"({_show(start)})",
                )
            )
    return problems


def _time_at(case: Case, origin: datetime | float, hours: float) -> datetime | float:
    if isinstance(origin, datetime):
        return origin + timedelta(hours=hours)
    return origin + hours


def _plausibility_warnings(case: Case) -> tuple[PlausibilityWarning, ...]:
    """Values of a case that are accepted but look wrong (thresholds in :mod:`._limits`).

    Checks: a quantified concentration below 10 ng/mL (lowest LLOQ of published
    imatinib assays) or above 10 x 3844 ng/mL (ten times the highest published group-mean
    trough) once converted to ng/mL, which suggests a wrong unit; a concentration of 0 without
    an LLOQ; more than 800 mg (the highest labelled daily dose) within any 24 h.

    Returns
    -------
    tuple of PlausibilityWarning
        Empty when nothing looks odd.
    """
    warnings: list[PlausibilityWarning] = []
    concentrations = case.concentrations_ng_per_ml()
    high_ng_per_ml = SUSPECT_HIGH_FACTOR * HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML
    for index, (sample, c_ng) in enumerate(zip(case.samples, concentrations, strict=True)):
        where = f"samples[{index}].concentration"
        shown = f"{sample.concentration:g} {sample.unit.value}"
        if sample.is_below_lloq:
            continue
        if sample.concentration == 0:
            warnings.append(
                PlausibilityWarning(
                    "concentration_zero_without_lloq",
                    where,
                    f"{where}: a concentration of 0 without an LLOQ; if the result was below "
                    "the limit of quantification, give the assay's lloq so that it is "
                    "treated as censored",
                )
            )
        elif c_ng < SUSPECT_LOW_NG_PER_ML:
            warnings.append(
                PlausibilityWarning(
                    "concentration_suspiciously_low",
                    where,
                    f"{where}: {shown} is below {SUSPECT_LOW_NG_PER_ML:g} ng/mL, the lowest "
                    "limit of quantification of published imatinib assays; check the unit "
                    f"(as ug/mL it would be {sample.concentration * 1000:g} ng/mL, as umol/L "
                    f"{convert_concentration(sample.concentration, 'umol/L', 'ng/mL'):.0f} "
                    "ng/mL; typical troughs are around 1000 ng/mL)",
                )
            )
        elif c_ng > high_ng_per_ml:
            warnings.append(
                PlausibilityWarning(
                    "concentration_suspiciously_high",
                    where,
                    f"{where}: {shown} is {c_ng:.0f} ng/mL, more than {SUSPECT_HIGH_FACTOR:g} "
                    f"times the highest published mean trough "
                    f"({HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML:g} ng/mL at 800 mg/day); check the "
                    "unit (was it ng/mL or nmol/L?)",
                )
            )
    daily = _max_amount_in_24_h(case.dose_events())
    if daily is not None and daily[1] > LABELLED_MAX_DAILY_DOSE_MG:
        start_h, total_mg = daily
        warnings.append(
            PlausibilityWarning(
                "daily_dose_above_label",
                "doses",
                f"doses: {total_mg:g} mg are given within 24 h from {start_h:g} h after the "
                f"first dose, above the highest labelled dose of "
                f"{LABELLED_MAX_DAILY_DOSE_MG:g} mg/day; check for overlapping dose entries",
            )
        )
    return tuple(warnings)
