"""The one-patient fast path of ``resolve_covariates`` gives exactly the general path's result.

The fast path answers only when every covariate is a finite number inside every domain and
studied range; anything else (missing, arrays, out of range) goes to the general path. Checked
here over every library model with values drawn around and beyond each declared range.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imatinib_tdm.errors import TdmError
from imatinib_tdm.pk._covariates import _resolve_clean_scalars, _resolve_general
from imatinib_tdm.pk.library import list_models

_MODELS = list_models()


def _value_strategy(low: float | None, high: float | None) -> st.SearchStrategy[object]:
    lo = -10.0 if low is None else low
    hi = lo + 200.0 if high is None else high
    span = max(hi - lo, 1.0)
    return st.one_of(
        st.floats(lo, hi),  # inside
        st.floats(lo - span, hi + span),  # around, often outside
        st.sampled_from([lo, hi, 0, 1, math.nan, None]),  # edges, int, missing
    )


@st.composite
def _case(draw: st.DrawFn) -> tuple[int, dict[str, object]]:
    index = draw(st.integers(0, len(_MODELS) - 1))
    model = _MODELS[index]
    values: dict[str, object] = {}
    for cov in model.covariates:
        domain = cov.domain
        values[cov.name] = draw(
            _value_strategy(
                None if domain is None else domain.min_value,
                None if domain is None else domain.max_value,
            )
        )
    for criterion in model.applicability:
        values[criterion.name] = draw(
            _value_strategy(criterion.domain.min_value, criterion.domain.max_value)
        )
    return index, values


@settings(max_examples=400, deadline=None)
@given(_case())
def test_fast_path_equals_the_general_path(case: tuple[int, dict[str, object]]) -> None:
    index, values = case
    model = _MODELS[index]
    fast = _resolve_clean_scalars(model, values)
    if fast is None:
        return  # the general path answers: nothing to compare
    general = _resolve_general(model, values, substitute=True)
    assert fast.model_id == general.model_id and fast.n_patients == general.n_patients == 1
    assert fast.warnings == general.warnings == ()
    assert fast.values.keys() == general.values.keys()
    for name, array in fast.values.items():
        assert array.dtype == general.values[name].dtype
        np.testing.assert_array_equal(array, general.values[name])


@pytest.mark.parametrize("model", [m for m in _MODELS if m.covariates], ids=lambda m: m.id)
def test_anything_unclean_goes_to_the_general_path(model) -> None:  # type: ignore[no-untyped-def]
    first = model.covariates[0]
    inside = {c.name: _inside(c.domain) for c in model.covariates}
    assert _resolve_clean_scalars(model, inside) is not None
    for bad in (None, math.nan, math.inf, True, np.float64(1.0), [1.0, 2.0]):
        assert _resolve_clean_scalars(model, {**inside, first.name: bad}) is None
    try:
        _resolve_general(model, inside, substitute=True)
    except TdmError as error:  # pragma: no cover - the fast path accepted it, so must the general
        pytest.fail(f"general path refused clean covariates: {error}")


def _inside(domain) -> float:  # type: ignore[no-untyped-def]
    if domain is None:
        return 1.0
    low = domain.min_value if domain.min_value is not None else None
    high = domain.max_value if domain.max_value is not None else None
    if low is not None and high is not None:
        return (low + high) / 2.0
    if low is not None:
        return low + 1.0
    if high is not None:
        return high - 1.0
    return 1.0
