"""A long CSV of TDM records (one dose or one sample per row) into an event table.

Layout: one row per event, columns named by a :class:`LongCsvColumns` mapping::

    patient,datetime,dose_mg,concentration,unit,blq,lloq,weight_kg,age_years
    P1,2026-01-01T08:00,400,,,,,70,55
    P1,2026-01-30T07:45,,980,ng/mL,0,50,70,55

* a row is a **dose** (``dose_mg`` > 0, mg of imatinib free base, oral) or a **sample**
  (``concentration`` given, or ``blq`` = 1), never both;
* times: ``datetime`` (ISO 8601, e.g. ``2026-01-30T07:45``; no time zone or all the same) or
  ``time_h`` (hours, ≥ 0, from any origin common to the patient); with date-times the patient's
  time 0 is their first row;
* units are explicit: ``concentration_unit`` says what the concentrations and LLOQs are in; a
  ``unit`` column, when present, must say the same on every sample row (mixed units are an
  error listing the rows, never silently converted);
* covariates: ``covariates`` maps the model covariate name to the column holding it, in the
  unit the model declares; values may change over time (last value carried forward).

The rows are sorted by patient and time (doses before samples at equal times) and passed to the
NONMEM-format reader (:func:`~imatinib_tdm.io.load_nonmem_dataset`), so the semantics are the
same as for a NONMEM file. Errors are collected over the whole file and raised together, one
line per problem with every offending row (1-based data rows, header excluded).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from imatinib_tdm.errors import CaseError, UnitError
from imatinib_tdm.io._nonmem import NonmemDataset, load_nonmem_dataset
from imatinib_tdm.io._parse import format_rows
from imatinib_tdm.units import convert_concentration, parse_concentration_unit

__all__ = ["LongCsvColumns", "read_long_csv"]


@dataclass(frozen=True)
class LongCsvColumns:
    """Column names of a long TDM CSV (``None``: the column is not used).

    Attributes
    ----------
    patient, dose_mg, concentration : str
    datetime : str or None, ISO 8601 date-times
    time_h : str or None, hours (used when ``datetime`` is None or absent from the file)
    unit, blq, lloq : str or None
    covariates : mapping model covariate name -> column name
    """

    patient: str = "patient"
    datetime: str | None = "datetime"
    time_h: str | None = "time_h"
    dose_mg: str = "dose_mg"
    concentration: str = "concentration"
    unit: str | None = "unit"
    blq: str | None = "blq"
    lloq: str | None = "lloq"
    covariates: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Problems:
    source: str
    items: list[dict[str, object]] = field(default_factory=list)

    def add(self, column: str, message: str, rows: list[int]) -> None:
        if rows:
            self.items.append(
                {"column": column, "message": f"{format_rows(rows)}: {message}", "rows": rows}
            )

    def raise_if_any(self) -> None:
        if self.items:
            lines = "\n  ".join(str(item["message"]) for item in self.items)
            raise CaseError(
                f"invalid TDM records file {self.source}:\n  {lines}",
                field=str(self.items[0]["column"]),
                problems=self.items,
            )


def _number(text: str) -> float | None:
    text = text.strip()
    if text in ("", "."):
        return None
    return float(text)


def _read_text(path_or_buffer: str | os.PathLike[str] | IO[str]) -> tuple[str, str]:
    if isinstance(path_or_buffer, (str, os.PathLike)):
        try:
            with open(path_or_buffer, encoding="utf-8", newline="") as handle:
                return handle.read(), os.fspath(path_or_buffer)
        except OSError as exc:
            raise CaseError(f"cannot read {os.fspath(path_or_buffer)}: {exc.strerror}") from None
    return path_or_buffer.read(), getattr(path_or_buffer, "name", "<buffer>")


def read_long_csv(
    path_or_buffer: str | os.PathLike[str] | IO[str],
    *,
    concentration_unit: str,
    columns: LongCsvColumns | None = None,
) -> NonmemDataset:
    """Read a long CSV of TDM records (see module docstring) into an event table.

    Parameters
    ----------
    path_or_buffer : path or text stream
    concentration_unit : str
        Unit of every concentration and LLOQ in the file (e.g. ``"ng/mL"``); required, so that
        units are never guessed.
    columns : LongCsvColumns, optional
        Column names; the defaults are ``patient``, ``datetime`` or ``time_h``, ``dose_mg``,
        ``concentration``, ``unit``, ``blq``, ``lloq``.

    Returns
    -------
    NonmemDataset
        ``table`` (concentrations in mg/L, patient ids as written) and the reader's warnings.

    Raises
    ------
    CaseError
        Every problem of the file at once (``fields["problems"]``: column, message, rows):
        missing columns, unreadable numbers or date-times, negative times, rows that are both
        or neither dose and sample, samples before the patient's first dose, units other than
        ``concentration_unit``, missing covariate values for a whole patient.
    UnitError
        ``concentration_unit`` is not a concentration unit.
    """
    unit = parse_concentration_unit(concentration_unit)
    spec = columns or LongCsvColumns()
    text, source = _read_text(path_or_buffer)
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    problems = _Problems(source)
    if not rows:
        problems.items.append({"column": spec.patient, "message": "the file is empty", "rows": []})
        problems.raise_if_any()
    header = [name.strip() for name in rows[0]]
    data = rows[1:]
    index = {name: i for i, name in enumerate(header)}
    use_datetime = spec.datetime is not None and spec.datetime in index
    time_column = spec.datetime if use_datetime else spec.time_h
    needed = [spec.patient, spec.dose_mg, spec.concentration, time_column or "time"]
    needed += list(spec.covariates.values())
    missing = [name for name in needed if name not in index]
    if missing:
        problems.items.append(
            {
                "column": missing[0],
                "message": f"missing column(s): {', '.join(missing)} (header: {', '.join(header)})",
                "rows": [],
            }
        )
        problems.raise_if_any()
    assert time_column is not None

    def cell(row: list[str], name: str | None) -> str:
        if name is None or name not in index or index[name] >= len(row):
            return ""
        return row[index[name]].strip()

    bad: dict[tuple[str, str], list[int]] = {}

    def flag(column: str, message: str, row_number: int) -> None:
        bad.setdefault((column, message), []).append(row_number)

    records = []
    for number, row in enumerate(data, start=1):
        patient = cell(row, spec.patient)
        if not patient:
            flag(spec.patient, "missing patient", number)
        raw_time = cell(row, time_column)
        time: float | None = None
        if use_datetime:
            try:
                time = datetime.fromisoformat(raw_time).timestamp() / 3600.0
            except ValueError:
                flag(time_column, "not an ISO 8601 date-time (e.g. 2026-01-30T07:45)", number)
        else:
            try:
                time = _number(raw_time)
            except ValueError:
                time = None
            if time is None or not math.isfinite(time):
                flag(time_column, "missing or non-numeric time (h)", number)
                time = None
            elif time < 0:
                flag(time_column, "negative time", number)
        values: dict[str, float | None] = {}
        for name in ("dose_mg", "concentration", "lloq", "blq"):
            column = getattr(spec, name)
            try:
                values[name] = _number(cell(row, column))
            except ValueError:
                flag(column, "not a number", number)
                values[name] = None
        covariates: dict[str, float | None] = {}
        for name, column in spec.covariates.items():
            try:
                covariates[name] = _number(cell(row, column))
            except ValueError:
                flag(column, "not a number", number)
                covariates[name] = None
        dose, conc, blq = values["dose_mg"], values["concentration"], values["blq"]
        is_dose = dose is not None and dose > 0
        is_sample = conc is not None or blq == 1
        if dose is not None and dose < 0:
            flag(spec.dose_mg, "negative dose", number)
        if is_dose and is_sample:
            flag(spec.dose_mg, "a row is either a dose or a sample, not both", number)
        elif not is_dose and not is_sample:
            flag(spec.dose_mg, "neither a dose (dose_mg > 0) nor a sample (concentration)", number)
        if conc is not None and conc < 0:
            flag(spec.concentration, "negative concentration", number)
        if blq is not None and blq not in (0.0, 1.0):
            flag(spec.blq or "blq", "blq must be 0 or 1", number)
        if is_sample and spec.unit is not None and spec.unit in index:
            row_unit = cell(row, spec.unit)
            try:
                if row_unit and parse_concentration_unit(row_unit) != unit:
                    flag(spec.unit, f"unit differs from the declared {unit.value}", number)
            except UnitError:
                flag(spec.unit, f"unknown unit {row_unit!r}", number)
        records.append((number, patient, time, is_dose, values, covariates))
    for (column, message), numbers in bad.items():
        problems.add(column, message, numbers)
    problems.raise_if_any()
    # time origin: the patient's first row (date-times); time_h is kept as written
    by_patient: dict[str, list[_Entry]] = {}
    for number, patient, time, is_dose, values, covariates in records:
        assert time is not None
        by_patient.setdefault(patient, []).append((number, time, is_dose, values, covariates))
    early: list[int] = []
    no_dose: list[int] = []
    missing_cov: dict[str, list[int]] = {}
    for entries in by_patient.values():
        dose_times = [t for _, t, d, _, _ in entries if d]
        if not dose_times:
            no_dose += [n for n, *_ in entries]
            continue
        first = min(dose_times)
        early += [n for n, t, d, _, _ in entries if not d and t < first]
        for name in spec.covariates:
            if all(c[name] is None for *_, c in entries):
                missing_cov.setdefault(name, []).extend(n for n, *_ in entries)
    problems.add(spec.concentration, "sample before the patient's first dose", early)
    problems.add(spec.patient, "patient without any dose", no_dose)
    for name, numbers in missing_cov.items():
        problems.add(
            spec.covariates[name], f"covariate {name} missing on every row of the patient", numbers
        )
    problems.raise_if_any()
    dataset = load_nonmem_dataset(
        io.StringIO(_nonmem_text(by_patient, list(spec.covariates), unit.value)),
        covariates=list(spec.covariates),
        dv_unit="mg/L",
    )
    return dataclasses.replace(dataset, table=dataclasses.replace(dataset.table, source=source))


_Entry = tuple[int, float, bool, dict[str, float | None], dict[str, float | None]]


def _nonmem_text(by_patient: Mapping[str, list[_Entry]], covariates: list[str], unit: str) -> str:
    """The records as a NONMEM-format CSV (mg/L), sorted by time, doses first at equal times."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ID", "TIME", "EVID", "AMT", "DV", "MDV", "BLQ", "LLOQ", *covariates])

    def mg_per_l(value: float | None) -> str:
        if value is None:
            return "."
        return repr(float(convert_concentration(value, unit, "mg/L")))

    def text(value: float | None) -> str:
        return "." if value is None else repr(float(value))

    for patient, entries in by_patient.items():
        origin = min(time for _, time, *_ in entries)
        for _, time, is_dose, values, cov in sorted(entries, key=lambda e: (e[1], not e[2])):
            row = [patient, repr(time - origin)]
            if is_dose:
                row += ["1", text(values["dose_mg"]), ".", "1", "0", "."]
            else:
                blq = 1 if values["blq"] == 1.0 else 0
                row += ["0", ".", mg_per_l(values["concentration"]), "0", str(blq)]
                row.append(mg_per_l(values["lloq"]))
            writer.writerow(row + [text(cov[name]) for name in covariates])
    return out.getvalue()
