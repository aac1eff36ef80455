"""Loading a centre's TDM records for training, or a table of patients for prediction.

Every problem is a :class:`~imatinib_tdm.errors.TrainingDataError` that names the column and the
file lines at fault: a missing column, a non-numeric value, a value in the wrong unit (including
NEU% given as a fraction), an unknown category, or a label with one class only.

The label is ``1`` when the measured trough (Cmin) is **below** the threshold (default 1100 ng/mL,
the GIST target of Demetri et al. 2009 that Ran et al. 2024 used; clinical reference
``imatinib_clinical_kb.md`` sections 1 and 2a).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from imatinib_tdm.errors import TrainingDataError
from imatinib_tdm.ml._features import (
    FEATURES,
    FeatureKind,
    FeatureSpec,
    encode_rows,
    encoded_feature_names,
)
from imatinib_tdm.ml._table import RawTable, read_table

__all__ = [
    "DEFAULT_THRESHOLD_NG_PER_ML",
    "TROUGH_COLUMN",
    "FeatureTable",
    "TrainingData",
    "load_column_mapping",
    "load_feature_table",
    "load_training_data",
]

DEFAULT_THRESHOLD_NG_PER_ML = 1100.0
"""Cmin threshold of the label, ng/mL (Demetri 2009 GIST target; KB sections 1 and 2a)."""

TROUGH_COLUMN = "trough_ng_per_ml"
"""Canonical name of the measured steady-state trough column, ng/mL."""

SYNTHETIC_COLUMN = "synthetic"

_MAX_LISTED_ROWS = 8
_SEX_WORDS = {
    "1": 1.0,
    "0": 0.0,
    "male": 1.0,
    "female": 0.0,
    "m": 1.0,
    "f": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
}
_SITE_ALIASES = {"both": "liver_and_peritoneum", "liver+peritoneum": "liver_and_peritoneum"}
_TRUE_WORDS = {"1", "true", "yes", "y", "synthetic"}


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Validated features of a table of patients.

    Attributes
    ----------
    x : ndarray of shape (n_patients, n_encoded)
        Design matrix (see :func:`~imatinib_tdm.ml.encoded_feature_names`).
    feature_names : tuple of str
    values : mapping of str to tuple
        Canonical columns as validated (numbers, or category strings).
    line_numbers : tuple of int
        Source line of each patient.
    sha256 : str
        SHA-256 of the source file bytes.
    synthetic : bool
        The file says it is synthetic (a ``synthetic`` column or a ``# SYNTHETIC`` comment).
    source : str
    """

    x: NDArray[np.float64] = field(repr=False)
    feature_names: tuple[str, ...]
    values: Mapping[str, tuple[float | str, ...]] = field(repr=False)
    line_numbers: tuple[int, ...]
    sha256: str
    synthetic: bool
    source: str

    @property
    def n_patients(self) -> int:
        """Number of patients (rows)."""
        return int(self.x.shape[0])


@dataclass(frozen=True, eq=False)
class TrainingData(FeatureTable):
    """A :class:`FeatureTable` with measured troughs and the binary label.

    Attributes
    ----------
    trough_ng_per_ml : ndarray of shape (n_patients,)
    y : ndarray of int, shape (n_patients,)
        1 when ``trough_ng_per_ml < threshold_ng_per_ml``, else 0.
    threshold_ng_per_ml : float
    """

    trough_ng_per_ml: NDArray[np.float64] = field(default_factory=lambda: np.empty(0), repr=False)
    y: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)
    threshold_ng_per_ml: float = DEFAULT_THRESHOLD_NG_PER_ML

    @property
    def n_below(self) -> int:
        """Patients with a trough below the threshold (positive class)."""
        return int(self.y.sum())


def load_column_mapping(path: str | Path) -> dict[str, str]:
    """Read a column mapping (YAML or JSON): ``canonical name -> column name in the file``.

    Example: ``{plt_10e9_per_l: "PLT (10^3/uL)", trough_ng_per_ml: "Cmin"}``.

    Raises
    ------
    TrainingDataError
        The file is unreadable, not a mapping of text to text, or names an unknown canonical column.
    """
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise TrainingDataError(f"cannot read the column mapping {path}: {error}") from error
    if not isinstance(content, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in content.items()
    ):
        raise TrainingDataError(
            f"{path.name}: the column mapping must map canonical names to column names (text)"
        )
    known = {spec.name for spec in FEATURES} | {TROUGH_COLUMN, SYNTHETIC_COLUMN}
    unknown = sorted(set(content) - known)
    if unknown:
        raise TrainingDataError(
            f"{path.name}: unknown canonical column(s) {unknown}; known: {sorted(known)}",
            column=unknown[0],
        )
    return dict(content)


