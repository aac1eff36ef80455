"""Reading NONMEM-format datasets into an :class:`~imatinib_tdm.pk._events.EventTable`.

Owns the meaning of the NONMEM data items (ID, TIME, EVID, AMT, CMT, II, ADDL, SS, RATE, DV, MDV,
OCC, BLQ/LLOQ and covariate columns), their validation (every offending row listed), ``ADDL``
expansion, compartment-to-route mapping, BLQ censoring, DV unit conversion and padding. The text
level lives in :mod:`._parse`, the covariate conventions in :mod:`._records`. The user-facing
description is ``docs/nonmem-datasets.md``.

Imports errors, units and the pk value types (never tdm, report, store or service).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import IO

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import CaseError
from imatinib_tdm.io._parse import (
    Problems,
    RawTable,
    format_rows,
    numeric_column,
    read_lines,
    resolve_columns,
    rows_where,
    text_column,
    tokenise,
)
from imatinib_tdm.io._records import Convention, Record, resolve_time_varying
from imatinib_tdm.io._rows import (
    OCC_COLUMN,
    Columns,
    DatasetWarning,
    build_individuals,
    check_rows,
    check_whole_id_missing,
    derive_evid,
)
from imatinib_tdm.io._table import records_to_table
from imatinib_tdm.pk._events import EventTable, Route
from imatinib_tdm.units import ConcentrationUnit, parse_concentration_unit

__all__ = [
    "DEFAULT_CMT_ROUTES",
    "DatasetWarning",
    "NonmemDataset",
    "load_nonmem_dataset",
    "read_nonmem_dataset",
]

DEFAULT_CMT_ROUTES: Mapping[int, Route] = MappingProxyType({1: Route.ORAL, 2: Route.IV_BOLUS})
"""NONMEM ADVAN2/ADVAN4 numbering: CMT 1 is the depot (oral), CMT 2 the central compartment."""

STANDARD_COLUMNS = ("ID", "TIME", "EVID", "AMT", "CMT", "II", "ADDL", "SS", "RATE", "DV", "MDV")
REQUIRED_COLUMNS = ("ID", "TIME", "AMT", "DV")
UNIT_COLUMNS = ("DVUNIT", "UNIT")
_CONVENTIONS = ("locf", "nonmem_next")


@dataclass(frozen=True, eq=False)
class NonmemDataset:
    """A NONMEM dataset read into an event table, with the warnings found while reading.

    Attributes
    ----------
    table : EventTable
        Every individual of the file, in file order, concentrations in mg/L.
    warnings : tuple of DatasetWarning
        Empty when nothing needed saying.
    dv_unit : ConcentrationUnit
        Unit of DV and LLOQ in the file.
    time_varying : {"locf", "nonmem_next"}
        Covariate convention used.
    """

    table: EventTable
    warnings: tuple[DatasetWarning, ...]
    dv_unit: ConcentrationUnit
    time_varying: Convention


def _check_options(
    time_varying: str,
    column_map: Mapping[str, str] | None,
    cmt_routes: Mapping[int, Route] | None,
) -> tuple[dict[str, str], dict[int, Route]]:
    if time_varying not in _CONVENTIONS:
        raise CaseError(
            f"time_varying must be 'locf' or 'nonmem_next', got {time_varying!r}",
            field="time_varying",
        )
    mapping = dict(column_map or {})
    unknown = sorted(set(mapping) - {*STANDARD_COLUMNS, OCC_COLUMN})
    if unknown:
        raise CaseError(
            "column_map maps standard NONMEM names to the file's column names; unknown standard "
            f"name(s): {', '.join(unknown)} (expected among "
            f"{', '.join((*STANDARD_COLUMNS, OCC_COLUMN))})",
            field="column_map",
        )
    routes = dict(DEFAULT_CMT_ROUTES if cmt_routes is None else cmt_routes)
    for cmt, route in routes.items():
        if isinstance(cmt, bool) or not isinstance(cmt, int) or cmt < 1:
            raise CaseError(f"cmt_routes: compartment {cmt!r} is not an integer >= 1", field="cmt")
        if not isinstance(route, Route):
            raise CaseError(
                f"cmt_routes: compartment {cmt} maps to {route!r}, expected a Route", field="cmt"
            )
    return mapping, routes


def _normalise_id(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if math.isfinite(value) and value == int(value) else text


def _read_columns(
    raw: RawTable,
    covariates: Sequence[str],
    column_map: Mapping[str, str],
    blq_column: str | None,
    lloq_column: str | None,
    dv_unit: ConcentrationUnit,
) -> Columns:
    names = (*STANDARD_COLUMNS, OCC_COLUMN)
    index = resolve_columns(raw.header, names, column_map)
    extra = resolve_columns(raw.header, tuple(covariates), {})
    missing = [column_map.get(n, n) for n in REQUIRED_COLUMNS if index[n] is None]
    missing += [name for name in covariates if extra[name] is None]
    if missing:
        raise CaseError(
            f"NONMEM dataset {raw.source}: missing required column(s) {', '.join(missing)}; "
            f"the header has {', '.join(raw.header)}",
            field=missing[0],
            missing=missing,
        )
    problems = Problems(raw.source)
    n = raw.n_rows

    def column(name: str, label: str | None = None) -> NDArray[np.float64]:
        position = index[name]
        if position is None:
            return np.full(n, np.nan)
        return numeric_column(raw, position, label or raw.header[position], problems)

    def optional(name: str | None) -> NDArray[np.float64]:
        if name is None:
            return np.full(n, np.nan)
        position = resolve_columns(raw.header, (name,), {})[name]
        if position is None:
            return np.full(n, np.nan)
        return numeric_column(raw, position, raw.header[position], problems)

    id_index = index["ID"]
    assert id_index is not None  # required above
    id_cells = text_column(raw, id_index)
    problems.check([i + 1 for i, c in enumerate(id_cells) if c in {".", ""}], "ID", "ID is missing")
    result = Columns(
        ids=[_normalise_id(cell) for cell in id_cells],
        time=column("TIME"),
        evid=column("EVID"),
        amt=column("AMT"),
        cmt=column("CMT"),
        ii=column("II"),
        addl=column("ADDL"),
        ss=column("SS"),
        rate=column("RATE"),
        dv=column("DV"),
        mdv=column("MDV"),
        occ=column(OCC_COLUMN) if index[OCC_COLUMN] is not None else None,
        blq=optional(blq_column),
        lloq=optional(lloq_column),
        covariates={
            name: numeric_column(raw, position, name, problems)
            for name, position in extra.items()
            if position is not None
        },
    )
    problems.check(rows_where(np.isnan(result.time)), "TIME", "TIME is missing")
    _check_unit_column(raw, dv_unit, problems)
    problems.raise_if_any()
    return result


def _check_unit_column(raw: RawTable, dv_unit: ConcentrationUnit, problems: Problems) -> None:
    position = resolve_columns(raw.header, UNIT_COLUMNS, {})
    found = [(name, i) for name, i in position.items() if i is not None]
    if not found:
        return
    name, i = found[0]
    units: dict[str, list[int]] = {}
    for row, cells in enumerate(raw.rows, start=1):
        if cells[i] in {".", ""}:
            continue
        try:
            unit = parse_concentration_unit(cells[i]).value
        except ValueError:
            unit = cells[i]
        units.setdefault(unit, []).append(row)
    if len(units) > 1:
        problems.add(
            name,
            f"{name}: one DV unit per file is required, found "
            + "; ".join(f"{unit} on {format_rows(rows)}" for unit, rows in units.items()),
            [row for rows in units.values() for row in rows],
        )
    elif units and next(iter(units)) != dv_unit.value:
        unit, rows = next(iter(units.items()))
        problems.add(
            name,
            f"{name} says the DV unit is {unit!r} but dv_unit={dv_unit.value!r}; pass "
            f"dv_unit={unit!r} (one unit per file)",
            rows,
        )


def load_nonmem_dataset(
    path_or_buffer: str | os.PathLike[str] | IO[str],
    *,
    covariates: Sequence[str] = (),
    column_map: Mapping[str, str] | None = None,
    time_varying: Convention = "locf",
    dv_unit: ConcentrationUnit | str = "mg/L",
    blq_column: str | None = "BLQ",
    lloq_column: str | None = "LLOQ",
    cmt_routes: Mapping[int, Route] | None = None,
) -> NonmemDataset:
    """Read a NONMEM-format dataset; the event table together with the reading's warnings.

    Same parameters and semantics as :func:`read_nonmem_dataset`, which returns only the table
    (and emits the warnings as Python warnings).

    Returns
    -------
    NonmemDataset
        ``table`` (EventTable, concentrations in mg/L) and ``warnings`` (tuple of
        DatasetWarning: censored observations without a BLQ flag, BLQ flags on non-observation
        records, observations listed before a dose at the same time, covariate values filled
        against the convention's direction).

    Raises
    ------
    CaseError
        The file cannot be read or is invalid; the message lists every offending row.
    UnitError
        ``dv_unit`` is not a concentration unit.
    """
    unit = parse_concentration_unit(dv_unit)
    mapping, routes = _check_options(time_varying, column_map, cmt_routes)
    lines, source = read_lines(path_or_buffer)
    raw = tokenise(lines, source)
    columns = _read_columns(raw, tuple(covariates), mapping, blq_column, lloq_column, unit)
    problems = Problems(source)
    evid = derive_evid(columns, problems)
    check_rows(columns, evid, problems)
    problems.raise_if_any()
    value_names = list(covariates) + ([OCC_COLUMN] if columns.occ is not None else [])
    notes: list[DatasetWarning] = []
    individuals = build_individuals(columns, evid, routes, value_names, problems, notes)
    problems.raise_if_any()
    check_whole_id_missing(individuals, value_names)
    resolved: list[list[Record]] = []
    filled: dict[str, set[int]] = {name: set() for name in value_names}
    for individual in individuals:
        records, outside = resolve_time_varying(individual.records, len(value_names), time_varying)
        resolved.append(records)
        for name, rows in zip(value_names, outside, strict=True):
            filled[name] |= rows
    for name, rows in filled.items():
        if not rows:
            continue
        if time_varying == "locf":
            code, how = "covariate_filled_backward", "before the first value of the ID"
            what = "that first value was carried backward"
        else:
            code, how = "covariate_filled_forward", "after the last value of the ID"
            what = "that last value was carried forward"
        notes.append(
            DatasetWarning(
                code, f"{format_rows(rows)}: {name} missing {how}; {what}", tuple(sorted(rows))
            )
        )
    table = records_to_table(
        [individual.id for individual in individuals],
        resolved,
        list(covariates),
        len(covariates) if columns.occ is not None else None,
        unit,
        source,
    )
    return NonmemDataset(
        table=table, warnings=tuple(notes), dv_unit=unit, time_varying=time_varying
    )


def read_nonmem_dataset(
    path_or_buffer: str | os.PathLike[str] | IO[str],
    *,
    covariates: Sequence[str] = (),
    column_map: Mapping[str, str] | None = None,
    time_varying: Convention = "locf",
    dv_unit: ConcentrationUnit | str = "mg/L",
    blq_column: str | None = "BLQ",
    lloq_column: str | None = "LLOQ",
    cmt_routes: Mapping[int, Route] | None = None,
) -> EventTable:
    """Read a NONMEM-format dataset into an event table (concentrations in mg/L).

    Parameters
    ----------
    path_or_buffer : str, path or text buffer
        A comma- or whitespace-separated file with a header line (a leading ``#`` or ``C``
        comment mark on it, and ``#``/``C`` comment lines, are allowed). ``.`` or an empty cell
        means missing.
    covariates : sequence of str, default=()
        Columns to keep as covariates, stored under these names. Each must exist and have a value
        on at least one row of every ID.
    column_map : mapping of str to str, optional
        Standard name -> column name in the file, e.g. ``{"DV": "CONC", "OCC": "VISIT"}``
        (standard names: ID TIME EVID AMT CMT II ADDL SS RATE DV MDV OCC).
    time_varying : {"locf", "nonmem_next"}, default="locf"
        Covariate convention. The value stored on record k is the one in force at record k (for a
        dose: the one its F, lag and D1 use) and until the next record.

        * ``"locf"``: a record stores its own value; a missing value is the value of the last
          row at or before its time that has one; an ADDL dose takes the value of the last row at
          or before its time.
        * ``"nonmem_next"``: NONMEM's reading, where a row's value applies to the interval ending
          at that row. Record k stores the next record's value (the one over (t[k], t[k+1]]);
          the last record keeps its own. A dose keeps its own value (NONMEM computes F, lag and
          D1 with it) and, when the next record is later and has another value, is followed by
          an inserted ``OTHER`` record at the same time carrying that value. An ADDL dose takes
          the value of the next data row after it. Missing values take the next row's value.

        Values missing before an ID's first value (locf) or after its last (nonmem_next) take
        that first/last value, with a warning. The occasion follows the same convention.
    dv_unit : ConcentrationUnit or str, default="mg/L"
        Unit of DV and LLOQ in the file (one unit per file); converted to mg/L. AMT is in mg,
        TIME and II in h, RATE in mg/h.
    blq_column : str or None, default="BLQ"
        Column flagging observations below the LLOQ (1) or not (0); optional in the file.
    lloq_column : str or None, default="LLOQ"
        Column with the LLOQ of each observation, in ``dv_unit``; optional in the file.
    cmt_routes : mapping of int to Route, optional
        Compartment number -> route; default ``{1: ORAL, 2: IV_BOLUS}`` (depot and central of
        ADVAN2/4). A compartment mapped to IV_BOLUS or IV_INFUSION is the central one: RATE > 0
        gives an IV infusion, RATE = 0 a bolus. A missing or 0 CMT on a dose means CMT 1.

    Returns
    -------
    EventTable
        One individual per ID, in file order, padded to the same number of records.

    Raises
    ------
    CaseError
        The file is unreadable or invalid; the message lists every offending 1-based data row
        (row 1 is the first line after the header).
    UnitError
        ``dv_unit`` is not a concentration unit.

    Warns
    -----
    UserWarning
        One per :class:`DatasetWarning` (see :func:`load_nonmem_dataset`, which returns them).

    See Also
    --------
    load_nonmem_dataset : the same, returning the warnings as values.
    write_nonmem_dataset : the inverse.

    Notes
    -----
    NONMEM semantics: ``ADDL`` adds doses every ``II`` after the dose (expanded into explicit
    records); ``SS=1/2`` stays on the dose with ``interval_h = II``; ``RATE=-1/-2`` (modelled
    rate or duration) is an ORAL dose absorbed as the model defines (for zero-order models D1
    comes from the model). EVID 3 before any dose is a no-op; EVID 4 before any dose is a dose,
    and after one it is accepted only with SS=1/2 (read as SS=1); other resets are rejected, as
    the event table cannot represent them. When EVID is absent it is 1 where AMT > 0, 2 where
    MDV = 1, else 0. A BLQ observation is censored (M3) with the LLOQ of its row (or its DV when
    there is no LLOQ value); an unflagged DV below the LLOQ is censored too, with a warning.
    Censored values are never replaced. OCC (1-based) becomes the 0-based ``occasion``.
    At equal times doses come before observations. See ``docs/nonmem-datasets.md``.

    Examples
    --------
    >>> import io
    >>> text = "ID,TIME,AMT,ADDL,II,DV,MDV\\n1,0,400,2,24,.,1\\n1,71,0,.,.,1200,0\\n"
    >>> table = read_nonmem_dataset(io.StringIO(text), dv_unit="ng/mL")
    >>> table.time_h.tolist(), table.amount_mg.tolist()
    ([[0.0, 24.0, 48.0, 71.0]], [[400.0, 400.0, 400.0, 0.0]])
    >>> float(table.dv_mg_per_l[0, 3])
    1.2
    """
    dataset = load_nonmem_dataset(
        path_or_buffer,
        covariates=covariates,
        column_map=column_map,
        time_varying=time_varying,
        dv_unit=dv_unit,
        blq_column=blq_column,
        lloq_column=lloq_column,
        cmt_routes=cmt_routes,
    )
    for note in dataset.warnings:
        warnings.warn(note.message, UserWarning, stacklevel=2)
    return dataset.table
