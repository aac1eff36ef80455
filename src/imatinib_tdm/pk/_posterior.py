"""Posterior uncertainty of individual random effects: Laplace and importance resampling.

The Laplace approximation is the normal distribution centred at the MAP estimate with the
inverse of half the objective's Hessian as covariance (it comes with :class:`MapResult`).
Sampling-importance-resampling (SIR) corrects it: proposals from a multivariate Student t
(5 degrees of freedom, covariance inflated 1.5²) around the mode are weighted by
posterior / proposal and resampled. The effective sample size is reported; a small one means
the intervals are rough (more proposals help).

Reference: Rubin DB. Using the SIR algorithm to simulate posterior distributions. In: Bayesian
Statistics 3. Oxford University Press; 1988:395-402.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.pk._map import MapProblem, MapResult, objective

FloatArray = NDArray[np.float64]

__all__ = ["PosteriorSample", "sample_posterior"]

_T_DF = 5.0
_INFLATION = 1.5


@dataclass(frozen=True, eq=False)
class PosteriorSample:
    """Draws of the random effects from each individual's posterior.

    Attributes
    ----------
    effect_names : tuple of str
    draws : ndarray (n_patients, n_draws, n_effects)
        Equally weighted draws (after resampling).
    effective_sample_size : ndarray (n_patients,)
        Kish ESS of the importance weights, out of ``n_proposals``.
    n_proposals : int
    seed : int
    method : str
    """

    effect_names: tuple[str, ...]
    draws: FloatArray
    effective_sample_size: FloatArray
    n_proposals: int
    seed: int
    method: str = "sampling-importance-resampling (multivariate t proposal)"


def _log_sum_exp_rows(values: np.ndarray) -> np.ndarray:
    """``log Σ exp`` of each row (kept as a column), shifted by the row maximum for range.

    The textbook formula rather than ``scipy.special.logsumexp``, whose generality (signs,
    weights, complex input) cost ~0.3 ms per interpretation; equal to it to rounding (tested).
    """
    top = np.max(values, axis=1, keepdims=True)
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        total: np.ndarray = np.log(np.sum(np.exp(values - shift), axis=1, keepdims=True))
    return total + shift


def sample_posterior(
    problem: MapProblem,
    result: MapResult,
    *,
    n_draws: int = 1000,
    n_proposals: int = 4000,
    seed: int = 1,
) -> PosteriorSample:
    """Posterior draws of every individual's random effects by SIR around the MAP estimate.

    Parameters
    ----------
    problem : MapProblem
        The problem the result was estimated on.
    result : MapResult
    n_draws : int, default 1000
        Draws kept per individual (resampled with replacement).
    n_proposals : int, default 4000
        Proposals per individual.
    seed : int
        The same seed gives the same draws.
    """
    rng = np.random.default_rng(seed)
    n_p, k = result.etas.shape
    if k == 0:
        return PosteriorSample(
            result.effect_names,
            np.zeros((n_p, n_draws, 0)),
            np.full(n_p, float(n_proposals)),
            n_proposals,
            seed,
        )
    scale = result.covariance.copy()
    bad = ~np.all(np.isfinite(scale), axis=(1, 2))
    scale[bad] = problem.omega  # no usable Laplace covariance: propose from the prior's shape
    scale = scale * _INFLATION**2
    chol = np.linalg.cholesky(scale)
    z = rng.standard_normal((n_p, n_proposals, k))
    chi = rng.chisquare(_T_DF, size=(n_p, n_proposals, 1))
    offsets = np.einsum("pij,pnj->pni", chol, z) * np.sqrt(_T_DF / chi)
    proposals = result.etas[:, None, :] + offsets
    rows = np.repeat(np.arange(n_p), n_proposals)
    ofv = objective(problem, proposals.reshape(-1, k), rows).reshape(n_p, n_proposals)
    log_target = -0.5 * ofv
    # multivariate t log density up to a constant shared by all proposals of an individual;
    # the Mahalanobis distance of offset = L·z·sqrt(df/chi) is |z|²·df/chi exactly, which spares
    # a triangular solve per proposal (equal to it up to rounding, ~1e-15 relative)
    maha = np.sum(z**2, axis=-1) * (_T_DF / chi[..., 0])
    log_proposal = -0.5 * (_T_DF + k) * np.log1p(maha / _T_DF)
    log_weight = log_target - log_proposal
    log_weight = np.where(np.isfinite(log_weight), log_weight, -np.inf)
    log_weight -= _log_sum_exp_rows(log_weight)
    weights = np.exp(log_weight)
    ess = 1.0 / np.sum(weights**2, axis=1)
    draws = np.empty((n_p, n_draws, k))
    for p in range(n_p):
        chosen = rng.choice(n_proposals, size=n_draws, replace=True, p=weights[p])
        draws[p] = proposals[p, chosen]
    return PosteriorSample(result.effect_names, draws, ess, n_proposals, seed)
