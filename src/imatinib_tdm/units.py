"""Concentration units of imatinib and conversions between them.

This module owns the five concentration units the package accepts (ng/mL, ug/mL, mg/L, umol/L,
nmol/L), the tolerant parsing of unit strings written by people and laboratory systems, and the one
function that converts between them. Mass and molar units are linked only through an explicit molar
mass (as pint does with its ``chemistry`` context); the default is the imatinib **free base**, never
the mesylate salt.

It imports only the standard library, numpy and :mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import enum
import math
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imatinib_tdm.errors import UnitError

__all__ = [
    "IMATINIB_FREE_BASE_MOLAR_MASS_G_PER_MOL",
    "ConcentrationUnit",
    "accepted_unit_spellings",
    "convert_concentration",
    "is_molar_unit",
    "parse_concentration_unit",
]

# Imatinib free base: 493.6 g/mol, i.e. 493.6 ng/mL = 1 umol/L. Source: Blood figure legend
# commonly cited as Picard S et al., Blood 2007 ("in-vitro target 493.6 ng/mL (1 umol/L)"; the
# figure page, ashpublications.com view-large/figure/6877080, does not show authors or year);
# Tucuxi's drug file uses 493.603. Plasma assays report the free base; the mesylate salt
# (589.7 g/mol) is the tablet's salt form and must NOT be used here.
IMATINIB_FREE_BASE_MOLAR_MASS_G_PER_MOL = 493.6


class ConcentrationUnit(enum.StrEnum):
    """A concentration unit accepted in case files and by :func:`convert_concentration`.

    The value is the canonical spelling written back to files and reports. Parse free text with
    :func:`parse_concentration_unit` (or ``ConcentrationUnit.parse``), which also accepts common
    variants (``"ng/ml"``, ``"µg/mL"``, ``"mcg/mL"``, ``"µmol/L"``, ``"uM"`` ...).
    """

    NG_PER_ML = "ng/mL"
    """Nanogram per millilitre (= ug/L); the package's reporting unit."""
    UG_PER_ML = "ug/mL"
    """Microgram per millilitre (= mg/L)."""
    MG_PER_L = "mg/L"
    """Milligram per litre (= ug/mL); the unit used inside the PK engine."""
    UMOL_PER_L = "umol/L"
    """Micromole per litre (micromolar)."""
    NMOL_PER_L = "nmol/L"
    """Nanomole per litre (nanomolar)."""

    @classmethod
    def parse(cls, text: str | ConcentrationUnit) -> ConcentrationUnit:
        """Same as :func:`parse_concentration_unit`."""
        return parse_concentration_unit(text)


# Scale of each unit relative to the base unit of its kind: ng/mL for mass, nmol/L for molar.
_MASS_FACTOR_TO_NG_PER_ML: dict[ConcentrationUnit, float] = {
    ConcentrationUnit.NG_PER_ML: 1.0,
    ConcentrationUnit.UG_PER_ML: 1000.0,
    ConcentrationUnit.MG_PER_L: 1000.0,
}
_MOLAR_FACTOR_TO_NMOL_PER_L: dict[ConcentrationUnit, float] = {
    ConcentrationUnit.NMOL_PER_L: 1.0,
    ConcentrationUnit.UMOL_PER_L: 1000.0,
}

# Normalised spelling (lower case, no blanks, micro signs and "mc" folded to "u") -> unit.
_ALIASES: dict[str, ConcentrationUnit] = {
    "ng/ml": ConcentrationUnit.NG_PER_ML,
    "ug/l": ConcentrationUnit.NG_PER_ML,  # 1 ug/L = 1 ng/mL (same quantity)
    "ug/ml": ConcentrationUnit.UG_PER_ML,
    "mg/l": ConcentrationUnit.MG_PER_L,
    "umol/l": ConcentrationUnit.UMOL_PER_L,
    "um": ConcentrationUnit.UMOL_PER_L,
    "nmol/l": ConcentrationUnit.NMOL_PER_L,
    "nm": ConcentrationUnit.NMOL_PER_L,
}


