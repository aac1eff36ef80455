"""Hand-written numeric shortcuts of the engine equal the library functions they replace.

``pk._quantiles.percentiles`` against ``numpy.percentile`` (bit for bit) and the row
log-sum-exp of the SIR against ``scipy.special.logsumexp`` (to rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imatinib_tdm.pk._quantiles import percentiles

_LEVELS = [0.0, 2.5, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 100.0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60),
    st.lists(st.floats(0.0, 100.0), min_size=1, max_size=5),
)
def test_equal_to_numpy_for_any_sample_and_level(values: list[float], q: list[float]) -> None:
    np.testing.assert_array_equal(percentiles(values, q), np.percentile(values, q))


def test_equal_to_numpy_on_posterior_sized_samples_with_ties() -> None:
    rng = np.random.default_rng(3)
    for sample in (
        rng.lognormal(7.0, 0.5, 1000),
        np.round(rng.normal(1000.0, 300.0, 1000)),  # many ties
        np.full(7, 2.5),
        np.array([1.0]),
    ):
        np.testing.assert_array_equal(percentiles(sample, _LEVELS), np.percentile(sample, _LEVELS))


def test_nan_in_the_sample_gives_nan_as_numpy() -> None:
    got = percentiles([1.0, np.nan, 3.0], [5.0, 50.0])
    assert np.isnan(got).all() and np.isnan(np.percentile([1.0, np.nan, 3.0], [5.0, 50.0])).all()


@pytest.mark.parametrize(
    ("values", "q"), [([], [50.0]), ([[1.0, 2.0]], [50.0]), ([1.0], [101.0]), ([1.0], [-1.0])]
)
def test_bad_input_is_refused(values: list[float], q: list[float]) -> None:
    with pytest.raises(ValueError):
        percentiles(values, q)


def test_row_log_sum_exp_equals_scipy() -> None:
    from scipy.special import logsumexp

    from imatinib_tdm.pk._posterior import _log_sum_exp_rows

    rng = np.random.default_rng(5)
    values = rng.normal(-500.0, 40.0, (6, 4000))
    values[1, :10] = -np.inf  # proposals with non-finite weight
    values[2] = -np.inf  # a row with no usable proposal
    got = _log_sum_exp_rows(values)
    expected = logsumexp(values, axis=1, keepdims=True)
    np.testing.assert_allclose(
        got[np.isfinite(expected)], expected[np.isfinite(expected)], rtol=1e-13
    )
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
