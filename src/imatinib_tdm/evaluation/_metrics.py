"""Predictive-performance metrics with their published definitions.

Relative prediction error of observation i (in %)::

    PE_i = (pred_i - obs_i) / obs_i × 100

* **MPE** (relative mean prediction error, bias) = mean(PE_i); **MDPE** = median(PE_i);
* **MAPE** (relative mean absolute prediction error, imprecision) = mean(|PE_i|);
  **MDAPE** = median(|PE_i|);
* **RMSE** (root mean squared error) = sqrt(mean((pred_i - obs_i)²)), in the concentration unit
  (mg/L here); **relative RMSE** = sqrt(mean(PE_i²)) in %;
* **F20**, **F30** = % of observations with |PE_i| ≤ 20% (30%);
* **PI90** = % of observations inside the model's 90% prediction interval (5th-95th percentile
  of simulated observations).

Bias and precision as prediction errors follow Sheiner LB, Beal SL. Some suggestions for
measuring predictive performance. J Pharmacokinet Biopharm 1981;9(4):503-512; the relative
(percentage) forms, medians and F20/F30 are those used by the imatinib external evaluations
(Corral Alaejos 2022, Br J Clin Pharmacol 88(4):1913-24, doi:10.1111/bcp.15122; Dilli Batcha
2024, Cancer Chemother Pharmacol, which reports relative MPE and MdAPE; Yang 2025, Target Oncol,
doi:10.1007/s11523-025-01172-2, "% within ±20/30%" — reference KB ``imatinib_popk_models.md``
and ``imatinib_clinical_kb.md`` §2f).
Censored observations and observations without a prediction are left out (``n`` says how
many were used).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PredictionMetrics", "prediction_metrics", "relative_errors"]


@dataclass(frozen=True)
class PredictionMetrics:
    """Metrics of one set of predictions (percent unless stated).

    Attributes
    ----------
    n : int, observations used
    mpe, mdpe : relative bias, mean and median, %
    mape, mdape : relative imprecision, mean and median of absolute errors, %
    rmse_mg_per_l : root mean squared error, mg/L
    relative_rmse : sqrt(mean(PE²)), %
    f20, f30 : % with |PE| ≤ 20% / 30%
    pi90 : % inside the 90% prediction interval (nan when not computed)
    """

    n: int
    mpe: float
    mdpe: float
    mape: float
    mdape: float
    rmse_mg_per_l: float
    relative_rmse: float
    f20: float
    f30: float
    pi90: float = float("nan")

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready values (nan stays nan: the caller chooses how to encode it)."""
        return asdict(self)


def relative_errors(predicted: ArrayLike, observed: ArrayLike) -> np.ndarray:
    """``(pred - obs) / obs × 100`` element-wise (%); nan where either is missing or obs ≤ 0."""
    pred = np.asarray(predicted, dtype=np.float64)
    obs = np.asarray(observed, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (pred - obs) / obs * 100.0
    return np.where(np.isfinite(out) & (obs > 0), out, np.nan)


def prediction_metrics(
    predicted: ArrayLike,
    observed: ArrayLike,
    *,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
) -> PredictionMetrics:
    """Bias, precision, RMSE, F20, F30 and PI coverage of predictions against observations.

    Parameters
    ----------
    predicted, observed : array-like, same shape, mg/L (any one unit)
    lower, upper : array-like, optional
        The 90% prediction interval of each observation; gives ``pi90``.

    Returns
    -------
    PredictionMetrics
        All nan (and ``n`` 0) when no pair is usable.

    Examples
    --------
    >>> m = prediction_metrics([1.1, 0.8], [1.0, 1.0])
    >>> round(m.mpe, 6), round(m.mape, 6), m.f20
    (-5.0, 15.0, 100.0)
    """
    pred = np.asarray(predicted, dtype=np.float64).ravel()
    obs = np.asarray(observed, dtype=np.float64).ravel()
    pe = relative_errors(pred, obs)
    use = np.isfinite(pe)
    n = int(use.sum())
    nan = float("nan")
    if n == 0:
        return PredictionMetrics(0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    e = pe[use]
    ae = np.abs(e)
    pi90 = nan
    if lower is not None and upper is not None:
        lo = np.asarray(lower, dtype=np.float64).ravel()[use]
        hi = np.asarray(upper, dtype=np.float64).ravel()[use]
        o = obs[use]
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            pi90 = float(np.mean((o[ok] >= lo[ok]) & (o[ok] <= hi[ok])) * 100.0)
    return PredictionMetrics(
        n=n,
        mpe=float(e.mean()),
        mdpe=float(np.median(e)),
        mape=float(ae.mean()),
        mdape=float(np.median(ae)),
        rmse_mg_per_l=float(np.sqrt(np.mean((pred[use] - obs[use]) ** 2))),
        relative_rmse=float(np.sqrt(np.mean(e**2))),
        f20=float(np.mean(ae <= 20.0) * 100.0),
        f30=float(np.mean(ae <= 30.0) * 100.0),
        pi90=pi90,
    )
