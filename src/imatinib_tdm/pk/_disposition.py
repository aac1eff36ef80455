"""Disposition (central/peripheral) propagators of 1- and 2-compartment linear models.

Everything is expressed through the stable convolutions of :mod:`._kernels`, so the same code
is accurate whether or not the rate constants are close to each other.

State vector: amount in the central compartment ``c`` and (2-compartment) peripheral ``p``, mg.
For a unit input entering the central compartment as ``exp(-x·t)`` (x = ka for a first-order
depot, x = 0 for a constant-rate infusion) the response after ``t`` hours is given by
:func:`input_response`; free decay of a state by :func:`decay`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.pk._kernels import conv2, conv3, one_minus_exp
from imatinib_tdm.pk._structures import PKParameters

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Disposition:
    """Micro-constants of the disposition, arrays broadcastable against time arrays.

    For one compartment only ``k10`` is used (``alpha == k10``); for two, ``alpha`` and ``beta``
    are the hybrid rate constants (alpha >= beta).
    """

    n_compartments: int
    k10: FloatArray
    k12: FloatArray
    k21: FloatArray
    alpha: FloatArray
    beta: FloatArray
    v_l: FloatArray

    def reshape(self, shape: tuple[int, ...]) -> Disposition:
        """The same rates reshaped (e.g. to ``(n_patients, 1)`` for broadcasting over times)."""
        return Disposition(
            self.n_compartments,
            self.k10.reshape(shape),
            self.k12.reshape(shape),
            self.k21.reshape(shape),
            self.alpha.reshape(shape),
            self.beta.reshape(shape),
            self.v_l.reshape(shape),
        )

    def take(self, rows: NDArray[np.intp]) -> Disposition:
        """Rates of a subset of individuals."""
        return Disposition(
            self.n_compartments,
            self.k10[rows],
            self.k12[rows],
            self.k21[rows],
            self.alpha[rows],
            self.beta[rows],
            self.v_l[rows],
        )


def make_disposition(n_compartments: int, params: PKParameters) -> Disposition:
    """Micro-constants from clearances and volumes (shape ``(n_patients,)``)."""
    k10 = params.cl_l_per_h / params.v_l
    if n_compartments == 1:
        zero = np.zeros_like(k10)
        return Disposition(1, k10, zero, zero, k10, k10, params.v_l)
    assert params.q_l_per_h is not None and params.v2_l is not None
    k12 = params.q_l_per_h / params.v_l
    k21 = params.q_l_per_h / params.v2_l
    total = k10 + k12 + k21
    alpha = 0.5 * (total + np.sqrt(total * total - 4.0 * k10 * k21))
    beta = k10 * k21 / alpha  # product of the roots; avoids cancellation in (total - sqrt)/2
    return Disposition(2, k10, k12, k21, alpha, beta, params.v_l)


def input_response(
    disp: Disposition, x: FloatArray, t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(central, peripheral) amounts at ``t`` after an input of rate ``exp(-x·s)`` into central.

    ``x`` (1/h) is the input's decay rate: ka for a first-order depot holding one unit (then
    multiply by ka), 0 for a unit-rate infusion.
    """
    if disp.n_compartments == 1:
        return conv2(x, disp.k10, t), np.zeros(np.broadcast(x, t, disp.k10).shape)
    three = conv3(x, disp.alpha, disp.beta, t)
    central = conv2(x, disp.alpha, t) + (disp.k21 - disp.beta) * three
    return central, disp.k12 * three


def decay(
    disp: Disposition, central: FloatArray, peripheral: FloatArray, t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Free evolution of the (central, peripheral) amounts over ``t`` hours with no input."""
    e_alpha = np.exp(-disp.alpha * t)
    if disp.n_compartments == 1:
        return central * e_alpha, np.zeros(np.broadcast(central, t).shape)
    two = conv2(disp.alpha, disp.beta, t)
    new_central = central * (e_alpha + (disp.k21 - disp.beta) * two) + peripheral * disp.k21 * two
    new_peripheral = central * disp.k12 * two + peripheral * (
        e_alpha + (disp.k10 + disp.k12 - disp.beta) * two
    )
    return new_central, new_peripheral


def solve_periodic(
    disp: Disposition, central: FloatArray, peripheral: FloatArray, tau: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    """Solve ``x = M(tau)·x + v`` for x, where M is the free-decay propagator over ``tau`` hours.

    Used for steady state: ``v`` is what one dosing interval adds, x the periodic state.
    """
    tau = np.asarray(tau, dtype=np.float64)
    if disp.n_compartments == 1:
        return central / one_minus_exp(disp.alpha * tau), np.zeros(np.broadcast(central, tau).shape)
    e_alpha = np.exp(-disp.alpha * tau)
    two = conv2(disp.alpha, disp.beta, tau)
    m_cc = e_alpha + (disp.k21 - disp.beta) * two
    m_pp = e_alpha + (disp.k10 + disp.k12 - disp.beta) * two
    m_cp = disp.k21 * two
    m_pc = disp.k12 * two
    # det(I - M) = (1 - e^{-alpha tau})(1 - e^{-beta tau}): the eigenvalues of M.
    det = one_minus_exp(disp.alpha * tau) * one_minus_exp(disp.beta * tau)
    x_c = ((1.0 - m_pp) * central + m_cp * peripheral) / det
    x_p = (m_pc * central + (1.0 - m_cc) * peripheral) / det
    return x_c, x_p
