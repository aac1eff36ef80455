"""Event tables: dose and observation records of a batch of individuals, NONMEM-like.

An :class:`EventTable` is what estimation and individual prediction consume. It is built from a
NONMEM-format dataset (:mod:`imatinib_tdm.io`) or from a case file (:mod:`imatinib_tdm.pk.inputs`)
and holds, for ``n_patients`` individuals padded to ``n_records`` records each, arrays of shape
``(n_patients, n_records)``.

Conventions
-----------
* Records of an individual are sorted by time; at equal times doses come before observations
  (NONMEM order: a dose and a sample at the same time: the sample sees the dose).
* ``ADDL`` is expanded into explicit dose records by the builders; ``SS`` records are kept
  (``steady_state`` 1 = reset the system to steady state under ``interval_h`` before this dose,
  NONMEM SS=1; 2 = add that steady state to the current state, SS=2).
* Routes: ``ORAL`` goes through the model's own absorption (first order, zero order over D1,
  transit); ``IV_BOLUS`` enters the central compartment at once; ``IV_INFUSION`` enters the
  central compartment at ``rate_mg_per_h``. F and lag apply to ORAL doses only.
* Covariates: ``covariates[name][p, k]`` is the value in force for record k of individual p,
  already resolved by the builder under its documented convention (last value carried forward
  by default; NONMEM's next-record reading as an option). ``nan`` means not known.
* Observations: ``dv_mg_per_l`` in mg/L. A censored observation (below the LLOQ, M3) has
  ``censored`` True, ``lloq_mg_per_l`` set, and its ``dv`` is ignored.
* Padding records (``kind == PAD``) repeat the individual's last time and carry no dose and no
  observation; they let individuals with different designs share one array.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = ["EventTable", "RecordKind", "Route"]


class RecordKind(enum.IntEnum):
    """What a record is (NONMEM EVID 0/1/2 plus padding)."""

    OBSERVATION = 0
    DOSE = 1
    OTHER = 2
    """A record that only carries covariate values (EVID 2, or MDV=1 without a dose)."""
    PAD = 3


class Route(enum.IntEnum):
    """Where a dose enters."""

    ORAL = 0
    IV_BOLUS = 1
    IV_INFUSION = 2


@dataclass(frozen=True, eq=False)
class EventTable:
    """Records of ``n_patients`` individuals, each padded to ``n_records`` (see module notes).

    Attributes
    ----------
    ids : tuple of str, length n_patients
    time_h : ndarray (n_patients, n_records), hours from each individual's time origin
    kind : int ndarray, RecordKind values
    amount_mg : ndarray, dose amount (0 for non-dose records)
    route : int ndarray, Route values (ignored for non-dose records)
    rate_mg_per_h : ndarray, infusion rate for IV_INFUSION (0 otherwise)
    steady_state : int ndarray, 0, 1 (SS=1) or 2 (SS=2)
    interval_h : ndarray, dosing interval of SS records (0 otherwise)
    dv_mg_per_l : ndarray, observed concentration (nan for non-observations)
    censored : bool ndarray, observation below the LLOQ (M3)
    lloq_mg_per_l : ndarray, LLOQ of the observation (nan when unknown)
    occasion : int ndarray, 0-based occasion index for inter-occasion variability
    covariates : mapping name -> ndarray (n_patients, n_records)
    source : str, where the records came from (file name, case id)
    """

    ids: tuple[str, ...]
    time_h: FloatArray
    kind: IntArray
    amount_mg: FloatArray
    route: IntArray
    rate_mg_per_h: FloatArray
    steady_state: IntArray
    interval_h: FloatArray
    dv_mg_per_l: FloatArray
    censored: BoolArray
    lloq_mg_per_l: FloatArray
    occasion: IntArray
    covariates: Mapping[str, FloatArray] = field(default_factory=dict)
    source: str = ""

    @property
    def n_patients(self) -> int:
        """Number of individuals."""
        return int(self.time_h.shape[0])

    @property
    def n_records(self) -> int:
        """Records per individual, padding included."""
        return int(self.time_h.shape[1])

    @property
    def is_observation(self) -> BoolArray:
        """Mask of observation records (censored ones included)."""
        return np.asarray(self.kind == RecordKind.OBSERVATION)

    @property
    def is_dose(self) -> BoolArray:
        """Mask of dose records."""
        return np.asarray(self.kind == RecordKind.DOSE)

    def take(self, rows: NDArray[np.intp]) -> EventTable:
        """The records of a subset of individuals (padding kept)."""
        return EventTable(
            ids=tuple(self.ids[i] for i in rows.tolist()),
            time_h=self.time_h[rows],
            kind=self.kind[rows],
            amount_mg=self.amount_mg[rows],
            route=self.route[rows],
            rate_mg_per_h=self.rate_mg_per_h[rows],
            steady_state=self.steady_state[rows],
            interval_h=self.interval_h[rows],
            dv_mg_per_l=self.dv_mg_per_l[rows],
            censored=self.censored[rows],
            lloq_mg_per_l=self.lloq_mg_per_l[rows],
            occasion=self.occasion[rows],
            covariates={k: v[rows] for k, v in self.covariates.items()},
            source=self.source,
        )
