"""The stable exponential convolutions against high-precision quadrature (mpmath)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imatinib_tdm.pk._kernels import conv2, conv3

mpmath = pytest.importorskip("mpmath")


def _conv2_exact(a: float, b: float, t: float) -> float:
    mpmath.mp.dps = 120
    a_, b_, t_ = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(t)
    if a_ == b_:
        return float(t_ * mpmath.exp(-a_ * t_))
    return float(mpmath.exp(-a_ * t_) * -mpmath.expm1(-(b_ - a_) * t_) / (b_ - a_))


def _conv3_exact(a: float, b: float, c: float, t: float) -> float:
    """Closed forms evaluated with 250 digits: distinct rates, one repeated rate, all equal."""
    if t < 1e-100:  # the second-order term t**2/2 is all that is left (and underflows)
        return 0.5 * t * t
    mpmath.mp.dps = 250
    x = sorted(mpmath.mpf(v) for v in (a, b, c))
    t_ = mpmath.mpf(t)
    if x[0] == x[2]:
        return float(t_**2 / 2 * mpmath.exp(-x[0] * t_))
    if x[0] == x[1] or x[1] == x[2]:
        repeated, other = (x[0], x[2]) if x[0] == x[1] else (x[2], x[0])
        d = other - repeated
        return float((mpmath.exp(-repeated * t_) * (d * t_ - 1) + mpmath.exp(-other * t_)) / d**2)
    a_, b_, c_ = x
    return float(
        mpmath.exp(-a_ * t_) / ((b_ - a_) * (c_ - a_))
        + mpmath.exp(-b_ * t_) / ((a_ - b_) * (c_ - b_))
        + mpmath.exp(-c_ * t_) / ((a_ - c_) * (b_ - c_))
    )


rates = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
times = st.floats(min_value=0.0, max_value=200.0, allow_nan=False)
near = st.sampled_from([0.0, 1e-12, 1e-8, 1e-5, 1e-3, 0.05, 0.5])


@settings(max_examples=60, deadline=None)
@given(a=rates, gap=near, t=times)
def test_conv2_matches_exact_even_for_equal_rates(a: float, gap: float, t: float) -> None:
    b = a * (1.0 + gap) + gap
    exact = _conv2_exact(a, b, t)
    value = float(conv2(np.array(a), np.array(b), np.array(t)))
    assert value == pytest.approx(exact, rel=1e-13, abs=1e-300)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0.0, 3.0), gap1=near, gap2=near, t=st.floats(0.0, 40.0))
def test_conv3_matches_quadrature_even_for_close_rates(
    a: float, gap1: float, gap2: float, t: float
) -> None:
    b = a + gap1
    c = b + gap2
    exact = _conv3_exact(a, b, c, t)
    value = float(conv3(np.array(a), np.array(b), np.array(c), np.array(t)))
    assert value == pytest.approx(exact, rel=1e-12, abs=1e-300)


def test_conv3_is_symmetric_in_its_rates() -> None:
    t = np.array(7.0)
    values = [
        conv3(np.array(x), np.array(y), np.array(z), t)
        for x, y, z in [(0.1, 0.7, 2.0), (2.0, 0.1, 0.7), (0.7, 2.0, 0.1)]
    ]
    assert values[0] == values[1] == values[2]
