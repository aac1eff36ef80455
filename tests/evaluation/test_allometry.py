"""Allometric scaling of adult models."""

from __future__ import annotations

import numpy as np
import pytest

from imatinib_tdm.evaluation import allometric_model
from imatinib_tdm.pk import individual_parameters, resolve_covariates
from imatinib_tdm.pk.library import get_model


def test_scaling_follows_the_standard_exponents() -> None:
    base = get_model("widmer2006_base")
    scaled = allometric_model(base)
    assert scaled.id == "widmer2006_base_allometric"
    assert "weight_kg" in scaled.covariate_names
    etas = np.zeros((2, len(base.eta_names)))
    original = individual_parameters(base, resolve_covariates(base, {}), etas[:1])
    child = individual_parameters(
        scaled, resolve_covariates(scaled, {"weight_kg": np.array([70.0, 35.0])}), etas
    )
    cl0, v0 = float(original.cl_l_per_h[0]), float(original.v_l[0])
    assert child.cl_l_per_h.tolist() == pytest.approx([cl0, cl0 * 0.5**0.75])
    assert child.v_l.tolist() == pytest.approx([v0, v0 * 0.5])


def test_models_with_weight_are_left_alone() -> None:
    model = get_model("menonandersen2009")
    assert allometric_model(model) is model


def test_two_compartment_models_scale_q_and_v2() -> None:
    scaled = allometric_model(get_model("chien2022"))
    text = dict((name, str(expr)) for name, expr in scaled.parameters)
    assert all("weight_kg" in text[p] for p in ("cl_l_per_h", "v_l", "q_l_per_h", "v2_l"))
