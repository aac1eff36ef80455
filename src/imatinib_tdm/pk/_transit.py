"""Analytical transit-compartment absorption (Savic et al. 2007).

A dose D passes a chain of ``n + 1`` compartments emptying at ``ktr`` (n may be non-integer) and
enters the depot at the rate ``D·g(t)``, ``g(t) = ktr·(ktr t)^n·exp(-ktr t)/Γ(n+1)``, a gamma
density. The depot then feeds the disposition with first-order rate ``ka``. The response of the
central compartment is a sum of exponentials ``Σ c_i exp(-x_i t)``; each exponential convolved
with ``g`` has the closed form computed by :func:`gamma_exp_convolution`.

Reference: Savic RM, Jonker DM, Kerbusch T, Karlsson MO. Implementation of a transit compartment
model for describing drug absorption in pharmacokinetic studies. J Pharmacokinet Pharmacodyn
2007;34(5):711-726. doi:10.1007/s10928-007-9066-0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

from imatinib_tdm.pk._disposition import Disposition

FloatArray = NDArray[np.float64]

# Rates closer than this (relative) make the partial fractions lose more than ~1e-10 relative
# accuracy; such individuals are computed by ODE integration instead (see _closed_form).
COINCIDENT_RATE_TOLERANCE = 1e-6


def gamma_exp_convolution(
    x: FloatArray, ktr: FloatArray, n: FloatArray, t: FloatArray
) -> FloatArray:
    """∫_0^t g(s)·exp(-x·(t - s)) ds for the transit input density g (see module docstring).

    For ``z = (ktr - x)·t >= 1`` it is ``exp(-x t)·(ktr/(ktr-x))^(n+1)·P(n+1, z)`` with P the
    regularised lower incomplete gamma function; otherwise (including x > ktr) the equivalent
    Kummer form ``(ktr t)^(n+1)·exp(-ktr t)/Γ(n+2)·M(1, n+2, z)``, which stays bounded.
    """
    x, ktr, n, t = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64),
        np.asarray(ktr, dtype=np.float64),
        np.asarray(n, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
    )
    z = (ktr - x) * t
    large = z >= 1.0
    result = np.zeros(z.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if np.any(large):
            xl, kl, nl, tl, zl = x[large], ktr[large], n[large], t[large], z[large]
            log_factor = -xl * tl + (nl + 1.0) * np.log(kl / (kl - xl))
            result[large] = np.exp(log_factor) * special.gammainc(nl + 1.0, zl)
        small = ~large & (t > 0.0)
        if np.any(small):
            ks, ns, ts, zs = ktr[small], n[small], t[small], z[small]
            log_front = (ns + 1.0) * np.log(ks * ts) - ks * ts - special.gammaln(ns + 2.0)
            result[small] = np.exp(log_front) * special.hyp1f1(1.0, ns + 2.0, zs)
    return result


def central_exponentials(
    disp: Disposition, ka: FloatArray
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Rates x_i and coefficients c_i with central amount = Σ c_i·exp(-x_i t) per unit in the depot.

    Partial fractions of ``ka·conv(exp(-ka t), disposition)``; valid when the rates differ (see
    :func:`has_coincident_rates`).
    """
    if disp.n_compartments == 1:
        k = disp.k10
        return [ka, k], [ka / (k - ka), ka / (ka - k)]
    a, b, k21 = disp.alpha, disp.beta, disp.k21
    c_ka = ka * (1.0 / (a - ka) + (k21 - b) / ((a - ka) * (b - ka)))
    c_a = ka * (1.0 / (ka - a) + (k21 - b) / ((ka - a) * (b - a)))
    c_b = ka * (k21 - b) / ((ka - b) * (a - b))
    return [ka, a, b], [c_ka, c_a, c_b]


def has_coincident_rates(disp: Disposition, ka: FloatArray) -> NDArray[np.bool_]:
    """True where two of (ka, disposition rates) agree within COINCIDENT_RATE_TOLERANCE."""
    rates = [ka, disp.alpha] if disp.n_compartments == 1 else [ka, disp.alpha, disp.beta]
    bad = np.zeros(np.broadcast(*rates).shape, dtype=bool)
    for i in range(len(rates)):
        for j in range(i + 1, len(rates)):
            scale = np.maximum(np.abs(rates[i]), np.abs(rates[j]))
            bad |= np.abs(rates[i] - rates[j]) <= COINCIDENT_RATE_TOLERANCE * scale
    return bad


def transit_central_amount(
    disp: Disposition, ka: FloatArray, ktr: FloatArray, n: FloatArray, t: FloatArray
) -> FloatArray:
    """Central amount at ``t`` (h) after one unit dose entering a transit chain (t >= 0)."""
    rates, coefficients = central_exponentials(disp, ka)
    total = np.zeros(np.broadcast(t, ka, ktr, n, disp.alpha).shape)
    for rate, coefficient in zip(rates, coefficients, strict=True):
        total = total + coefficient * gamma_exp_convolution(rate, ktr, n, t)
    return total
