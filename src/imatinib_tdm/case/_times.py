"""Times of a case: parsing (ISO 8601 date-time or hours since the first dose) and arithmetic.

See :mod:`imatinib_tdm.case` for the time conventions. Imports only :mod:`imatinib_tdm.errors`
from the package.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, WithJsonSchema

from imatinib_tdm.case._limits import EARLIEST_YEAR, LATEST_YEAR, MAX_HOURS
from imatinib_tdm.errors import CaseError

__all__ = ["CaseTime"]

_SAME_TIME_TOLERANCE_H = 1.0 / 3600.0  # two events less than one second apart are simultaneous


def _bounded_hours(hours: float, value: Any) -> float:
    if not math.isfinite(hours):
        raise ValueError(f"a time in hours must be a finite number, got {value!r}")
    if abs(hours) > MAX_HOURS:
        raise ValueError(
            f"{hours:g} h is out of range: a time in hours since the first dose must be within "
            f"{MAX_HOURS:g} h (100 years) either way"
        )
    return hours


def _bounded_datetime(moment: datetime) -> datetime:
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(
            f"{moment.isoformat()} is out of range: dates from {EARLIEST_YEAR} to {LATEST_YEAR} "
            "are accepted"
        )
    return moment


def _parse_time(value: Any) -> datetime | float:
    if isinstance(value, bool):
        raise ValueError(f"expected a date-time or a number of hours, got {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            hours = float(value)
        except OverflowError:  # a Python int beyond the float range
            raise ValueError("a time in hours must be a finite number") from None
        return _bounded_hours(hours, value)
    if isinstance(value, datetime):
        return _bounded_datetime(value)
    if isinstance(value, date):
        raise ValueError(
            f"{value.isoformat()} is a date without a clock time; write e.g. "
            f"{value.isoformat()}T08:00"
        )
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"{text!r} is a date without a clock time; write e.g. {text}T08:00")
        if len(text) > 64:  # no ISO date-time or number is longer; do not echo a long text
            raise ValueError("is neither an ISO 8601 date-time nor a number of hours (too long)")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return _bounded_datetime(moment)
        try:
            hours = float(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an ISO 8601 date-time (e.g. 2026-10-01T08:00 or "
                "2026-10-01T08:00+02:00) nor a number of hours since the first dose"
            ) from None
        return _bounded_hours(hours, text)
    raise ValueError(f"expected a date-time or a number of hours, got {value!r}")


_TIME_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "description": "ISO 8601 date-time, e.g. 2026-10-01T08:00 or 2026-10-01T08:00+02:00",
        },
        {"type": "number", "description": "hours since the first dose"},
    ]
}

CaseTime = Annotated[
    datetime | float, BeforeValidator(_parse_time), WithJsonSchema(_TIME_JSON_SCHEMA)
]
"""A time of a case: an ISO 8601 date-time, or hours since the first dose (see module notes)."""


def _hours_between(origin: datetime | float, time: datetime | float) -> float:
    if isinstance(origin, datetime) and isinstance(time, datetime):
        if origin.tzinfo is not None and time.tzinfo is not None:
            # In UTC: subtracting datetimes sharing one tzinfo object would give wall-clock time.
            return (time.astimezone(UTC) - origin.astimezone(UTC)).total_seconds() / 3600.0
        return (time - origin).total_seconds() / 3600.0
    if isinstance(origin, datetime) or isinstance(time, datetime):
        raise CaseError("cannot compare a date-time with a number of hours")
    return float(time) - float(origin)


def _show(time: datetime | float) -> str:
    if isinstance(time, datetime):
        return time.isoformat(sep=" ", timespec="minutes")
    return f"{time:g} h"


def _kind(time: datetime | float) -> str:
    if not isinstance(time, datetime):
        return "a number of hours since the first dose"
    if time.tzinfo is None:
        return "a date-time without UTC offset (local clock time)"
    return "a date-time with UTC offset"


def _max_amount_in_24_h(events: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(window start h, total mg) of the 24 h window [t, t + 24 h) with the largest total."""
    if not events:
        return None
    best: tuple[float, float] = (events[0][0], 0.0)
    total, left = 0.0, 0
    for t_right, amount in events:
        total += amount
        while events[left][0] <= t_right - 24.0:
            total -= events[left][1]
            left += 1
        if total > best[1]:
            best = (events[left][0], total)
    return best
