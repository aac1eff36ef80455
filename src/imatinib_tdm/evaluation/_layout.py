"""Where the observations of an event table are, and how they group into sampling occasions.

The arrays follow :class:`~imatinib_tdm.pk.MapProblem`'s layout: ``(n_patients, n_obs)`` with the
observation records of each individual in time order, padded on the right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.pk import EventTable, RecordKind

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = ["DEFAULT_OCCASION_GAP_H", "ObservationLayout", "observation_layout"]

DEFAULT_OCCASION_GAP_H = 24.0
"""Samples closer than this (h) to the previous sample form one occasion (a package convention:
a peak and the following trough of one dosing interval are one visit)."""


@dataclass(frozen=True, eq=False)
class ObservationLayout:
    """Observation records of an event table, ``(n_patients, n_obs)`` arrays.

    Attributes
    ----------
    ids : tuple of str
    time_h : observation times, h
    dv_mg_per_l : observed concentration, mg/L (nan when censored or padding)
    observed : uncensored observation (padding and censored records are False)
    censored : observation below the LLOQ
    occasion : 0-based sampling occasion of each observation (-1 for padding)
    time_after_dose_h : time since the latest dose at or before the observation, h
    """

    ids: tuple[str, ...]
    time_h: FloatArray
    dv_mg_per_l: FloatArray
    observed: BoolArray
    censored: BoolArray
    occasion: IntArray
    time_after_dose_h: FloatArray

    @property
    def n_occasions(self) -> IntArray:
        """Number of sampling occasions of each individual, shape ``(n_patients,)``."""
        return np.asarray(self.occasion.max(axis=1, initial=-1) + 1, dtype=np.int64)


def observation_layout(
    table: EventTable, *, occasion_gap_h: float = DEFAULT_OCCASION_GAP_H
) -> ObservationLayout:
    """Observation arrays and sampling occasions of a table.

    Parameters
    ----------
    table : EventTable
    occasion_gap_h : float, default 24
        When the table's ``occasion`` column does not distinguish the observations (no OCC in
        the data), a new occasion starts at a sample more than this many hours after the
        previous one. With an OCC column, its occasions are used as given.

    Returns
    -------
    ObservationLayout
    """
    is_obs = table.kind == RecordKind.OBSERVATION
    is_dose = table.kind == RecordKind.DOSE
    n_p = table.n_patients
    n_o = max(int(is_obs.sum(axis=1).max(initial=0)), 1)
    times = np.zeros((n_p, n_o))
    dv = np.full((n_p, n_o), np.nan)
    observed = np.zeros((n_p, n_o), dtype=bool)
    censored = np.zeros((n_p, n_o), dtype=bool)
    occasion = np.full((n_p, n_o), -1, dtype=np.int64)
    tad = np.full((n_p, n_o), np.nan)
    use_occ = bool(np.any(table.occasion[is_obs] > 0))
    for p in range(n_p):
        idx = np.flatnonzero(is_obs[p])
        k = idx.size
        if k == 0:
            continue
        t = table.time_h[p, idx]
        times[p, :k] = t
        cens = table.censored[p, idx]
        censored[p, :k] = cens
        observed[p, :k] = ~cens
        dv[p, :k] = np.where(cens, np.nan, table.dv_mg_per_l[p, idx])
        if use_occ:
            # renumber the given occasions 0, 1, ... in order of appearance
            _, occ = np.unique(table.occasion[p, idx], return_inverse=True)
            occasion[p, :k] = occ
        else:
            gaps = np.diff(t, prepend=t[0]) > occasion_gap_h
            occasion[p, :k] = np.cumsum(gaps)
        dose_times = table.time_h[p, is_dose[p]]
        before = dose_times[None, :] <= t[:, None]
        latest = np.where(before, dose_times[None, :], -np.inf).max(axis=1, initial=-np.inf)
        tad[p, :k] = np.where(np.isfinite(latest), t - latest, np.nan)
    return ObservationLayout(
        ids=table.ids,
        time_h=times,
        dv_mg_per_l=dv,
        observed=observed,
        censored=censored,
        occasion=occasion,
        time_after_dose_h=tad,
    )
