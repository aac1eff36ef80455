"""Writing an EventTable as a NONMEM-format dataset, and a case as NONMEM rows.

The written file reads back (:func:`~imatinib_tdm.io.read_nonmem_dataset` with the same
``dv_unit``, the table's covariate names and the default ``locf`` convention) into an equal table:
doses are written one row each (ADDL already expanded), SS doses keep their II, censored
observations carry BLQ=1 and their LLOQ, covariates are written as stored per record.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError
from imatinib_tdm.io._nonmem import DEFAULT_CMT_ROUTES, STANDARD_COLUMNS
from imatinib_tdm.io._rows import OCC_COLUMN
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk.inputs import case_to_event_table
from imatinib_tdm.units import ConcentrationUnit, convert_concentration, parse_concentration_unit

Cell = str | int | float | None

WRITTEN_COLUMNS = (
    "ID", "TIME", "EVID", "AMT", "CMT", "RATE", "SS", "II", "DV", "MDV", "BLQ", "LLOQ", OCC_COLUMN,
)  # fmt: skip


def _compartments() -> tuple[int, int]:
    oral = min(k for k, v in DEFAULT_CMT_ROUTES.items() if v == Route.ORAL)
    central = min(k for k, v in DEFAULT_CMT_ROUTES.items() if v != Route.ORAL)
    return oral, central


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def table_to_nonmem_rows(
    table: EventTable, *, dv_unit: ConcentrationUnit | str = "mg/L"
) -> list[dict[str, Cell]]:
    """The records of an event table as NONMEM rows (padding left out).

    Parameters
    ----------
    table : EventTable
    dv_unit : ConcentrationUnit or str, default="mg/L"
        Unit of the DV and LLOQ values written.

    Returns
    -------
    list of dict
        One dict per record with the keys ID, TIME (h), EVID, AMT (mg), CMT (1 oral depot,
        2 central), RATE (mg/h), SS, II (h), DV, MDV, BLQ, LLOQ, OCC (1-based), then the
        covariates; None stands for a missing value (``.`` in a file).
    """
    unit = parse_concentration_unit(dv_unit)
    clash = sorted(set(table.covariates) & {*STANDARD_COLUMNS, *WRITTEN_COLUMNS})
    if clash:
        raise CaseError(
            f"covariate name(s) {', '.join(clash)} clash with NONMEM columns", field=clash[0]
        )
    dv = convert_concentration(table.dv_mg_per_l, ConcentrationUnit.MG_PER_L, unit)
    lloq = convert_concentration(table.lloq_mg_per_l, ConcentrationUnit.MG_PER_L, unit)
    oral, central = _compartments()
    rows: list[dict[str, Cell]] = []
    for p, pid in enumerate(table.ids):
        for k in range(table.n_records):
            kind = int(table.kind[p, k])
            if kind == RecordKind.PAD:
                continue
            row: dict[str, Cell] = dict.fromkeys(WRITTEN_COLUMNS)
            row.update(ID=pid, TIME=float(table.time_h[p, k]), OCC=int(table.occasion[p, k]) + 1)
            if kind == RecordKind.DOSE:
                route = int(table.route[p, k])
                row.update(
                    EVID=1,
                    MDV=1,
                    AMT=float(table.amount_mg[p, k]),
                    CMT=oral if route == Route.ORAL else central,
                    RATE=float(table.rate_mg_per_h[p, k]) if route == Route.IV_INFUSION else 0.0,
                    SS=int(table.steady_state[p, k]),
                    II=float(table.interval_h[p, k]),
                )
            elif kind == RecordKind.OBSERVATION:
                row.update(
                    EVID=0,
                    MDV=0,
                    AMT=0.0,
                    CMT=central,
                    DV=_finite(float(dv[p, k])),
                    BLQ=int(bool(table.censored[p, k])),
                    LLOQ=_finite(float(lloq[p, k])),
                )
            else:
                row.update(EVID=2, MDV=1, AMT=0.0)
            for name, values in table.covariates.items():
                row[name] = _finite(float(values[p, k]))
            rows.append(row)
    return rows


def _cell(value: Cell) -> str:
    if value is None:
        return "."
    if isinstance(value, float):
        if math.isnan(value):
            return "."
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def write_nonmem_dataset(
    table: EventTable,
    path: str | os.PathLike[str] | IO[str],
    *,
    dv_unit: ConcentrationUnit | str = "mg/L",
) -> None:
    """Write an event table as a comma-separated NONMEM dataset with a header line.

    Parameters
    ----------
    table : EventTable
    path : str, path or text buffer
    dv_unit : ConcentrationUnit or str, default="mg/L"
        Unit of DV and LLOQ in the file; read it back with the same ``dv_unit``.

    See Also
    --------
    read_nonmem_dataset : reading it back, with ``covariates=list(table.covariates)``.
    table_to_nonmem_rows : the rows as dicts.

    Notes
    -----
    Columns: ID, TIME (h), EVID, AMT (mg), CMT (1 depot, 2 central), RATE (mg/h), SS, II (h), DV,
    MDV, BLQ, LLOQ, OCC (1-based), then the covariates. Every dose is its own row (no ADDL);
    missing values are ``.``; floats are written with full precision.
    """
    rows = table_to_nonmem_rows(table, dv_unit=dv_unit)
    _write_rows(rows, (*WRITTEN_COLUMNS, *table.covariates), path)


def _write_rows(
    rows: Sequence[dict[str, Cell]], header: Sequence[str], path: str | os.PathLike[str] | IO[str]
) -> None:
    lines = [",".join(header)]
    lines += [",".join(_cell(row.get(name)) for name in header) for row in rows]
    text = "\n".join(lines) + "\n"
    if isinstance(path, str | os.PathLike):
        Path(path).write_text(text, encoding="utf-8")
    else:
        path.write(text)


def cases_to_nonmem_rows(
    cases: Sequence[Case], *, dv_unit: ConcentrationUnit | str = "mg/L"
) -> list[dict[str, Cell]]:
    """Several cases as the rows of one dataset, subject ``k`` (1-based) = ``cases[k - 1]``.

    The case's own patient id is not written (a dataset for a model evaluation leaves the
    hospital's identifiers behind); the caller keeps the mapping. A covariate that one case
    gives and another does not is missing (``.``) in the other's rows.

    Raises
    ------
    CaseError
        No case given.
    """
    if not cases:
        raise CaseError("no case to export", field="cases")
    rows: list[dict[str, Cell]] = []
    for number, case in enumerate(cases, start=1):
        for row in case_to_nonmem_rows(case, dv_unit=dv_unit):
            row["ID"] = number
            rows.append(row)
    return rows


def write_cases_nonmem_dataset(
    cases: Sequence[Case],
    path: str | os.PathLike[str] | IO[str],
    *,
    dv_unit: ConcentrationUnit | str = "mg/L",
) -> None:
    """Write several cases as one NONMEM dataset (subjects 1..n in the order given).

    The columns of :func:`write_nonmem_dataset`, then every covariate any case gives (in order of
    first appearance). Reads back with ``imatinib-tdm evaluate`` / :func:`read_nonmem_dataset`.

    Examples
    --------
    >>> import io
    >>> from imatinib_tdm.case import load_demo_case
    >>> out = io.StringIO()
    >>> write_cases_nonmem_dataset([load_demo_case("demo-001"), load_demo_case("demo-002")], out)
    >>> sorted({line.split(",")[0] for line in out.getvalue().splitlines()[1:]})
    ['1', '2']
    """
    rows = cases_to_nonmem_rows(cases, dv_unit=dv_unit)
    covariates = list(dict.fromkeys(k for row in rows for k in row if k not in WRITTEN_COLUMNS))
    _write_rows(rows, (*WRITTEN_COLUMNS, *covariates), path)


def case_to_nonmem_rows(
    case: Case, *, dv_unit: ConcentrationUnit | str = "mg/L"
) -> list[dict[str, Cell]]:
    """A case as NONMEM rows: the rows of ``case_to_event_table(case)``.

    Parameters
    ----------
    case : Case
        A validated case.
    dv_unit : ConcentrationUnit or str, default="mg/L"

    Returns
    -------
    list of dict
        See :func:`table_to_nonmem_rows`: ID is the patient id, TIME hours since the first
        dose, one oral dose row per administration taken (CMT 1), one observation row per sample
        (BLQ=1 with its LLOQ when below it), the case's covariates on every row.

    Examples
    --------
    >>> from imatinib_tdm.case import load_demo_case
    >>> rows = case_to_nonmem_rows(load_demo_case("demo-001"), dv_unit="ng/mL")
    >>> rows[0]["AMT"], rows[-1]["EVID"], rows[-1]["TIME"]
    (400.0, 0, 1199.5)
    """
    return table_to_nonmem_rows(case_to_event_table(case), dv_unit=dv_unit)
