"""Text level of NONMEM-format datasets: lines, header, separators, cells, row-listing errors.

Owns the tokenising of a dataset file (comma or whitespace separated, ``.`` or an empty cell as
missing, a header line required, ``#``/``C`` comment lines skipped) and the conversion of cells to
numbers, collecting every offending row before raising one :class:`CaseError`. It knows nothing of
the meaning of the columns (see :mod:`imatinib_tdm.io._nonmem`). Imports only errors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import CaseError

MISSING_TOKENS = frozenset({".", ""})


def format_rows(rows: Iterable[int]) -> str:
    """``"row 3"`` or ``"rows 3, 7, 9"`` (1-based data-row numbers, every one listed)."""
    ordered = sorted(set(rows))
    if len(ordered) == 1:
        return f"row {ordered[0]}"
    return "rows " + ", ".join(str(row) for row in ordered)


@dataclass
class Problems:
    """Validation problems collected over a whole dataset, raised together as one CaseError."""

    source: str
    items: list[tuple[str, str, list[int]]] = field(default_factory=list)

    def add(self, column: str, message: str, rows: Sequence[int]) -> None:
        """Record a problem of ``column`` on the given 1-based data rows (none: not row-bound)."""
        self.items.append((column, message, sorted(set(rows))))

    def check(self, rows: Sequence[int], column: str, message: str) -> None:
        """Record ``message`` for ``rows`` when there are any; the row list is appended to it."""
        if rows:
            self.add(column, f"{format_rows(rows)}: {message}", rows)

    def raise_if_any(self) -> None:
        """Raise one CaseError listing every problem, if there is one."""
        if not self.items:
            return
        lines = [message for _, message, _ in self.items]
        header = "invalid NONMEM dataset" + (f" {self.source}" if self.source else "")
        raise CaseError(
            header + ":\n  " + "\n  ".join(lines),
            field=self.items[0][0],
            problems=[
                {"column": column, "message": message, "rows": rows}
                for column, message, rows in self.items
            ],
        )


@dataclass(frozen=True)
class RawTable:
    """The tokens of a dataset: header names and data rows (1-based row number = index + 1)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    source: str

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return len(self.rows)


def read_lines(path_or_buffer: str | os.PathLike[str] | IO[str]) -> tuple[list[str], str]:
    """The lines of a file path or text buffer, and a name for messages."""
    if isinstance(path_or_buffer, str | os.PathLike):
        path = Path(path_or_buffer)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CaseError(
                f"cannot read NONMEM dataset {str(path)!r}: {error.strerror or error}",
                field="path",
            ) from error
        return text.splitlines(), path.name
    name = getattr(path_or_buffer, "name", "")
    return path_or_buffer.read().splitlines(), str(name) if isinstance(name, str) else ""


def _is_comment(line: str) -> bool:
    stripped = line.lstrip()
    if stripped.startswith("#"):
        return True
    # NONMEM's IGNORE=C: a line whose first field is the letter C
    return stripped[:1] in {"C", "c"} and (len(stripped) == 1 or stripped[1] in " \t,;")


def _strip_comment_mark(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("#"):
        return stripped[1:]
    if _is_comment(stripped):
        return stripped[1:].lstrip(" \t,;")
    return stripped


def _split(line: str, comma: bool) -> tuple[str, ...]:
    if comma:
        return tuple(cell.strip() for cell in line.split(","))
    return tuple(line.split())


def tokenise(lines: Sequence[str], source: str) -> RawTable:
    """Split the lines into a header and data rows.

    The header is the first non-blank line whose fields include ``ID`` and ``TIME`` (case does not
    matter), possibly written as a comment (``#ID,TIME,...`` or ``C ID TIME ...``). Comment lines
    before it and among the data are skipped, as are blank lines. The file is comma separated when
    the header contains a comma, otherwise whitespace separated.
    """
    header: tuple[str, ...] | None = None
    comma = False
    rows: list[tuple[str, ...]] = []
    for line in lines:
        if not line.strip():
            continue
        if header is None:
            candidate = _strip_comment_mark(line)
            comma = "," in candidate
            fields = _split(candidate, comma)
            upper = {name.upper() for name in fields}
            if {"ID", "TIME"} <= upper:
                header = fields
                continue
            if _is_comment(line):
                continue
            raise CaseError(
                f"NONMEM dataset {source}: the first line must be a header naming the columns "
                f"(at least ID and TIME, e.g. 'ID,TIME,AMT,DV'); got {line.strip()[:80]!r}",
                field="header",
            )
        if _is_comment(line):
            continue
        rows.append(_split(line, comma))
    if header is None:
        raise CaseError(
            f"NONMEM dataset {source}: no header line naming the columns (at least ID and TIME)",
            field="header",
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CaseError(
            f"NONMEM dataset {source}: duplicate column name(s) in the header: "
            + ", ".join(duplicates),
            field="header",
        )
    if not rows:
        raise CaseError(f"NONMEM dataset {source}: no data rows after the header", field="header")
    problems = Problems(source)
    ragged = [i + 1 for i, row in enumerate(rows) if len(row) != len(header)]
    problems.check(
        ragged, "header", f"the number of fields differs from the header's {len(header)}"
    )
    problems.raise_if_any()
    return RawTable(header=header, rows=tuple(rows), source=source)


def find_column(header: Sequence[str], name: str) -> int | None:
    """Index of a column by exact name, else case-insensitively; None when absent."""
    if name in header:
        return list(header).index(name)
    matches = [i for i, column in enumerate(header) if column.upper() == name.upper()]
    return matches[0] if len(matches) == 1 else None


def numeric_column(
    table: RawTable, index: int, column: str, problems: Problems
) -> NDArray[np.float64]:
    """Cells of a column as floats, ``nan`` where missing (``.`` or empty).

    Non-numeric and non-finite cells are recorded in ``problems`` (every row) and read as nan.
    """
    values = np.full(table.n_rows, np.nan)
    bad: list[int] = []
    for i, row in enumerate(table.rows):
        cell = row[index]
        if cell in MISSING_TOKENS:
            continue
        try:
            value = float(cell)
        except ValueError:
            bad.append(i + 1)
            continue
        if not math.isfinite(value):
            bad.append(i + 1)
            continue
        values[i] = value
    problems.check(bad, column, f"{column} is not a finite number")
    return values


def text_column(table: RawTable, index: int) -> list[str]:
    """Cells of a column as text (stripped)."""
    return [row[index] for row in table.rows]


def rows_where(mask: NDArray[np.bool_]) -> list[int]:
    """1-based row numbers where ``mask`` is True."""
    return [int(i) + 1 for i in np.flatnonzero(mask)]


def resolve_columns(
    header: Sequence[str], names: Sequence[str], column_map: Mapping[str, str]
) -> dict[str, int | None]:
    """Header index of each standard column (through ``column_map``), None when absent."""
    found: dict[str, int | None] = {}
    for name in names:
        found[name] = find_column(header, column_map.get(name, name))
    return found