def _normalise(text: str) -> str:
    folded = "".join(text.split()).lower()
    folded = folded.replace("\u00b5", "u").replace("\u03bc", "u")  # micro sign, Greek mu
    if folded.startswith("mcg") or folded.startswith("mcmol"):
        folded = "u" + folded[2:]
    return folded.replace("/liter", "/l").replace("/litre", "/l")


def accepted_unit_spellings() -> tuple[str, ...]:
    """Canonical unit spellings followed by the accepted variants, for help texts and errors.

    Returns
    -------
    tuple of str
        E.g. ``("ng/mL", "ug/mL", "mg/L", "umol/L", "nmol/L", "ug/L", "uM", "nM", ...)``.
    """
    canonical = tuple(unit.value for unit in ConcentrationUnit)
    variants = ("ug/L (= ng/mL)", "µg/mL", "mcg/mL", "µmol/L", "uM", "µM", "nM")
    return canonical + variants


def parse_concentration_unit(text: str | ConcentrationUnit) -> ConcentrationUnit:
    """Parse a concentration unit written in any common spelling.

    Parsing ignores case and blanks and treats ``µ`` (micro sign or Greek mu) and ``mc`` as ``u``:
    ``"ng/ml"``, ``"NG/ML"``, ``"µg/mL"``, ``"mcg/mL"``, ``"µmol/L"``, ``"uM"`` are all accepted.
    ``ug/L`` is read as ng/mL (the same quantity).

    Parameters
    ----------
    text : str or ConcentrationUnit
        The unit as written.

    Returns
    -------
    ConcentrationUnit

    Raises
    ------
    UnitError
        The text is not a known concentration unit; the message lists the accepted units.

    Examples
    --------
    >>> parse_concentration_unit("mcg/ml")
    <ConcentrationUnit.UG_PER_ML: 'ug/mL'>
    >>> parse_concentration_unit("µmol/L").value
    'umol/L'
    """
    if isinstance(text, ConcentrationUnit):
        return text
    if not isinstance(text, str):
        raise UnitError(
            f"a concentration unit must be text such as 'ng/mL', got {text!r}; accepted units: "
            + ", ".join(accepted_unit_spellings()),
            unit=repr(text),
        )
    unit = _ALIASES.get(_normalise(text))
    if unit is None:
        raise UnitError(
            f"unknown concentration unit {text!r}; accepted units: "
            + ", ".join(accepted_unit_spellings())
            + " (case and blanks do not matter)",
            unit=text,
        )
    return unit


def is_molar_unit(unit: str | ConcentrationUnit) -> bool:
    """True for amount-of-substance units (umol/L, nmol/L), False for mass units.

    Parameters
    ----------
    unit : str or ConcentrationUnit
        Any spelling accepted by :func:`parse_concentration_unit`.
    """
    return parse_concentration_unit(unit) in _MOLAR_FACTOR_TO_NMOL_PER_L


def _check_molar_mass(molar_mass_g_per_mol: float) -> float:
    if isinstance(molar_mass_g_per_mol, bool) or not isinstance(
        molar_mass_g_per_mol, int | float | np.floating | np.integer
    ):
        raise UnitError(
            f"molar_mass_g_per_mol must be a number in g/mol, got {molar_mass_g_per_mol!r}",
            molar_mass_g_per_mol=repr(molar_mass_g_per_mol),
        )
    value = float(molar_mass_g_per_mol)
    if not (math.isfinite(value) and value > 0):
        raise UnitError(
            f"molar_mass_g_per_mol must be a finite number > 0 g/mol, got {value!r}",
            molar_mass_g_per_mol=value,
        )
    return value


