"""Applicability ranges of characteristics that are not covariates (``applicability`` entries).

A model built on adults (e.g. Schmidli 2005, ages 18-70 y) does not use age in its equations, yet
published imatinib models perform poorly in children (Yang 2025, Target Oncol 20:871). An
``applicability`` entry records the studied range; :func:`resolve_covariates` checks a value when
one is given and never invents one.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from imatinib_tdm.case import Covariates, load_demo_case
from imatinib_tdm.errors import CaseError, ModelDefinitionError, ModelDomainError
from imatinib_tdm.pk._covariates import check_covariates, resolve_covariates
from imatinib_tdm.pk._individual import typical_parameters
from imatinib_tdm.pk._model import APPLICABILITY_NAMES, DomainKind, DomainWarningKind
from imatinib_tdm.pk._model_spec import create_model
from imatinib_tdm.pk.library import get_model

SCHMIDLI_ADULT = {
    "weight_kg": 70,
    "hemoglobin_g_per_dl": 13,
    "wbc_10e9_per_l": 10,
    "occasion_day29": 1,
}


def make_spec(applicability: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A small test-only model with one covariate (weight) and an applicability list."""
    spec: dict[str, Any] = {
        "id": "applicability2024",
        "name": "Applicability test model (values not from a publication)",
        "citation": "none: test fixture",
        "test_only": True,
        "population": {"description": "synthetic adults"},
        "structure": {"compartments": 1, "absorption": "first_order"},
        "covariates": [
            {
                "name": "weight_kg",
                "unit": "kg",
                "reference": 70,
                "description": "body weight",
                "domain": {"min": 40, "max": 150, "kind": "soft"},
            }
        ],
        "applicability": [
            {
                "name": "age_years",
                "unit": "years",
                "domain": {"min": 18, "max": 70, "kind": "hard"},
                "source": "synthetic study range",
            },
            {
                "name": "daily_dose_mg",
                "unit": "mg/day",
                "domain": {"min": 400, "max": 800, "kind": "soft"},
                "source": "synthetic dose range",
            },
        ]
        if applicability is None
        else applicability,
        "thetas": [
            {"name": "TVCL", "value": 12.0, "unit": "L/h"},
            {"name": "TVV", "value": 300, "unit": "L"},
            {"name": "TVKA", "value": 0.6, "unit": "1/h"},
        ],
        "parameters": {
            "cl_l_per_h": "TVCL * (weight_kg/70)**0.75",
            "v_l": "TVV",
            "ka_per_h": "TVKA",
        },
        "residual_error": {"model": "proportional", "proportional_sd": 0.2},
        "concentration": {
            "analyte": "imatinib",
            "basis": "free base, total plasma",
            "unit": "mg/L",
        },
        "verification": {"grade": "D", "note": "synthetic"},
    }
    return spec


# --- Schmidli 2005: a child gets the warning, an adult does not ---------------------------------


def test_child_with_schmidli_gets_a_warning_with_range_and_source() -> None:
    model = get_model("schmidli2005")
    warnings = check_covariates(model, {**SCHMIDLI_ADULT, "age_years": 10})
    assert len(warnings) == 1
    warning = warnings[0]
    assert warning.kind is DomainWarningKind.OUTSIDE_STUDIED_POPULATION
    assert warning.model_id == "schmidli2005"
    assert warning.covariate == "age_years"
    assert warning.values == (10.0,)
    assert warning.patient_indices == (0,)
    assert warning.domain is not None
    assert (warning.domain.min_value, warning.domain.max_value) == (18, 70)
    assert warning.domain.kind is DomainKind.SOFT
    assert warning.source is not None and "Yang 2025 Table 1" in warning.source
    for words in ("schmidli2005", "age_years = 10", "18 to 70 [years]", "Yang 2025 Table 1"):
        assert words in warning.message
    assert "not a covariate" in warning.message


def test_adult_with_schmidli_gets_no_warning() -> None:
    model = get_model("schmidli2005")
    assert check_covariates(model, {**SCHMIDLI_ADULT, "age_years": 45}) == []
    assert check_covariates(model, {**SCHMIDLI_ADULT, "age_years": 18}) == []  # bounds inclusive


def test_no_age_means_no_warning_and_no_invented_value() -> None:
    model = get_model("schmidli2005")
    resolved = resolve_covariates(model, SCHMIDLI_ADULT)
    assert resolved.warnings == ()
    assert "age_years" not in resolved.values
    assert check_covariates(model, {**SCHMIDLI_ADULT, "age_years": None}) == []
    # callers can say what was not checked
    assert model.applicability_names == ("age_years",)
    assert model.applicability[0].source


def test_applicability_values_never_enter_the_parameters() -> None:
    model = get_model("schmidli2005")
    adult = typical_parameters(model, SCHMIDLI_ADULT)
    child = typical_parameters(model, {**SCHMIDLI_ADULT, "age_years": 10})
    np.testing.assert_array_equal(child.cl_l_per_h, adult.cl_l_per_h)
    np.testing.assert_array_equal(child.v_l, adult.v_l)
    resolved = resolve_covariates(model, {**SCHMIDLI_ADULT, "age_years": 10})
    assert set(resolved.values) == set(model.covariate_names)