def load_feature_table(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    features: Sequence[FeatureSpec] = FEATURES,
) -> FeatureTable:
    """Load and validate the features of a CSV/.xlsx table (no trough needed), e.g. to predict.

    Raises
    ------
    TrainingDataError
    """
    table = read_table(path)
    values = _validated_features(table, mapping or {}, features)
    return FeatureTable(
        x=encode_rows(values, features),
        feature_names=tuple(encoded_feature_names(features)),
        values=values,
        line_numbers=table.line_numbers,
        sha256=table.sha256,
        synthetic=_is_synthetic(table, mapping or {}),
        source=table.source,
    )


def load_training_data(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    threshold_ng_per_ml: float = DEFAULT_THRESHOLD_NG_PER_ML,
    features: Sequence[FeatureSpec] = FEATURES,
) -> TrainingData:
    """Load a centre's TDM export: the features plus the measured trough, labelled at a threshold.

    Parameters
    ----------
    path : str or Path
        CSV (``,`` ``;`` or tab separated, UTF-8) or .xlsx, one row per patient (one trough each).
    mapping : mapping of str to str, optional
        Canonical name -> column name in the file, for columns named differently.
    threshold_ng_per_ml : float, default=1100
        Label = trough below this value, ng/mL.

    Raises
    ------
    TrainingDataError
        Missing column, non-numeric value, probable unit error, unknown category, or only one
        class present; the message names the column and lines.
    """
    if not (np.isfinite(threshold_ng_per_ml) and threshold_ng_per_ml > 0):
        raise TrainingDataError(f"threshold_ng_per_ml must be > 0, got {threshold_ng_per_ml}")
    mapping = mapping or {}
    table = read_table(path)
    values = _validated_features(table, mapping, features)
    trough = np.asarray(_numbers(table, mapping, TROUGH_COLUMN, "measured trough (Cmin), ng/mL"))
    _check_trough_unit(table, mapping, trough)
    y = (trough < threshold_ng_per_ml).astype(np.int64)
    n_below = int(y.sum())
    if n_below in (0, len(y)):
        side = "below" if n_below else "at or above"
        raise TrainingDataError(
            f"{Path(table.source).name}: all {len(y)} troughs are {side} {threshold_ng_per_ml:g} "
            "ng/mL, so the label has one class only; a classifier needs patients on both sides",
            column=_source_name(mapping, TROUGH_COLUMN),
        )
    return TrainingData(
        x=encode_rows(values, features),
        feature_names=tuple(encoded_feature_names(features)),
        values=values,
        line_numbers=table.line_numbers,
        sha256=table.sha256,
        synthetic=_is_synthetic(table, mapping),
        source=table.source,
        trough_ng_per_ml=trough,
        y=y,
        threshold_ng_per_ml=float(threshold_ng_per_ml),
    )


def _source_name(mapping: Mapping[str, str], canonical: str) -> str:
    return mapping.get(canonical, canonical)


def _column(table: RawTable, mapping: Mapping[str, str], canonical: str, what: str) -> list[str]:
    wanted = _source_name(mapping, canonical)
    lowered = [h.lower() for h in table.header]
    if wanted.lower() not in lowered:
        hint = "" if canonical in mapping else " (or map it with a column-mapping file)"
        raise TrainingDataError(
            f"{Path(table.source).name}: missing column {wanted!r} ({what}); columns found: "
            f"{list(table.header)}{hint}",
            column=wanted,
        )
    index = lowered.index(wanted.lower())
    return [row[index].strip() for row in table.rows]


def _lines(table: RawTable, positions: Sequence[int]) -> tuple[list[int], str]:
    lines = [table.line_numbers[i] for i in positions]
    shown = ", ".join(str(n) for n in lines[:_MAX_LISTED_ROWS])
    more = f" and {len(lines) - _MAX_LISTED_ROWS} more" if len(lines) > _MAX_LISTED_ROWS else ""
    return lines, f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _fail(
    table: RawTable, column: str, positions: Sequence[int], problem: str
) -> TrainingDataError:
    lines, where = _lines(table, positions)
    return TrainingDataError(
        f"{Path(table.source).name}: column {column!r}, {where}: {problem}",
        column=column,
        rows=lines,
    )


