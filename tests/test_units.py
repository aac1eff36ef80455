"""Tests of imatinib_tdm.units: parsing of unit spellings and concentration conversions."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imatinib_tdm.errors import UnitError
from imatinib_tdm.units import (
    IMATINIB_FREE_BASE_MOLAR_MASS_G_PER_MOL,
    ConcentrationUnit,
    accepted_unit_spellings,
    convert_concentration,
    is_molar_unit,
    parse_concentration_unit,
)

ALL_UNITS = list(ConcentrationUnit)

# --- parsing ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ng/mL", ConcentrationUnit.NG_PER_ML),
        ("ng/ml", ConcentrationUnit.NG_PER_ML),
        ("NG/ML", ConcentrationUnit.NG_PER_ML),
        (" ng / mL ", ConcentrationUnit.NG_PER_ML),
        ("ug/L", ConcentrationUnit.NG_PER_ML),
        ("µg/L", ConcentrationUnit.NG_PER_ML),
        ("ug/mL", ConcentrationUnit.UG_PER_ML),
        ("µg/mL", ConcentrationUnit.UG_PER_ML),  # micro sign U+00B5
        ("μg/mL", ConcentrationUnit.UG_PER_ML),  # Greek mu U+03BC
        ("mcg/mL", ConcentrationUnit.UG_PER_ML),
        ("MCG/ML", ConcentrationUnit.UG_PER_ML),
        ("mg/L", ConcentrationUnit.MG_PER_L),
        ("mg/l", ConcentrationUnit.MG_PER_L),
        ("mg/litre", ConcentrationUnit.MG_PER_L),
        ("umol/L", ConcentrationUnit.UMOL_PER_L),
        ("µmol/L", ConcentrationUnit.UMOL_PER_L),
        ("μmol/l", ConcentrationUnit.UMOL_PER_L),
        ("uM", ConcentrationUnit.UMOL_PER_L),
        ("µM", ConcentrationUnit.UMOL_PER_L),
        ("nmol/L", ConcentrationUnit.NMOL_PER_L),
        ("NMOL/L", ConcentrationUnit.NMOL_PER_L),
        ("nM", ConcentrationUnit.NMOL_PER_L),
    ],
)
def test_parse_accepts_common_spellings(text: str, expected: ConcentrationUnit) -> None:
    assert parse_concentration_unit(text) is expected
    assert ConcentrationUnit.parse(text) is expected


def test_parse_returns_enum_members_unchanged() -> None:
    for unit in ALL_UNITS:
        assert parse_concentration_unit(unit) is unit
        assert parse_concentration_unit(unit.value) is unit


@pytest.mark.parametrize("text", ["ng/dL", "mg", "mmol/L", "", "ng/mL/h", "g/L"])
def test_unknown_unit_lists_accepted_units(text: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_concentration_unit(text)
    message = str(info.value)
    assert repr(text) in message
    for canonical in ("ng/mL", "ug/mL", "mg/L", "umol/L", "nmol/L"):
        assert canonical in message


def test_non_text_unit_is_rejected() -> None:
    with pytest.raises(UnitError, match="must be text"):
        parse_concentration_unit(5)  # type: ignore[arg-type]


def test_unit_error_pickles() -> None:
    with pytest.raises(UnitError) as info:
        parse_concentration_unit("furlongs")
    clone = pickle.loads(pickle.dumps(info.value))
    assert isinstance(clone, UnitError)
    assert str(clone) == str(info.value)


def test_accepted_spellings_start_with_canonical_values() -> None:
    spellings = accepted_unit_spellings()
    assert spellings[: len(ALL_UNITS)] == tuple(unit.value for unit in ALL_UNITS)


def test_is_molar_unit() -> None:
    assert is_molar_unit("umol/L") and is_molar_unit("nM")
    assert not is_molar_unit("ng/mL") and not is_molar_unit(ConcentrationUnit.MG_PER_L)


# --- conversion: anchors ----


def test_molar_mass_is_free_base_not_mesylate() -> None:
    assert IMATINIB_FREE_BASE_MOLAR_MASS_G_PER_MOL == 493.6


def test_493_6_ng_per_ml_is_one_umol_per_l() -> None:
    assert convert_concentration(493.6, "ng/mL", "umol/L") == 1.0
    assert convert_concentration(1.0, "umol/L", "ng/mL") == pytest.approx(493.6, rel=1e-15)
    assert convert_concentration(493.6, "ng/mL", "nmol/L") == pytest.approx(1000.0, rel=1e-15)
    assert convert_concentration(1000.0, "nmol/L", "umol/L") == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1000.0, "ng/mL", "ug/mL", 1.0),
        (1000.0, "ng/mL", "mg/L", 1.0),
        (1.1, "mg/L", "ug/mL", 1.1),
        (1.1, "ug/mL", "ng/mL", 1100.0),
        (2.0, "umol/L", "nmol/L", 2000.0),
        (2.0, "umol/L", "mg/L", 0.9872),
        (1002.0, "ng/mL", "nmol/L", 1002.0 * 1000.0 / 493.6),
    ],
)
def test_known_conversions(value: float, source: str, target: str, expected: float) -> None:
    assert convert_concentration(value, source, target) == pytest.approx(expected, rel=1e-12)


def test_scalar_in_scalar_out_and_array_shape_kept() -> None:
    assert isinstance(convert_concentration(1.0, "mg/L", "ng/mL"), float)
    assert isinstance(convert_concentration(np.float64(1.0), "mg/L", "ng/mL"), float)
    matrix = np.array([[1.0, 2.0], [3.0, 4.0]])
    converted = convert_concentration(matrix, "mg/L", "ng/mL")
    assert converted.shape == (2, 2)
    np.testing.assert_allclose(converted, matrix * 1000.0)
    np.testing.assert_allclose(convert_concentration([0.5, 1.5], "ug/mL", "ng/mL"), [500, 1500])


def test_identity_conversion_returns_a_copy() -> None:
    values = np.array([1.0, 2.0])
    converted = convert_concentration(values, "ng/mL", "ng/mL")
    converted[0] = 99.0
    assert values[0] == 1.0


def test_nan_propagates() -> None:
    result = convert_concentration(np.array([np.nan, 1.0]), "mg/L", "ng/mL")
    assert math.isnan(result[0]) and result[1] == 1000.0


def test_explicit_molar_mass_changes_only_mass_molar_conversions() -> None:
    # a different compound (e.g. the N-desmethyl metabolite) needs its own molar mass
    assert convert_concentration(1.0, "umol/L", "ng/mL", molar_mass_g_per_mol=500.0) == 500.0
    assert convert_concentration(1.0, "mg/L", "ng/mL", molar_mass_g_per_mol=500.0) == 1000.0


@pytest.mark.parametrize("molar_mass", [0.0, -493.6, math.nan, math.inf, "493.6", True])
def test_bad_molar_mass_raises(molar_mass: object) -> None:
    with pytest.raises(UnitError, match="molar_mass_g_per_mol"):
        convert_concentration(1.0, "ng/mL", "nmol/L", molar_mass_g_per_mol=molar_mass)  # type: ignore[call-overload]


def test_unknown_unit_in_conversion_raises() -> None:
    with pytest.raises(UnitError, match="accepted units"):
        convert_concentration(1.0, "ng/dL", "ng/mL")


# --- conversion: properties ----

finite_concentrations = st.floats(min_value=0.0, max_value=1e7, allow_nan=False)
molar_masses = st.floats(min_value=50.0, max_value=2000.0, allow_nan=False)


@given(
    value=finite_concentrations,
    source=st.sampled_from(ALL_UNITS),
    target=st.sampled_from(ALL_UNITS),
    molar_mass=molar_masses,
)
def test_round_trip_every_unit_pair(
    value: float, source: ConcentrationUnit, target: ConcentrationUnit, molar_mass: float
) -> None:
    there = convert_concentration(value, source, target, molar_mass_g_per_mol=molar_mass)
    back = convert_concentration(there, target, source, molar_mass_g_per_mol=molar_mass)
    assert back == pytest.approx(value, rel=1e-12, abs=1e-300)


@given(
    value=finite_concentrations,
    a=st.sampled_from(ALL_UNITS),
    b=st.sampled_from(ALL_UNITS),
    c=st.sampled_from(ALL_UNITS),
)
def test_conversion_is_transitive(
    value: float, a: ConcentrationUnit, b: ConcentrationUnit, c: ConcentrationUnit
) -> None:
    direct = convert_concentration(value, a, c)
    via_b = convert_concentration(convert_concentration(value, a, b), b, c)
    assert via_b == pytest.approx(direct, rel=1e-12, abs=1e-300)


@given(values=st.lists(finite_concentrations, min_size=1, max_size=20))
def test_array_conversion_equals_elementwise(values: list[float]) -> None:
    array = convert_concentration(np.array(values), "umol/L", "ng/mL")
    expected = [convert_concentration(v, "umol/L", "ng/mL") for v in values]
    np.testing.assert_allclose(array, expected, rtol=1e-15)


@given(value=finite_concentrations)
def test_conversion_is_linear_and_monotone(value: float) -> None:
    single = convert_concentration(value, "ng/mL", "nmol/L")
    double = convert_concentration(2.0 * value, "ng/mL", "nmol/L")
    assert double == pytest.approx(2.0 * single, rel=1e-12, abs=1e-300)
    assert single >= 0.0
