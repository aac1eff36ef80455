"""Posterior model weights from each model's likelihood of the data: the one formula that model
averaging and selection (:mod:`._averaging`) and the E step of the centre prior
(:mod:`._centre_prior`) share."""

from __future__ import annotations

import numpy as np

from imatinib_tdm.evaluation._layout import FloatArray

__all__ = ["likelihood_weights"]


def likelihood_weights(criteria: FloatArray, prior: FloatArray | None = None) -> FloatArray:
    """Normalised weights ``π · exp(−Δ/2)`` from criteria ``(n_obs, n_models)`` (-2 log lik.).

    Parameters
    ----------
    criteria : ndarray (n_obs, n_models)
    prior : ndarray (n_models,) or (n_obs, n_models), optional
        Prior model probabilities (need not be normalised); default equal.

    Models with a non-finite criterion or a prior of 0 get weight 0; a row where no model has
    both is all nan.

    Examples
    --------
    >>> likelihood_weights(np.array([[0.0, 2 * np.log(3.0)]])).round(3).tolist()
    [[0.75, 0.25]]
    >>> likelihood_weights(np.array([[0.0, 2 * np.log(3.0)]]), np.array([0.25, 0.75])).tolist()
    [[0.5, 0.5]]
    """
    crit = np.asarray(criteria, dtype=np.float64)
    finite = np.isfinite(crit)
    if prior is not None:
        pi = np.broadcast_to(np.asarray(prior, dtype=np.float64), crit.shape)
        if np.any(~np.isfinite(pi) | (pi < 0)):
            raise ValueError("prior model probabilities must be finite and >= 0")
        finite = finite & (pi > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        best = np.min(np.where(finite, crit, np.inf), axis=1, keepdims=True)
        raw = np.where(finite, np.exp(-(crit - best) / 2.0), 0.0)
        if prior is not None:
            raw = raw * pi
        total = raw.sum(axis=1, keepdims=True)
        return np.where(total > 0, raw / np.where(total > 0, total, 1.0), np.nan)
