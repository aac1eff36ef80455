"""Reading a table of patients from CSV or Excel (.xlsx) into text cells, with line numbers.

Excel files are read with the standard library (an .xlsx file is a zip of XML parts), so no extra
dependency is needed: the first worksheet is used, cell values are taken as stored (formulas as
their cached result). Lines starting with ``#`` in a CSV are comments (synthetic files use them
for their notice) and are kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from imatinib_tdm.errors import TrainingDataError

__all__ = ["RawTable", "read_table"]

_XLSX_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


@dataclass(frozen=True)
class RawTable:
    """A table as text.

    Attributes
    ----------
    header : tuple of str
    rows : tuple of tuple of str
        One tuple per data row, padded to the header length.
    line_numbers : tuple of int
        File line (CSV) or sheet row (Excel) of each data row, 1-based, for error messages.
    comments : tuple of str
        ``#`` comment lines of a CSV, without the ``#``.
    sha256 : str
        SHA-256 of the file bytes (hex).
    source : str
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    line_numbers: tuple[int, ...]
    comments: tuple[str, ...]
    sha256: str
    source: str


def read_table(path: str | Path) -> RawTable:
    """Read a CSV (comma, semicolon or tab separated; UTF-8) or .xlsx file.

    Raises
    ------
    TrainingDataError
        The file is missing, empty, not UTF-8, an old .xls file, or not a readable .xlsx.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TrainingDataError(f"cannot read {path}: {error.strerror or error}") from error
    digest = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise TrainingDataError(
            f"{path.name}: old .xls files are not supported; save as .xlsx or CSV"
        )
    if suffix in {".xlsx", ".xlsm"}:
        grid = _read_xlsx(data, path.name)
        lines = list(range(1, len(grid) + 1))
        comments: list[str] = []
    else:
        grid, lines, comments = _read_csv(data, path.name)
    body = [
        (row, line) for row, line in zip(grid, lines, strict=True) if any(c.strip() for c in row)
    ]
    if not body:
        raise TrainingDataError(f"{path.name}: the file has no header and no data")
    header = tuple(cell.strip() for cell in body[0][0])
    width = len(header)
    rows = tuple(tuple((list(row) + [""] * width)[:width]) for row, _ in body[1:])
    if not rows:
        raise TrainingDataError(f"{path.name}: the file has a header but no data rows")
    return RawTable(
        header=header,
        rows=rows,
        line_numbers=tuple(line for _, line in body[1:]),
        comments=tuple(comments),
        sha256=digest,
        source=str(path),
    )


def _read_csv(data: bytes, name: str) -> tuple[list[list[str]], list[int], list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TrainingDataError(f"{name}: not UTF-8 text (save the CSV as UTF-8)") from error
    physical = text.splitlines()
    comments = [line.lstrip("#").strip() for line in physical if line.lstrip().startswith("#")]
    kept = [
        (number, line)
        for number, line in enumerate(physical, 1)
        if not line.lstrip().startswith("#")
    ]
    sample = "\n".join(line for _, line in kept[:20])
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    grid = list(csv.reader(io.StringIO("\n".join(line for _, line in kept)), dialect))
    numbers = [number for number, _ in kept]
    if len(grid) != len(numbers):  # quoted newlines: fall back to sequential numbering
        numbers = list(range(1, len(grid) + 1))
    return grid, numbers, comments


def _column_index(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference)
    index = 0
    for char in letters.group(0) if letters else "A":
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def _read_xlsx(data: bytes, name: str) -> list[list[str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            for item in root.findall("m:si", _XLSX_NS):
                shared.append("".join(t.text or "" for t in item.iter(f"{{{_XLSX_NS['m']}}}t")))
        sheets = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        if not sheets:
            raise TrainingDataError(f"{name}: no worksheet found in the .xlsx file")
        first = min(sheets, key=lambda n: int(re.sub(r"\D", "", n.rsplit("/", 1)[1])))
        sheet = ElementTree.fromstring(archive.read(first))
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError) as error:
        raise TrainingDataError(f"{name}: not a readable .xlsx file ({error})") from error
    grid: list[list[str]] = []
    for row in sheet.iter(f"{{{_XLSX_NS['m']}}}row"):
        number = int(row.get("r", len(grid) + 1))
        while len(grid) < number:
            grid.append([])
        cells = grid[number - 1]
        for cell in row.findall("m:c", _XLSX_NS):
            column = _column_index(cell.get("r", "A"))
            kind = cell.get("t")
            if kind == "inlineStr":
                value = "".join(t.text or "" for t in cell.iter(f"{{{_XLSX_NS['m']}}}t"))
            else:
                raw = cell.find("m:v", _XLSX_NS)
                value = raw.text or "" if raw is not None else ""
                if kind == "s" and value:
                    value = shared[int(value)]
            while len(cells) <= column:
                cells.append("")
            cells[column] = value
    return grid
