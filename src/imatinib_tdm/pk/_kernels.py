"""Numerically stable building blocks: convolutions of decaying exponentials.

The concentration of any linear compartmental model is built from convolutions of exponentials
``exp(-x·t)``. Written naively (partial fractions) they divide by rate differences and lose all
accuracy when two rates are close (e.g. ka close to the elimination rate). Here they are
computed as divided differences of ``exp(-x·t)`` with ``expm1`` and a short Taylor series, so
that they stay accurate to a few ulps for any rates, equal ones included.

This module imports numpy only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Below this spread (in units of rate·time) the second divided difference is summed as a
# series; above it the recursive formula loses at most ~1e-15/threshold relative accuracy.
_SERIES_THRESHOLD = 0.1
_SERIES_TERMS = 14


def conv2(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """Convolution of exp(-a·t) and exp(-b·t) at time t.

    Equals ``(exp(-a t) - exp(-b t)) / (b - a)``, and ``t·exp(-a t)`` when ``a == b``.
    Arguments broadcast; rates (1/h) must be >= 0 and t (h) >= 0.
    """
    lo = np.minimum(a, b)
    gap = np.abs(a - b) * t
    # (1 - exp(-gap))/gap is the relative decay of the faster exponential; stable through expm1.
    numerator = one_minus_exp(gap)
    ratio = np.ones(numerator.shape)
    np.divide(numerator, gap, out=ratio, where=gap > 0.0)
    return np.asarray(np.exp(-lo * t) * t * ratio, dtype=np.float64)


def _first_divided_unit(p: FloatArray, q: FloatArray) -> FloatArray:
    """(exp(-p) - exp(-q)) / (q - p) for q >= p >= 0 (exp(-p) when equal)."""
    gap = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gap > 0.0, -np.expm1(-gap) / np.where(gap > 0.0, gap, 1.0), 1.0)
    return np.asarray(np.exp(-p) * ratio, dtype=np.float64)


def conv3(a: FloatArray, b: FloatArray, c: FloatArray, t: FloatArray) -> FloatArray:
    """Convolution of exp(-a·t), exp(-b·t) and exp(-c·t) at time t.

    Equals the second divided difference of ``x -> exp(-x t)`` at (a, b, c), which is the
    partial-fraction sum ``Σ exp(-a t)/((b-a)(c-a))`` when the rates differ, and its limit when
    they do not. Arguments broadcast; rates (1/h) >= 0, t (h) >= 0.
    """
    a, b, c, t = np.broadcast_arrays(
        np.asarray(a, dtype=np.float64),
        np.asarray(b, dtype=np.float64),
        np.asarray(c, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
    )
    rates = np.sort(np.stack([a, b, c], axis=-1), axis=-1)
    x0, x1, x2 = rates[..., 0], rates[..., 1], rates[..., 2]
    u1 = (x1 - x0) * t
    u2 = (x2 - x0) * t
    # Divided difference of exp(-u) at (0, u1, u2), 0 <= u1 <= u2.
    small = u2 <= _SERIES_THRESHOLD
    u2_safe = np.where(small, 1.0, u2)
    recursive = (_first_divided_unit(np.zeros_like(u1), u1) - _first_divided_unit(u1, u2)) / u2_safe
    # Series: Σ_m (-1)^m h_m(u1, u2)/(m+2)!, h_m the complete homogeneous polynomial of degree m.
    series = np.zeros_like(u2)
    h = np.ones_like(u2)
    u1_power = np.ones_like(u1)
    factorial = 2.0
    for m in range(_SERIES_TERMS):
        if m > 0:
            u1_power = u1_power * u1
            h = u2 * h + u1_power
            factorial *= m + 2
        series = series + (-1.0) ** m * h / factorial
    unit = np.where(small, series, recursive)
    return np.asarray(np.exp(-x0 * t) * t * t * unit, dtype=np.float64)


def one_minus_exp(x: FloatArray) -> FloatArray:
    """1 - exp(-x), accurate for small x."""
    return np.asarray(-np.expm1(-x), dtype=np.float64)
