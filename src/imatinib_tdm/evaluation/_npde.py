"""Simulation-based diagnostics: 90% prediction intervals, NPDE and prediction-corrected VPC.

All three come from the same replicates of the dataset's design simulated from the model's own
variability (:func:`~imatinib_tdm.evaluation._simulate.simulate_replicates`, fixed seed).

* **NPDE** (normalised prediction distribution errors; Brendel K et al., Pharm Res
  2006;23(9):2036-49; Comets E, Brendel K, Mentré F, Comput Methods Programs Biomed
  2008;90(2):154-66): per patient, the simulated vectors and the observed vector are
  decorrelated with the Cholesky factor of the simulated covariance (centred on the simulated
  mean); pde = share of decorrelated simulated values below the decorrelated observation,
  clipped to [1/(2K), 1 - 1/(2K)] for K replicates; npde = Φ⁻¹(pde). Under the model, npde ~
  N(0, 1). Censored observations get no npde (nan) and are left out of the decorrelation.
* **pcVPC** (Bergstrand M, Hooker AC, Wallin JE, Karlsson MO, AAPS J 2011;13(2):143-51):
  observed and simulated values are multiplied by PRED_bin / PRED (median population prediction
  of the bin over the observation's population prediction); bins are quantiles of the time
  after the last dose; per bin the 5th, 50th and 95th percentiles of the observed values and, for
  the simulated ones, the median and 90% interval over replicates of each percentile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from imatinib_tdm.evaluation._layout import BoolArray, FloatArray

__all__ = ["VpcData", "npde", "pcvpc", "prediction_interval"]

VPC_PERCENTILES = (5.0, 50.0, 95.0)


def prediction_interval(
    replicates: FloatArray, *, level: float = 0.9
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bounds of the central ``level`` interval over replicates (axis 0)."""
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail], axis=0)
    return np.asarray(low), np.asarray(high)


def npde(replicates: FloatArray, observed: FloatArray, mask: BoolArray) -> FloatArray:
    """Decorrelated NPDE of every observation, ``(n_patients, n_obs)`` (nan where not ``mask``).

    Parameters
    ----------
    replicates : ndarray (K, n_patients, n_obs)
        Simulated observations (with residual error), same unit as ``observed``.
    observed : ndarray (n_patients, n_obs)
    mask : bool ndarray (n_patients, n_obs)
        Uncensored observations to use.
    """
    k, _, n_o = replicates.shape
    sims = np.where(mask[None], replicates, 0.0)
    obs = np.where(mask, observed, 0.0)
    mean = sims.mean(axis=0)
    centred = sims - mean[None]
    cov = np.einsum("kpi,kpj->pij", centred, centred) / max(k - 1, 1)
    eye = np.eye(n_o)
    pair = mask[:, :, None] & mask[:, None, :]
    # unused columns become independent unit variables so that the batch stays invertible
    cov = np.where(pair, cov, eye[None])
    cov = (
        cov
        + eye[None]
        * 1e-12
        * np.maximum(np.abs(np.diagonal(cov, axis1=1, axis2=2)).max(axis=1), 1.0)[:, None, None]
    )
    chol = np.linalg.cholesky(cov)
    obs_dec = np.linalg.solve(chol, (obs - mean)[..., None])[..., 0]
    sims_dec = np.linalg.solve(chol[None], centred[..., None])[..., 0]
    pde = (sims_dec < obs_dec[None]).mean(axis=0)
    pde = np.clip(pde, 1.0 / (2 * k), 1.0 - 1.0 / (2 * k))
    return np.where(mask, special.ndtri(pde), np.nan)


@dataclass(frozen=True, eq=False)
class VpcData:
    """Prediction-corrected VPC summary (concentrations in mg/L, prediction-corrected).

    Attributes
    ----------
    bin_edges_h : ndarray (n_bins + 1,), time after dose
    bin_centre_h : ndarray (n_bins,), median time after dose of the bin's observations
    observed : ndarray (n_bins, 3), observed 5th/50th/95th percentiles
    simulated_median, simulated_low, simulated_high : ndarray (n_bins, 3)
        Median and 5th/95th percentile over replicates of each simulated percentile.
    n_obs : int ndarray (n_bins,)
    """

    bin_edges_h: FloatArray
    bin_centre_h: FloatArray
    observed: FloatArray
    simulated_median: FloatArray
    simulated_low: FloatArray
    simulated_high: FloatArray
    n_obs: NDArray[np.int64]


def pcvpc(
    time_after_dose_h: FloatArray,
    observed: FloatArray,
    population: FloatArray,
    replicates: FloatArray,
    *,
    n_bins: int = 6,
) -> VpcData:
    """pcVPC data from flat observations and their replicates ``(K, n_obs)``.

    Observations without a finite value, population prediction or time after dose are left out.
    """
    use = np.isfinite(observed) & np.isfinite(population) & (population > 0)
    use &= np.isfinite(time_after_dose_h)
    tad, obs, pred, sims = (
        time_after_dose_h[use],
        observed[use],
        population[use],
        replicates[:, use],
    )
    if tad.size == 0:
        empty = np.zeros((0, 3))
        return VpcData(np.zeros(1), np.zeros(0), empty, empty, empty, empty, np.zeros(0, np.int64))
    edges = np.unique(np.quantile(tad, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([tad.min(), tad.max() + 1e-9])
    which = np.clip(np.searchsorted(edges, tad, side="right") - 1, 0, edges.size - 2)
    nb = edges.size - 1
    centre = np.full(nb, np.nan)
    obs_pct = np.full((nb, 3), np.nan)
    sim_med = np.full((nb, 3), np.nan)
    sim_lo = np.full((nb, 3), np.nan)
    sim_hi = np.full((nb, 3), np.nan)
    counts = np.zeros(nb, np.int64)
    for b in range(nb):
        in_bin = which == b
        counts[b] = int(in_bin.sum())
        if not counts[b]:
            continue
        factor = np.median(pred[in_bin]) / pred[in_bin]
        centre[b] = np.median(tad[in_bin])
        obs_pct[b] = np.percentile(obs[in_bin] * factor, VPC_PERCENTILES)
        sim_pct = np.percentile(sims[:, in_bin] * factor[None], VPC_PERCENTILES, axis=1).T
        sim_med[b] = np.median(sim_pct, axis=0)
        sim_lo[b], sim_hi[b] = np.percentile(sim_pct, [5.0, 95.0], axis=0)
    return VpcData(edges, centre, obs_pct, sim_med, sim_lo, sim_hi, counts)