def _ratio(
    from_unit: ConcentrationUnit, to_unit: ConcentrationUnit, molar_mass: float
) -> tuple[float, float]:
    """(numerator, denominator) such that value_in_to_unit = value * numerator / denominator."""
    # c [ng/mL] = c * 1e-6 g/L; divided by M [g/mol] gives c * 1e-6 / M mol/L = c * 1000 / M nmol/L.
    numerator, denominator = 1.0, 1.0
    if from_unit in _MASS_FACTOR_TO_NG_PER_ML:
        numerator *= _MASS_FACTOR_TO_NG_PER_ML[from_unit]
    else:
        numerator *= _MOLAR_FACTOR_TO_NMOL_PER_L[from_unit] * molar_mass
        denominator *= 1000.0
    # the value is now numerator / denominator times ng/mL
    if to_unit in _MASS_FACTOR_TO_NG_PER_ML:
        denominator *= _MASS_FACTOR_TO_NG_PER_ML[to_unit]
    else:
        numerator *= 1000.0
        denominator *= molar_mass * _MOLAR_FACTOR_TO_NMOL_PER_L[to_unit]
    return numerator, denominator


@overload
def convert_concentration(
    value: float,
    from_unit: str | ConcentrationUnit,
    to_unit: str | ConcentrationUnit,
    *,
    molar_mass_g_per_mol: float = ...,
) -> float: ...


@overload
def convert_concentration(
    value: NDArray[Any] | list[float] | tuple[float, ...],
    from_unit: str | ConcentrationUnit,
    to_unit: str | ConcentrationUnit,
    *,
    molar_mass_g_per_mol: float = ...,
) -> NDArray[np.float64]: ...


def convert_concentration(
    value: ArrayLike,
    from_unit: str | ConcentrationUnit,
    to_unit: str | ConcentrationUnit,
    *,
    molar_mass_g_per_mol: float = IMATINIB_FREE_BASE_MOLAR_MASS_G_PER_MOL,
) -> float | NDArray[np.float64]:
    """Convert concentrations between mass and molar units, element-wise.

    Parameters
    ----------
    value : float or array_like of shape (...)
        Concentration(s) in ``from_unit``. Arrays of any shape are converted element-wise;
        NaN stays NaN (this function does not judge values).
    from_unit, to_unit : str or ConcentrationUnit
        Any spelling accepted by :func:`parse_concentration_unit`.
    molar_mass_g_per_mol : float, default=IMATINIB_FREE_BASE_MOLAR_MASS_G_PER_MOL
        Molar mass in g/mol linking mass and molar units (493.6 g/mol, imatinib free base). It is
        only used for a mass <-> molar conversion, but is always checked.

    Returns
    -------
    float or ndarray of float64
        A Python float for a scalar (Python or numpy) input, otherwise an array of the input's
        shape, in ``to_unit``.

    Raises
    ------
    UnitError
        A unit is unknown, or the molar mass is not a finite positive number.

    Notes
    -----
    ``c[nmol/L] = c[ng/mL] * 1000 / M[g/mol]``; with M = 493.6 g/mol, 493.6 ng/mL = 1 umol/L.
    Measured imatinib concentrations refer to the free base; converting with the mesylate molar
    mass (589.7 g/mol) would be wrong by 19 %.

    Examples
    --------
    >>> convert_concentration(493.6, "ng/mL", "umol/L")
    1.0
    >>> convert_concentration([1.2, 0.8], "mg/L", "ng/mL")
    array([1200.,  800.])
    """
    source = parse_concentration_unit(from_unit)
    target = parse_concentration_unit(to_unit)
    molar_mass = _check_molar_mass(molar_mass_g_per_mol)
    numerator, denominator = _ratio(source, target, molar_mass)
    arr = np.asarray(value, dtype=np.float64)
    # Multiply then divide (not by a precomputed factor) so that exact relations stay exact,
    # e.g. 493.6 ng/mL -> 1.0 umol/L rather than 0.9999999999999999.
    converted = arr.copy() if numerator == denominator else arr * numerator / denominator
    if converted.ndim == 0:
        return float(converted)
    return converted
