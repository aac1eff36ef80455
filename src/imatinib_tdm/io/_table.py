"""Assembling resolved records of several individuals into a padded EventTable."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imatinib_tdm.io._records import Record
from imatinib_tdm.pk._events import EventTable, RecordKind
from imatinib_tdm.units import ConcentrationUnit, convert_concentration


def records_to_table(
    ids: Sequence[str],
    individuals: Sequence[Sequence[Record]],
    covariate_names: Sequence[str],
    occasion_index: int | None,
    dv_unit: ConcentrationUnit,
    source: str,
) -> EventTable:
    """Pad every individual to the longest and stack the records into arrays.

    Parameters
    ----------
    ids : sequence of str, length n_patients
    individuals : sequence of sequences of Record
        Resolved records (``values`` hold the stored covariate values, then the 1-based occasion
        at ``occasion_index`` when there is one), in EventTable order.
    covariate_names : sequence of str
        Names of the first ``len(covariate_names)`` entries of each record's ``values``.
    occasion_index : int or None
        Position of the 1-based occasion in ``values``; None: every record is occasion 0.
    dv_unit : ConcentrationUnit
        Unit of ``dv`` and ``lloq`` in the records; the table holds mg/L.
    source : str

    Notes
    -----
    Padding records repeat the individual's last time, carry no dose or observation, and keep
    the last record's covariate values and occasion (so a reader of any record finds values).
    """
    n_patients = len(individuals)
    n_records = max(len(records) for records in individuals)
    shape = (n_patients, n_records)
    time_h = np.zeros(shape)
    kind = np.full(shape, int(RecordKind.PAD), dtype=np.int64)
    amount_mg = np.zeros(shape)
    route = np.zeros(shape, dtype=np.int64)
    rate = np.zeros(shape)
    steady_state = np.zeros(shape, dtype=np.int64)
    interval_h = np.zeros(shape)
    dv = np.full(shape, np.nan)
    censored = np.zeros(shape, dtype=np.bool_)
    lloq = np.full(shape, np.nan)
    occasion = np.zeros(shape, dtype=np.int64)
    covariates = {name: np.full(shape, np.nan) for name in covariate_names}
    for p, records in enumerate(individuals):
        for k in range(n_records):
            record = records[min(k, len(records) - 1)]
            time_h[p, k] = record.time_h
            for j, name in enumerate(covariate_names):
                covariates[name][p, k] = record.values[j]
            if occasion_index is not None:
                occasion[p, k] = int(record.values[occasion_index]) - 1
            if k >= len(records):
                continue
            kind[p, k] = int(record.kind)
            amount_mg[p, k] = record.amount_mg
            route[p, k] = record.route
            rate[p, k] = record.rate_mg_per_h
            steady_state[p, k] = record.steady_state
            interval_h[p, k] = record.interval_h
            dv[p, k] = record.dv
            censored[p, k] = record.censored
            lloq[p, k] = record.lloq
    return EventTable(
        ids=tuple(ids),
        time_h=time_h,
        kind=kind,
        amount_mg=amount_mg,
        route=route,
        rate_mg_per_h=rate,
        steady_state=steady_state,
        interval_h=interval_h,
        dv_mg_per_l=convert_concentration(dv, dv_unit, ConcentrationUnit.MG_PER_L),
        censored=censored,
        lloq_mg_per_l=convert_concentration(lloq, dv_unit, ConcentrationUnit.MG_PER_L),
        occasion=occasion,
        covariates=covariates,
        source=source,
    )
