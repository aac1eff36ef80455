"""Shared computations (one typical trough per covariate set in the patient factors, one
parameter evaluation per distinct covariate set in the regimen table) give exactly what the
computation per factor / per regimen gave (tolerance 0: same operations on the same numbers);
the regimen table's troughs per mg times the dose (linear models) agree with a prediction per
dose to a relative 1e-12 (rounding), and give the same probabilities here."""

from __future__ import annotations

import numpy as np
import pytest

from imatinib_tdm.case import load_demo_case
from imatinib_tdm.errors import MissingCovariateError, ModelDomainError
from imatinib_tdm.pk import (
    PopPKModel,
    individual_parameters,
    predict_steady_state_trough,
    resolve_covariates,
    sample_etas,
    typical_parameters,
)
from imatinib_tdm.pk.library import get_model, list_models
from imatinib_tdm.tdm._dosing import MG_PER_L_TO_NG_PER_ML, evaluate_regimens
from imatinib_tdm.tdm._knowledge import Indication, load_targets
from imatinib_tdm.tdm._patient_factors import _model_ratio, _Patient, assess_patient_factors
from imatinib_tdm.tdm._regimens import candidate_regimens, current_regimen

_CONSTANT_MODELS = sorted(m.id for m in list_models() if not m.time_varying_parameters)


def _ratio_per_factor(case, model: PopPKModel, name: str) -> float | None:  # type: ignore[no-untyped-def]
    """The ratio as computed before the memo: both troughs resolved and predicted afresh."""
    regimen = current_regimen(case)
    values = case.covariate_values()
    if regimen is None or name not in model.covariate_names or name not in values:
        return None
    reference = model.covariate(name).reference
    try:
        resolved = [
            resolve_covariates(model, values),
            resolve_covariates(model, {**values, name: reference}),
        ]
    except (MissingCovariateError, ModelDomainError):
        return None
    troughs = [
        predict_steady_state_trough(
            model.structure,
            typical_parameters(model, r),
            dose_mg=regimen.dose_mg,
            interval_h=regimen.interval_h,
        )[0]
        for r in resolved
    ]
    return float(troughs[0] / troughs[1])


@pytest.mark.parametrize("model_id", _CONSTANT_MODELS)
def test_model_ratio_with_shared_memo_equals_fresh_computation(model_id: str) -> None:
    case = load_demo_case("demo-001")
    model = get_model(model_id)
    memo: dict = {}  # type: ignore[type-arg]
    patient = _Patient(current_regimen(case), case.covariate_values())
    for covariate in model.covariates:
        shared = _model_ratio(patient, model, (covariate.name,), memo=memo)
        expected = _ratio_per_factor(case, model, covariate.name)
        if expected is None or covariate.reference is None:
            continue
        assert shared is not None
        assert shared[2] == expected  # tolerance 0


def test_assess_patient_factors_memo_changes_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    case = load_demo_case("demo-001")
    model = get_model("widmer2006_covariate")
    shared = [f.to_dict() for f in assess_patient_factors(case, model)]
    import imatinib_tdm.tdm._patient_factors as module

    original = module._model_ratio

    def unshared(*args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["memo"] = None  # a fresh memo per factor: the computation before sharing
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_model_ratio", unshared)
    assert [f.to_dict() for f in assess_patient_factors(case, model)] == shared


@pytest.mark.parametrize("model_id", ["widmer2006_covariate", "golabchifar2014", "shriyan2022"])
def test_regimen_table_equals_per_regimen_parameters(model_id: str) -> None:
    model = get_model(model_id)
    case = load_demo_case("demo-001")
    values = case.covariate_values()
    for covariate in model.covariates:
        if covariate.reference is not None:
            values.setdefault(covariate.name, float(covariate.reference))
    etas = sample_etas(model, 500, np.random.default_rng(11))
    targets = load_targets()
    target = targets.default_target(Indication.GIST)
    alert = targets.default_alert(Indication.GIST)
    regimens = candidate_regimens(age_years=54.0, weight_kg=62.0, height_cm=165.0)
    table = evaluate_regimens(model, values, etas, regimens, target=target, alert=alert)
    for regimen, row in zip(regimens, table.rows, strict=True):
        resolved = resolve_covariates(model, {**values, "daily_dose_mg": regimen.daily_dose_mg})
        troughs = (
            predict_steady_state_trough(
                model.structure,
                individual_parameters(model, resolved, etas),
                dose_mg=regimen.dose_mg,
                interval_h=regimen.interval_h,
            )
            * MG_PER_L_TO_NG_PER_ML
        )
        assert row.trough_median_ng_per_ml == pytest.approx(
            float(np.percentile(troughs, 50.0)), rel=1e-12
        )
        assert row.trough_p5_ng_per_ml == pytest.approx(
            float(np.percentile(troughs, 5.0)), rel=1e-12
        )
        assert row.probability_target_attained == float(np.mean(troughs >= target.value_ng_per_ml))