def _numbers(table: RawTable, mapping: Mapping[str, str], canonical: str, what: str) -> list[float]:
    cells = _column(table, mapping, canonical, what)
    name = _source_name(mapping, canonical)
    parsed: list[float] = []
    bad: list[int] = []
    for position, cell in enumerate(cells):
        try:
            value = (
                float(cell.replace(",", "."))
                if cell.count(",") == 1 and "." not in cell
                else float(cell)
            )
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            bad.append(position)
        parsed.append(value)
    if bad:
        shown = ", ".join(repr(cells[i]) for i in bad[:3])
        raise _fail(table, name, bad, f"not a number ({shown}); {what} must be numeric and present")
    return parsed


def _validated_features(
    table: RawTable, mapping: Mapping[str, str], features: Sequence[FeatureSpec]
) -> dict[str, tuple[float | str, ...]]:
    values: dict[str, tuple[float | str, ...]] = {}
    for spec in features:
        name = _source_name(mapping, spec.name)
        what = f"{spec.description}, {spec.unit}"
        if spec.kind is FeatureKind.BINARY:
            cells = _column(table, mapping, spec.name, what)
            codes = [_SEX_WORDS.get(cell.lower()) for cell in cells]
            bad = [i for i, code in enumerate(codes) if code is None]
            if bad:
                raise _fail(table, name, bad, f"expected {spec.unit}, got {cells[bad[0]]!r}")
            values[spec.name] = tuple(float(code) for code in codes if code is not None)
        elif spec.kind is FeatureKind.CATEGORICAL:
            cells = _column(table, mapping, spec.name, what)
            levels = [_SITE_ALIASES.get(c.lower(), c.lower().replace(" ", "_")) for c in cells]
            bad = [i for i, level in enumerate(levels) if level not in spec.categories]
            if bad:
                raise _fail(
                    table,
                    name,
                    bad,
                    f"unknown category {cells[bad[0]]!r}; allowed: {list(spec.categories)}",
                )
            values[spec.name] = tuple(levels)
        else:
            numbers = np.asarray(_numbers(table, mapping, spec.name, what))
            _check_unit(table, name, spec, numbers)
            values[spec.name] = tuple(float(v) for v in numbers)
    return values


def _check_unit(
    table: RawTable, name: str, spec: FeatureSpec, numbers: NDArray[np.float64]
) -> None:
    if spec.name == "neu_pct" and len(numbers) >= 2 and float(np.max(numbers)) <= 1.0:
        raise _fail(
            table,
            name,
            list(range(len(numbers))),
            "every value is at most 1, which looks like a fraction; " + spec.unit_hint,
        )
    low = spec.sanity_min if spec.sanity_min is not None else -np.inf
    high = spec.sanity_max if spec.sanity_max is not None else np.inf
    outside = [i for i, v in enumerate(numbers) if not (low <= v <= high)]
    if outside:
        raise _fail(
            table,
            name,
            outside,
            f"{numbers[outside[0]]:g} is outside the software sanity bounds {low:g}-{high:g} "
            f"{spec.unit} (a probable unit or entry error): {spec.unit_hint}",
        )


def _check_trough_unit(
    table: RawTable, mapping: Mapping[str, str], trough: NDArray[np.float64]
) -> None:
    name = _source_name(mapping, TROUGH_COLUMN)
    negative = [i for i, v in enumerate(trough) if v < 0]
    if negative:
        raise _fail(table, name, negative, "a concentration cannot be negative")
    # Troughs in mg/L (= µg/mL) are ~1000 times smaller than in ng/mL: all below 20 betrays them.
    if len(trough) >= 2 and float(np.max(trough)) < 20.0:
        raise _fail(
            table,
            name,
            list(range(len(trough))),
            "every trough is below 20, which looks like mg/L or µg/mL; give troughs in ng/mL "
            "(1 mg/L = 1000 ng/mL)",
        )


def _is_synthetic(table: RawTable, mapping: Mapping[str, str]) -> bool:
    if any("synthetic" in comment.lower() for comment in table.comments):
        return True
    wanted = _source_name(mapping, SYNTHETIC_COLUMN).lower()
    lowered = [h.lower() for h in table.header]
    if wanted in lowered:
        index = lowered.index(wanted)
        return any(row[index].strip().lower() in _TRUE_WORDS for row in table.rows)
    return False