# --- behaviour on a synthetic model ---------------------------------------------------------------


def test_hard_applicability_raises() -> None:
    model = create_model(make_spec())
    with pytest.raises(ModelDomainError) as info:
        resolve_covariates(model, {"weight_kg": 70, "age_years": 12})
    message = str(info.value)
    for words in ("applicability2024", "age_years = 12", "18 to 70 [years]", "synthetic study"):
        assert words in message
    # also enforced when parameters are computed from a plain mapping
    with pytest.raises(ModelDomainError):
        typical_parameters(model, {"weight_kg": 70, "age_years": 12})


def test_soft_dose_range_is_checked_only_when_the_dose_is_given() -> None:
    model = create_model(make_spec())
    assert check_covariates(model, {"weight_kg": 70, "age_years": 40}) == []
    assert check_covariates(model, {"weight_kg": 70, "daily_dose_mg": 600}) == []
    (warning,) = check_covariates(model, {"weight_kg": 70, "daily_dose_mg": 300})
    assert warning.kind is DomainWarningKind.OUTSIDE_STUDIED_POPULATION
    assert warning.covariate == "daily_dose_mg"
    assert "400 to 800 [mg/day]" in warning.message
    assert "synthetic dose range" in warning.message


def test_arrays_warn_per_patient_and_nan_is_not_checked() -> None:
    model = create_model(make_spec())
    warnings = check_covariates(
        model, {"weight_kg": [60, 70, 80], "daily_dose_mg": [300, np.nan, 1000]}
    )
    (warning,) = warnings
    assert warning.patient_indices == (0, 2)
    assert warning.values == (300.0, 1000.0)
    with pytest.raises(CaseError, match="different numbers of patients"):
        resolve_covariates(model, {"weight_kg": [60, 70], "daily_dose_mg": [400, 400, 400]})


# --- specification checks ---------------------------------------------------------------------


def _refused(spec: dict[str, Any]) -> str:
    with pytest.raises(ModelDefinitionError) as info:
        create_model(spec)
    return str(info.value)


def test_name_declared_as_covariate_and_applicability_is_refused() -> None:
    spec = make_spec(
        [
            {
                "name": "weight_kg",
                "unit": "kg",
                "domain": {"min": 50, "max": 100, "kind": "soft"},
                "source": "s",
            }
        ]
    )
    message = _refused(spec)
    assert "applicability[0]" in message
    assert "also declared as a covariate" in message


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"name": "age"}, "not a canonical case covariate name"),
        ({"name": "occasion_day29"}, "not a canonical case covariate name"),
        ({"domain": {"min": 18, "max": 70, "kind": "strict"}}, "kind must be 'hard' or 'soft'"),
        ({"domain": {"min": 70, "max": 18, "kind": "soft"}}, "greater than max"),
        ({"domain": {"kind": "soft"}}, "give 'min', 'max' or both"),
        ({"domain": None}, "missing required key(s): domain"),
        ({"unit": None}, "missing required key(s): unit"),
        ({"range": [18, 70]}, "unknown key(s) range"),
    ],
)
def test_invalid_applicability_entries_are_refused(edit: dict[str, Any], words: str) -> None:
    entry = {
        "name": "age_years",
        "unit": "years",
        "domain": {"min": 18, "max": 70, "kind": "soft"},
        "source": "s",
    }
    entry.update(edit)
    assert words in _refused(make_spec([entry]))


def test_duplicate_applicability_names_are_refused() -> None:
    entry = {"name": "age_years", "unit": "years", "domain": {"min": 18, "kind": "soft"}}
    spec = make_spec([entry, copy.deepcopy(entry)])
    assert "listed twice" in _refused(spec)


def test_applicability_source_is_required_unless_test_only() -> None:
    spec = make_spec(
        [{"name": "age_years", "unit": "years", "domain": {"min": 18, "kind": "soft"}}]
    )
    create_model(spec)  # test_only: accepted
    spec["test_only"] = False
    for theta in spec["thetas"]:
        theta["source"] = "s"
    spec["residual_error"]["source"] = "s"
    message = _refused(spec)
    assert "applicability[0]" in message and "'source' is required" in message
    spec["applicability"][0]["source"] = "study table 1"
    model = create_model(spec)
    assert model.applicability[0].domain.source == "study table 1"


def test_applicability_names_are_the_case_covariate_names_and_the_daily_dose() -> None:
    case_names = {
        "weight_kg",
        "height_cm",
        "age_years",
        "sex_male",
        "indication_gist",
        "gastrectomy",
        *Covariates.model_fields,
    }
    assert case_names | {"daily_dose_mg"} == APPLICABILITY_NAMES
    assert set(load_demo_case().covariate_values()) <= APPLICABILITY_NAMES
