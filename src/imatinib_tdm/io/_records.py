"""Records of one individual and the two time-varying covariate conventions.

A :class:`Record` is one event of an individual after ``ADDL`` expansion (a data row, or an implied
additional dose). :func:`resolve_time_varying` turns the values written on the rows into the value
stored per record in the :class:`~imatinib_tdm.pk._events.EventTable`, whose reading is: *the value
stored on record k is in force at record k (for a dose: the value its F, lag and D1 are computed
with) and from there until the next record*.

``locf``
    Record k stores its own value; a missing value is the value of the last row at or before the
    record's time that has one (an implied additional dose has none of its own). Missing values
    before an individual's first value take that first value (reported as a warning).
``nonmem_next``
    NONMEM's reading: PREDPP advances the system from record k-1 to record k with the PK values
    computed from record k, and applies the dose of record k with them too. So the value over the
    interval (t[k-1], t[k]] is record k's own value; an implied additional dose takes the value of
    the next data row after it (NONMEM computes its PK from that row). Stored per record: record k
    stores the *next* record's own value (the value over (t[k], t[k+1]]), the last record its own,
    except a dose record, which keeps its own value for the dose and, when the next record is
    later and its value differs, is followed by an inserted covariate-only record (``OTHER``, same
    time) that carries the next record's value. Missing values take the value of the next row that
    has one; missing values after an individual's last value take that last value (warning).

The occasion index is resolved like a covariate (NONMEM's OCC is a data item read the same way).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from imatinib_tdm.pk._events import RecordKind

Convention = Literal["locf", "nonmem_next"]


@dataclass(frozen=True)
class Record:
    """One event of an individual (times in h, amounts in mg, concentrations in the file unit)."""

    row: int
    """1-based data row; for an implied additional dose, the row of the dose that implies it."""
    time_h: float
    kind: RecordKind
    implied: bool = False
    amount_mg: float = 0.0
    route: int = 0
    rate_mg_per_h: float = 0.0
    steady_state: int = 0
    interval_h: float = 0.0
    dv: float = math.nan
    censored: bool = False
    lloq: float = math.nan
    values: tuple[float, ...] = ()
    """Own values of the covariates (and occasion), nan where the row has none."""


def _same(a: Sequence[float], b: Sequence[float]) -> bool:
    return all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def _locf(records: Sequence[Record], n_values: int) -> tuple[list[Record], list[set[int]]]:
    filled_outside: list[set[int]] = [set() for _ in range(n_values)]
    columns: list[tuple[list[float], list[float]]] = []
    for j in range(n_values):
        known = [
            (r.time_h, r.values[j])
            for r in records
            if not r.implied and not math.isnan(r.values[j])
        ]
        columns.append(([t for t, _ in known], [v for _, v in known]))
    out: list[Record] = []
    for record in records:
        values = list(record.values) if not record.implied else [math.nan] * n_values
        for j in range(n_values):
            if not math.isnan(values[j]):
                continue
            times, known_values = columns[j]
            index = bisect.bisect_right(times, record.time_h) - 1
            if index >= 0:
                values[j] = known_values[index]
            else:  # before the individual's first value: carried backward
                values[j] = known_values[0]
                if not record.implied:
                    filled_outside[j].add(record.row)
        out.append(replace(record, values=tuple(values)))
    return out, filled_outside


def _nonmem_next(records: Sequence[Record], n_values: int) -> tuple[list[Record], list[set[int]]]:
    filled_outside: list[set[int]] = [set() for _ in range(n_values)]
    n = len(records)
    own: list[list[float]] = [[math.nan] * n_values for _ in range(n)]
    for j in range(n_values):
        next_value = math.nan
        # backward pass: missing values take the next row's value (next-record reading)
        for k in range(n - 1, -1, -1):
            record = records[k]
            if not record.implied and not math.isnan(record.values[j]):
                next_value = record.values[j]
            own[k][j] = next_value
        last_value = math.nan
        for k in range(n):  # after the last value: carried forward
            if math.isnan(own[k][j]):
                own[k][j] = last_value
                if not records[k].implied:
                    filled_outside[j].add(records[k].row)
            else:
                last_value = own[k][j]
    out: list[Record] = []
    for k, record in enumerate(records):
        mine = tuple(own[k])
        following = tuple(own[k + 1]) if k + 1 < n else mine
        if record.kind == RecordKind.DOSE:
            out.append(replace(record, values=mine))
            if k + 1 < n and records[k + 1].time_h > record.time_h and not _same(mine, following):
                out.append(
                    Record(
                        row=record.row,
                        time_h=record.time_h,
                        kind=RecordKind.OTHER,
                        implied=True,
                        values=following,
                    )
                )
        else:
            out.append(replace(record, values=following))
    return out, filled_outside


def resolve_time_varying(
    records: Sequence[Record], n_values: int, convention: Convention
) -> tuple[list[Record], list[set[int]]]:
    """Values stored per record under ``convention`` (see the module notes).

    Parameters
    ----------
    records : sequence of Record
        One individual's records in EventTable order; every value column has at least one
        known value among the data rows.
    n_values : int
        Length of each record's ``values``.
    convention : {"locf", "nonmem_next"}

    Returns
    -------
    records : list of Record
        With resolved ``values`` (``nonmem_next`` may insert covariate-only records).
    filled_outside : list of set of int
        Per value column, the rows whose missing value could only be filled against the
        convention's direction (before the first value for locf, after the last for nonmem_next).
    """
    if convention == "locf":
        return _locf(records, n_values)
    return _nonmem_next(records, n_values)
