"""Tests of the PopPK model type, its validation, covariates and parameters (pk._model)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest

from imatinib_tdm.errors import (
    MissingCovariateError,
    ModelDefinitionError,
    ModelDomainError,
    UnknownModelError,
)
from imatinib_tdm.pk._covariates import check_covariates, required_covariates, resolve_covariates
from imatinib_tdm.pk._individual import (
    individual_parameters,
    sample_etas,
    sample_kappas,
    typical_parameters,
)
from imatinib_tdm.pk._model import (
    DomainKind,
    DomainWarningKind,
    ResidualErrorKind,
    ResidualErrorModel,
)
from imatinib_tdm.pk._model_spec import create_model
from imatinib_tdm.pk._structures import Absorption
from imatinib_tdm.pk.library import get_model, list_model_ids, list_models, load_models


def make_spec() -> dict[str, Any]:
    """A small test-only model exercising covariates, domains, when_missing and IOV."""
    return {
        "id": "testmodel2024",
        "name": "Test model (values not from a publication)",
        "citation": "none: test fixture",
        "doi": None,
        "test_only": True,
        "population": {"description": "synthetic", "n_patients": 10, "indication": ["CML"]},
        "structure": {"compartments": 1, "absorption": "first_order", "lag_time": False},
        "covariates": [
            {
                "name": "weight_kg",
                "unit": "kg",
                "reference": 70,
                "description": "body weight",
                "domain": {"min": 40, "max": 150, "kind": "soft", "source": "study range"},
            },
            {
                "name": "age_years",
                "unit": "years",
                "reference": 50,
                "description": "age",
                "domain": {"min": 18, "max": 90, "kind": "hard", "source": "adults only"},
            },
            {
                "name": "sex_male",
                "unit": "1 = male, 0 = female",
                "reference": 0.5,
                "description": "sex",
                "domain": {"min": 0, "max": 1, "kind": "hard"},
                "when_missing": {"value": 0.5, "note": "Tucuxi convention: 0.5 = sex unknown"},
            },
        ],
        "thetas": [
            {"name": "TVCL", "value": 12.0, "unit": "L/h"},
            {"name": "TVV", "value": 300, "unit": "L"},
            {"name": "TVKA", "value": "6e-1", "unit": "1/h"},  # PyYAML reads 6e-1 as text
            {"name": "CL_SEX", "value": 2.0, "unit": "L/h"},
        ],
        "etas": {
            "names": ["ETA_CL", "ETA_V"],
            "omega": [[0.09, 0.03], [0.03, 0.25]],
        },
        "iov": {"names": ["KAPPA_CL"], "omega": [[0.04]]},
        "parameters": {
            "cl_l_per_h": "(TVCL + CL_SEX*(sex_male - 0.5)) * (weight_kg/70)**0.75"
            " * (1 - 0.005*(age_years - 50)) * exp(ETA_CL + KAPPA_CL)",
            "v_l": "TVV * (weight_kg/70) * exp(ETA_V)",
            "ka_per_h": "TVKA",
        },
        "residual_error": {
            "model": "combined",
            "proportional_sd": 0.2,
            "additive_sd_mg_per_l": 0.1,
        },
        "concentration": {
            "analyte": "imatinib",
            "basis": "free base, total plasma",
            "unit": "mg/L",
        },
        "verification": {"grade": "D", "note": "synthetic", "discrepancies": []},
    }


@pytest.fixture
def model():  # type: ignore[no-untyped-def]
    return create_model(make_spec())


def _cl(weight: Any, age: Any, male: Any, eta: Any = 0.0, kappa: Any = 0.0) -> Any:
    return (
        (12.0 + 2.0 * (np.asarray(male) - 0.5))
        * (np.asarray(weight) / 70) ** 0.75
        * (1 - 0.005 * (np.asarray(age) - 50))
        * np.exp(np.asarray(eta) + kappa)
    )


# --- construction -----------------------------------------------------------------------------


def test_create_model_reads_every_block(model) -> None:  # type: ignore[no-untyped-def]
    assert model.id == "testmodel2024"
    assert model.structure.absorption is Absorption.FIRST_ORDER
    assert model.covariate_names == ("weight_kg", "age_years", "sex_male")
    assert model.covariate("age_years").domain.kind is DomainKind.HARD
    assert model.theta_values["TVKA"] == pytest.approx(0.6)
    assert model.eta_names == ("ETA_CL", "ETA_V")
    assert model.kappa_names == ("KAPPA_CL",)
    assert [name for name, _ in model.parameters] == [
        "cl_l_per_h",
        "v_l",
        "bioavailability_frac",
        "ka_per_h",
    ]
    assert model.parameter_expression("bioavailability_frac").source == "1"
    assert model.residual_error.kind is ResidualErrorKind.COMBINED
    assert not model.etas.omega.flags.writeable
    assert required_covariates(model) == ("weight_kg", "age_years")


def test_model_is_immutable_hashable_and_picklable(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AttributeError):
        model.id = "other"  # type: ignore[misc]
    assert create_model(make_spec()) == model
    assert hash(create_model(make_spec())) == hash(model)
    assert pickle.loads(pickle.dumps(model)) == model


def _error(spec: dict[str, Any]) -> str:
    with pytest.raises(ModelDefinitionError) as info:
        create_model(spec)
    return str(info.value)


def _edit(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(make_spec())
    *parents, last = path.split(".")
    node: Any = spec
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("etas.omega", [[0.09, 0.5], [0.5, 0.25]], "not positive definite"),
        ("etas.omega", [[0.09, 0.03], [0.02, 0.25]], "not symmetric"),
        ("etas.omega", [[0.09, 0.0], [0.0, 0.0]], "not positive definite"),
        ("etas.omega", [[0.09]], "shape"),
        ("etas.omega", [[0.09, "x"], [0.03, 0.25]], "square matrix of numbers"),
        ("etas.names", ["ETA_CL", "V"], "ETA_*"),
        ("iov.names", ["ETA_OCC"], "KAPPA_*"),
        ("thetas.0.value", float("nan"), "finite"),
        ("thetas.0.value", "abc", "must be a number"),
        ("id", "Bad-Id", "id must match"),
        ("structure.absorption", "second_order", "absorption must be one of"),
        ("structure.compartments", 3, "n_compartments"),
        ("parameters.cl_l_per_h", "TVCL * exp(ETA_CL + KAPPA_CL) * foo", "undeclared name(s) foo"),
        ("parameters.v_l", "TVV", "declared but used in no expression: ETA_V"),
        ("parameters.q_l_per_h", "1", "not used by the structure"),
        ("parameters.clearance", "1", "unknown parameter(s) clearance"),
        ("parameters.ka_per_h", _DELETE, "missing parameter(s) ka_per_h"),
        (
            "parameters.v_l",
            "TVV * (weight_kg/70) * exp(ETA_V) * (1 + 0*time_since_first_dose_h)",
            "only allowed in ka_per_h and bioavailability_frac",
        ),
        ("parameters.v_l", "TVV.real", "attribute access"),
        ("residual_error.log_sd", 0.3, "does not use it"),
        ("residual_error.model", "exponential", "model must be one of"),
        ("residual_error.additive_sd_mg_per_l", _DELETE, "needs additive_sd_mg_per_l"),
        ("concentration.unit", "ng/mL", "unit must be mg/L"),
        ("verification.grade", "excellent", "grade must be"),
        ("covariates.0.domain", {"min": 150, "max": 40, "kind": "soft"}, "greater than max"),
        ("covariates.0.domain", {"min": 40, "max": 150, "kind": "medium"}, "kind must be"),
        ("covariates.0.reference", 20, "outside the domain"),
        ("covariates.2.when_missing", {"value": 2, "note": "x"}, "outside the domain"),
        ("covariates.2.when_missing", {"value": 0.5}, "missing required key(s): note"),
        ("covariates.0.name", "exp", "reserved"),
        ("covariates.0.name", "TVCL", "declared twice"),
        ("thetas.0.unit", _DELETE, "missing required key(s): unit"),
        ("colour", "blue", "unknown key(s) colour"),
        ("thetas.1.value", -300, "typical parameters at the reference covariates are invalid"),
    ],
)
def test_invalid_specifications_are_refused(path: str, value: Any, words: str) -> None:
    message = _error(_edit(path, value))
    assert "testmodel2024" in message or "Bad-Id" in message
    assert words in message


def test_sources_are_required_unless_test_only() -> None:
    spec = _edit("test_only", False)
    assert "'source' is required" in _error(spec)


def test_unused_covariate_is_refused() -> None:
    spec = make_spec()
    spec["covariates"].append({"name": "albumin_g_per_l", "unit": "g/L", "description": "alb"})
    assert "declared but used in no expression: albumin_g_per_l" in _error(spec)


def test_diagonal_omega_shorthand() -> None:
    model = create_model(_edit("etas.omega", [0.09, 0.25]))
    np.testing.assert_array_equal(model.etas.omega, np.diag([0.09, 0.25]))


# --- covariates -------------------------------------------------------------------------------


def test_missing_covariates_are_all_listed_at_once(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingCovariateError) as info:
        check_covariates(model, {"sex_male": 1})
    assert info.value.missing == ["weight_kg", "age_years"]
    message = str(info.value)
    assert "weight_kg (body weight; kg)" in message
    assert "age_years (age; years)" in message


def test_nan_means_missing_for_that_patient(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingCovariateError, match="patient 1"):
        check_covariates(model, {"weight_kg": [70, np.nan], "age_years": 50, "sex_male": 1})


def test_when_missing_substitution_is_reported(model) -> None:  # type: ignore[no-untyped-def]
    resolved = resolve_covariates(model, {"weight_kg": 70, "age_years": 50})
    np.testing.assert_array_equal(resolved.values["sex_male"], [0.5])
    (warning,) = resolved.warnings
    assert warning.kind is DomainWarningKind.MISSING_SUBSTITUTED
    assert warning.covariate == "sex_male"
    assert "Tucuxi convention" in warning.message
    assert "0.5" in warning.message
    params = individual_parameters(model, resolved)
    np.testing.assert_allclose(params.cl_l_per_h, _cl(70, 50, 0.5))


def test_when_missing_is_never_applied_silently(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingCovariateError) as info:
        typical_parameters(model, {"weight_kg": 70, "age_years": 50})
    assert info.value.missing == ["sex_male"]
    assert "resolve_covariates" in str(info.value)


def test_soft_domain_gives_warnings_with_value_domain_and_source(model) -> None:  # type: ignore[no-untyped-def]
    warnings = check_covariates(
        model, {"weight_kg": [35.0, 70.0, 160.0], "age_years": 50, "sex_male": 0}
    )
    (warning,) = warnings
    assert warning.kind is DomainWarningKind.OUTSIDE_SOFT_DOMAIN
    assert warning.values == (35.0, 160.0)
    assert warning.patient_indices == (0, 2)
    assert warning.domain is not None and warning.domain.kind is DomainKind.SOFT
    assert warning.source == "study range"
    for words in ("35", "160", "40 to 150 [kg] (soft)", "study range", "extrapolation"):
        assert words in warning.message


def test_hard_domain_raises_listing_all_violations(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelDomainError) as info:
        check_covariates(model, {"weight_kg": 70, "age_years": [10, 50, 95], "sex_male": 3})
    message = str(info.value)
    assert "age_years = 10, 95" in message
    assert "sex_male = 3" in message
    assert "adults only" in message


def test_hard_domain_is_enforced_by_individual_parameters(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelDomainError):
        typical_parameters(model, {"weight_kg": 70, "age_years": 12, "sex_male": 1})


def test_inside_the_domain_there_are_no_warnings(model) -> None:  # type: ignore[no-untyped-def]
    assert check_covariates(model, {"weight_kg": 70, "age_years": 50, "sex_male": 1}) == []


def test_extra_covariates_are_ignored(model) -> None:  # type: ignore[no-untyped-def]
    cov = {"weight_kg": 70, "age_years": 50, "sex_male": 1, "albumin_g_per_l": 40}
    assert check_covariates(model, cov) == []


# --- parameters -------------------------------------------------------------------------------


def test_typical_parameters_match_hand_computation(model) -> None:  # type: ignore[no-untyped-def]
    params = typical_parameters(model, {"weight_kg": 80.0, "age_years": 60.0, "sex_male": 1})
    np.testing.assert_allclose(params.cl_l_per_h, _cl(80, 60, 1))
    np.testing.assert_allclose(params.v_l, [300 * 80 / 70])
    np.testing.assert_allclose(params.ka_per_h, [0.6])
    np.testing.assert_array_equal(params.bioavailability_frac, [1.0])
    assert params.d1_h is None and params.q_l_per_h is None


def test_individual_parameters_vectorise_over_patients(model) -> None:  # type: ignore[no-untyped-def]
    weights = np.array([50.0, 70.0, 100.0])
    etas = np.array([[0.1, -0.2], [0.0, 0.0], [-0.3, 0.4]])
    kappas = np.array([[0.05], [0.0], [-0.05]])
    cov = {"weight_kg": weights, "age_years": 45.0, "sex_male": [0, 1, 1]}
    params = individual_parameters(model, cov, etas, kappas=kappas)
    assert params.n_patients == 3
    np.testing.assert_allclose(
        params.cl_l_per_h, _cl(weights, 45, [0, 1, 1], etas[:, 0], kappas[:, 0])
    )
    np.testing.assert_allclose(params.v_l, 300 * weights / 70 * np.exp(etas[:, 1]))
    one = individual_parameters(
        model, {"weight_kg": 100.0, "age_years": 45.0, "sex_male": 1}, etas[2], kappas=kappas[2]
    )
    np.testing.assert_allclose(one.cl_l_per_h, params.cl_l_per_h[2:])


def test_scalar_covariates_broadcast_to_eta_rows(model) -> None:  # type: ignore[no-untyped-def]
    etas = np.zeros((4, 2))
    params = individual_parameters(model, {"weight_kg": 70, "age_years": 50, "sex_male": 1}, etas)
    assert params.cl_l_per_h.shape == (4,)


def test_wrong_eta_shapes_are_refused(model) -> None:  # type: ignore[no-untyped-def]
    cov = {"weight_kg": [60.0, 70.0], "age_years": 50, "sex_male": 1}
    with pytest.raises(ValueError, match=r"shape \(n_patients, 2\)"):
        individual_parameters(model, cov, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must agree"):
        individual_parameters(model, cov, np.zeros((3, 2)))


def test_invalid_parameter_values_name_the_parameter_and_patient() -> None:
    spec = make_spec()
    spec["parameters"]["cl_l_per_h"] = (
        "TVCL * (1 - 0.02*(weight_kg - 70)) * exp(ETA_CL + KAPPA_CL) * (sex_male + 1)"
        " * (age_years/50) * (CL_SEX/2)"
    )
    model = create_model(spec)
    with pytest.raises(ModelDomainError) as info:
        typical_parameters(model, {"weight_kg": [70, 130], "age_years": 50, "sex_male": 0})
    assert "cl_l_per_h" in str(info.value)
    assert "patient 1" in str(info.value)


def test_time_varying_parameters_are_evaluated_per_dose() -> None:
    spec = make_spec()
    spec["parameters"]["ka_per_h"] = "TVKA * (1 + 1.18*exp(-0.0256*time_since_first_dose_h/24))"
    spec["parameters"]["bioavailability_frac"] = "1 + 0.482*exp(-0.0256*time_since_first_dose_h/24)"
    model = create_model(spec)
    assert model.time_varying_parameters == ("bioavailability_frac", "ka_per_h")
    cov = {"weight_kg": [60.0, 80.0], "age_years": 50, "sex_male": 1}
    times = np.array([0.0, 24.0, 240.0])
    params = typical_parameters(model, cov, dose_times_h=times)
    assert params.ka_per_h is not None and params.ka_per_h.shape == (2, 3)
    np.testing.assert_allclose(params.ka_per_h[1], 0.6 * (1 + 1.18 * np.exp(-0.0256 * times / 24)))
    np.testing.assert_allclose(
        params.bioavailability_frac[0], 1 + 0.482 * np.exp(-0.0256 * times / 24)
    )
    assert params.cl_l_per_h.shape == (2,)
    with pytest.raises(ValueError, match="dose_times_h"):
        typical_parameters(model, cov)


# --- random effects and residual error ---------------------------------------------------------


def test_sample_etas_covariance_matches_omega(model) -> None:  # type: ignore[no-untyped-def]
    etas = sample_etas(model, 200_000, np.random.default_rng(1))
    assert etas.shape == (200_000, 2)
    np.testing.assert_allclose(etas.mean(axis=0), 0.0, atol=0.005)
    np.testing.assert_allclose(np.cov(etas, rowvar=False), model.etas.omega, atol=0.004)
    kappas = sample_kappas(model, 100_000, np.random.default_rng(2))
    assert kappas.shape == (100_000, 1)
    assert kappas.var() == pytest.approx(0.04, rel=0.02)


def test_sample_etas_is_reproducible(model) -> None:  # type: ignore[no-untyped-def]
    a = sample_etas(model, 5, np.random.default_rng(7))
    b = sample_etas(model, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_residual_sd_per_kind() -> None:
    pred = np.array([0.0, 1.0, 2.0])
    prop = ResidualErrorModel(ResidualErrorKind.PROPORTIONAL, proportional_sd=0.3)
    add = ResidualErrorModel(ResidualErrorKind.ADDITIVE, additive_sd_mg_per_l=0.2)
    comb = ResidualErrorModel(
        ResidualErrorKind.COMBINED, proportional_sd=0.3, additive_sd_mg_per_l=0.2
    )
    log = ResidualErrorModel(ResidualErrorKind.LOG_ADDITIVE, log_sd=0.4)
    np.testing.assert_allclose(prop.sd_mg_per_l(pred), [0.0, 0.3, 0.6])
    np.testing.assert_allclose(add.sd_mg_per_l(pred), [0.2, 0.2, 0.2])
    np.testing.assert_allclose(comb.sd_mg_per_l(pred), np.sqrt((0.3 * pred) ** 2 + 0.04))
    np.testing.assert_allclose(log.sd_mg_per_l(pred), [0.4, 0.4, 0.4])
    assert log.is_log_scale and not comb.is_log_scale


def test_add_noise_has_the_documented_distribution() -> None:
    rng = np.random.default_rng(3)
    pred = np.full(200_000, 2.0)
    comb = ResidualErrorModel(
        ResidualErrorKind.COMBINED, proportional_sd=0.3, additive_sd_mg_per_l=0.2
    )
    y = comb.add_noise(pred, rng)
    assert y.mean() == pytest.approx(2.0, abs=0.005)
    assert y.std() == pytest.approx(np.sqrt(0.6**2 + 0.2**2), rel=0.01)
    log = ResidualErrorModel(ResidualErrorKind.LOG_ADDITIVE, log_sd=0.4)
    z = np.log(log.add_noise(pred, rng))
    assert z.mean() == pytest.approx(np.log(2.0), abs=0.005)
    assert z.std() == pytest.approx(0.4, rel=0.01)
    add = ResidualErrorModel(ResidualErrorKind.ADDITIVE, additive_sd_mg_per_l=0.5)
    assert (add.add_noise(np.zeros(1000), rng) < 0).any()  # negative values are kept


# --- library ----------------------------------------------------------------------------------


def test_every_library_model_loads() -> None:
    models = list_models()
    assert [m.id for m in models] == sorted(m.id for m in models) == list_model_ids()
    for m in models:
        assert m.builtin and m.source_path is not None
        assert m.citation and m.verification.grade


def test_widmer2006_base_values() -> None:
    model = get_model("widmer2006_base")
    params = typical_parameters(model, {})
    np.testing.assert_allclose(params.cl_l_per_h, [14.3])
    np.testing.assert_allclose(params.v_l, [347.0])
    np.testing.assert_allclose(params.ka_per_h, [0.61])
    np.testing.assert_allclose(np.sqrt(np.diag(model.etas.omega)), [0.36, 0.63])
    assert model.residual_error.proportional_sd == pytest.approx(0.31)
    assert model.doi == "10.1111/j.1365-2125.2006.02719.x"
    assert "CV^2" in (model.etas.notes or "")


def test_unknown_model_lists_ids_and_suggests() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_model("widmer2006")
    message = str(info.value)
    assert "Did you mean 'widmer2006_base'" in message
    assert "widmer2006_base" in info.value.fields["available"]


def test_get_model_searches_a_given_pool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    custom = create_model(make_spec())
    assert get_model("testmodel2024", models=[custom]) is custom
    with pytest.raises(UnknownModelError):
        get_model("testmodel2024")
    assert load_models([]) == []
