"""Which computations are large, so that the compute pool runs them in a lane of their own.

An interpretation of a usual case takes 10-30 ms. Its cost grows with the number of dose
entries written one by one (measured on this project's 2-core machine: 500 entries 0.13 s,
2,000 entries 0.6 s, 5,000 entries 2.6 s; a regular regimen costs about one entry whatever its
dose count, since regular runs are summed in closed form), with the number of administrations
(10,000 doses of one regimen 0.2 s) and with the number of samples (200 samples 0.3 s). Such
cases are legitimate (a record of every dose taken, imported from an administration log), but a
few of them at once must not occupy every compute process while clinicians wait behind them.

The thresholds below are this package's choices, set well above any case seen in routine TDM
and well below the cost at which a request becomes noticeable to others; they decide only where
a computation runs, never whether it runs (the case limits of :mod:`imatinib_tdm.case` decide
that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from imatinib_tdm.case import Case

__all__ = [
    "LARGE_CASE_ADMINISTRATIONS",
    "LARGE_CASE_DOSE_ENTRIES",
    "LARGE_CASE_MISSED_DOSES",
    "LARGE_CASE_SAMPLES",
    "is_large_case",
    "is_large_job",
]

LARGE_CASE_DOSE_ENTRIES = 200
"""Dose entries above which a case is large (about 40 ms of interpretation)."""
LARGE_CASE_SAMPLES = 20
"""Samples above which a case is large."""
LARGE_CASE_MISSED_DOSES = 200
"""Missed doses above which a case is large."""
LARGE_CASE_ADMINISTRATIONS = 20_000
"""Administrations (doses of every entry, counted out) above which a case is large."""


def _length(value: Any) -> int:
    return len(value) if isinstance(value, Sequence) and not isinstance(value, str) else 0


def _administrations(doses: Iterable[Any]) -> int:
    total = 0
    for dose in doses:
        count = dose.get("count") if isinstance(dose, Mapping) else getattr(dose, "count", None)
        # a count that is not a plain whole number is refused by the case model later
        total += (
            count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
        )
    return total


def is_large_case(value: object) -> bool:
    """Whether ``value`` is a case (a :class:`~imatinib_tdm.case.Case` or its JSON form) whose
    computation is large by the thresholds of this module; anything else is not a case: False.
    """
    if isinstance(value, Case):
        doses: Sequence[Any] = value.doses
        samples, missed = len(value.samples), len(value.missed_doses)
    elif isinstance(value, Mapping) and "doses" in value:
        raw = value.get("doses")
        doses = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else ()
        samples, missed = _length(value.get("samples")), _length(value.get("missed_doses"))
    else:
        return False
    return (
        len(doses) > LARGE_CASE_DOSE_ENTRIES
        or samples > LARGE_CASE_SAMPLES
        or missed > LARGE_CASE_MISSED_DOSES
        or _administrations(doses) > LARGE_CASE_ADMINISTRATIONS
    )


def is_large_job(args: Iterable[object]) -> bool:
    """Whether a computation's arguments hold a large case (:func:`is_large_case`)."""
    return any(is_large_case(arg) for arg in args)
