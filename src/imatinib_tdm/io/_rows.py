"""Meaning and validation of the rows of a NONMEM dataset, and ADDL expansion.

Turns the numeric columns into one list of :class:`~imatinib_tdm.io._records.Record` per
individual (EVID derivation, dose route and rate from CMT/RATE, SS/II/ADDL, resets, BLQ/LLOQ
censoring, observation checks), collecting every offending row into one
:class:`~imatinib_tdm.io._parse.Problems`, and the warnings into a list. Imports errors and the pk
value types.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import CaseError
from imatinib_tdm.io._parse import Problems, format_rows, rows_where
from imatinib_tdm.io._records import Record
from imatinib_tdm.pk._events import RecordKind, Route

OCC_COLUMN = "OCC"
_CENTRAL_ROUTES = (Route.IV_BOLUS, Route.IV_INFUSION)


@dataclass(frozen=True)
class DatasetWarning:
    """Something in a dataset that was accepted but must not pass unnoticed.

    Attributes
    ----------
    code : str
        ``censored_without_flag``, ``blq_flag_not_observation``, ``observation_before_dose``,
        ``covariate_filled_backward`` or ``covariate_filled_forward``.
    message : str
        What was found and how it was read.
    rows : tuple of int
        1-based data rows concerned.
    """

    code: str
    message: str
    rows: tuple[int, ...]


def _integers(values: NDArray[np.float64], column: str, problems: Problems) -> None:
    given = ~np.isnan(values)
    problems.check(
        rows_where(given & (values != np.round(values))), column, f"{column} must be an integer"
    )


@dataclass
class Columns:
    """The numeric columns of a dataset (nan where missing), one entry per data row."""

    ids: list[str]
    time: NDArray[np.float64]
    evid: NDArray[np.float64]
    amt: NDArray[np.float64]
    cmt: NDArray[np.float64]
    ii: NDArray[np.float64]
    addl: NDArray[np.float64]
    ss: NDArray[np.float64]
    rate: NDArray[np.float64]
    dv: NDArray[np.float64]
    mdv: NDArray[np.float64]
    occ: NDArray[np.float64] | None
    blq: NDArray[np.float64]
    lloq: NDArray[np.float64]
    covariates: dict[str, NDArray[np.float64]]


def derive_evid(c: Columns, problems: Problems) -> NDArray[np.int64]:
    """EVID as given, else NM-TRAN's: 1 when AMT > 0, 2 when MDV = 1, else 0."""
    amt = np.nan_to_num(c.amt)
    derived = np.where(amt > 0, 1.0, np.where(c.mdv == 1, 2.0, 0.0))
    evid = np.where(np.isnan(c.evid), derived, c.evid)
    problems.check(
        rows_where(~np.isin(evid, [0, 1, 2, 3, 4])), "EVID", "EVID must be 0, 1, 2, 3 or 4"
    )
    return np.where(np.isin(evid, [0, 1, 2, 3, 4]), evid, 2).astype(np.int64)


def check_rows(c: Columns, evid: NDArray[np.int64], problems: Problems) -> None:
    """Row-wise checks that need no knowledge of the other rows."""
    for name, values in (("EVID", c.evid), ("MDV", c.mdv), ("CMT", c.cmt), ("SS", c.ss)):
        _integers(values, name, problems)
    _integers(c.addl, "ADDL", problems)
    _integers(c.blq, "BLQ", problems)
    if c.occ is not None:
        _integers(c.occ, OCC_COLUMN, problems)
        problems.check(rows_where(c.occ < 1), OCC_COLUMN, "OCC must be >= 1 (1-based occasions)")
    problems.check(rows_where(c.time < 0), "TIME", "TIME is negative")
    problems.check(rows_where(c.amt < 0), "AMT", "AMT is negative")
    problems.check(rows_where(c.ii < 0), "II", "II is negative")
    problems.check(rows_where(c.addl < 0), "ADDL", "ADDL is negative")
    problems.check(rows_where(~np.isin(c.mdv, [0, 1]) & ~np.isnan(c.mdv)), "MDV", "MDV must be 0/1")
    problems.check(
        rows_where((evid != 0) & (c.mdv == 0)),
        "MDV",
        "MDV=0 on a dose or other-type record (EVID 1-4); only observations have MDV=0",
    )
    non_dose = (evid == 0) | (evid == 2) | (evid == 3)
    problems.check(
        rows_where(non_dose & (np.nan_to_num(c.amt) > 0)),
        "AMT",
        "AMT > 0 on a record that is not a dose (EVID 0, 2 or 3); set EVID=1 or AMT=0",
    )
    problems.check(rows_where(~np.isin(c.blq, [0, 1]) & ~np.isnan(c.blq)), "BLQ", "BLQ must be 0/1")
    problems.check(rows_where(c.lloq <= 0), "LLOQ", "LLOQ must be > 0")


def _dose_fields(
    c: Columns,
    i: int,
    routes: Mapping[int, Route],
    bad: dict[str, list[int]],
) -> tuple[Route, float]:
    """Route and infusion rate (mg/h) of the dose on row index i; problems go to ``bad``."""
    row = i + 1
    cmt = 1 if math.isnan(c.cmt[i]) or c.cmt[i] == 0 else int(c.cmt[i])
    rate = 0.0 if math.isnan(c.rate[i]) else float(c.rate[i])
    if cmt not in routes:
        bad["cmt"].append(row)
        return Route.ORAL, 0.0
    depot = routes[cmt] == Route.ORAL
    if rate > 0:
        if depot:
            bad["rate_oral"].append(row)
        elif np.nan_to_num(c.amt[i]) == 0:
            bad["rate_no_amount"].append(row)
        return Route.IV_INFUSION, rate
    if rate in (-1.0, -2.0):
        if not depot:
            bad["modelled_central"].append(row)
        return Route.ORAL, 0.0
    if rate < 0:
        bad["rate_value"].append(row)
    return (Route.ORAL if depot else Route.IV_BOLUS), 0.0


_DOSE_MESSAGES = {
    "cmt": "the dose compartment (CMT) is not in the compartment-route mapping ({routes}); "
    "pass cmt_routes",
    "rate_oral": "RATE > 0 into the oral (depot) compartment; an infusion goes to the central "
    "compartment",
    "rate_no_amount": "RATE > 0 with AMT 0 (a constant steady-state infusion is not supported)",
    "modelled_central": "RATE=-1/-2 (modelled rate or duration) is only supported for the oral "
    "compartment, whose zero-order absorption the model defines",
    "rate_value": "RATE must be >= 0, -1 (modelled rate) or -2 (modelled duration)",
    "ss_value": "SS must be 0, 1 or 2",
    "ss_interval": "SS=1/2 needs II > 0 (a constant steady-state infusion, II=0, is not supported)",
    "addl_interval": "ADDL > 0 needs II > 0",
    "reset": "EVID 3/4 (reset) after a dose is not supported unless it is an EVID 4 steady-state "
    "dose (SS=1/2, which resets anyway); split the individual or use SS=1",
    "obs_cmt": "observation in a compartment that is not the central one ({routes})",
    "obs_before_dose": "observation before the first dose of its ID",
    "no_dose": "ID has no dose record",
    "dv_missing": "DV is missing on an observation (MDV=0) that is not flagged BLQ",
    "dv_negative": "DV is negative (log-transformed DV is not supported; give concentrations)",
    "blq_no_lloq": "BLQ=1 but the LLOQ is unknown (no LLOQ value and no DV to read it from)",
    "time_order": "TIME decreases within an ID (TIME must be non-decreasing per individual)",
    "id_blocks": "the ID appears again after other IDs (rows of an individual must be contiguous)",
    "addl_reset": "additional doses (ADDL) of an earlier row are still pending at a reset "
    "(SS=1 or EVID 4) dose; write them as explicit dose rows up to the reset",
}


@dataclass
class _Individual:
    id: str
    records: list[Record]
    occasion_known: bool


def build_individuals(
    c: Columns,
    evid: NDArray[np.int64],
    routes: Mapping[int, Route],
    value_names: Sequence[str],
    problems: Problems,
    notes: list[DatasetWarning],
) -> list[_Individual]:
    bad: dict[str, list[int]] = {key: [] for key in _DOSE_MESSAGES}
    order: list[str] = []
    blocks: dict[str, list[int]] = {}
    for i, pid in enumerate(c.ids):
        if pid in blocks and c.ids[i - 1] != pid:
            bad["id_blocks"].append(i + 1)
        if pid not in blocks:
            order.append(pid)
            blocks[pid] = []
        blocks[pid].append(i)
    value_columns = [c.covariates[name] for name in value_names if name != OCC_COLUMN]
    if c.occ is not None:
        value_columns.append(c.occ)
    censored_unflagged: list[int] = []
    blq_elsewhere: list[int] = []
    obs_first: list[int] = []
    individuals = []
    for pid in order:
        rows = blocks[pid]
        records: list[tuple[tuple[float, int, int, int], Record]] = []
        seen_dose = False
        pending_until = -math.inf  # last implied dose time of earlier rows
        first_dose = math.inf
        previous_time = -math.inf
        for i in rows:
            row = i + 1
            if c.time[i] < previous_time:
                bad["time_order"].append(row)
            previous_time = max(previous_time, float(c.time[i]))
            values = tuple(float(column[i]) for column in value_columns)
            kind_code = int(evid[i])
            ss = 0 if math.isnan(c.ss[i]) else int(c.ss[i])
            if kind_code == 3:
                if seen_dose:
                    bad["reset"].append(row)
                kind_code = 2  # a reset before any dose changes nothing
            elif kind_code == 4:
                if seen_dose and ss == 0:
                    bad["reset"].append(row)
                elif seen_dose:
                    ss = 1  # reset, then a steady state (SS=1 or 2): the same as SS=1
                kind_code = 1
            is_obs = kind_code == 0 and c.mdv[i] != 1
            if c.blq[i] == 1 and not is_obs:
                blq_elsewhere.append(row)
            if kind_code == 1:
                record, ii, addl = _dose_record(c, i, ss, routes, bad, values)
                if record.steady_state == 1 and pending_until >= record.time_h:
                    bad["addl_reset"].append(row)
                first_dose = min(first_dose, record.time_h)
                seen_dose = True
                records.append(((record.time_h, 0, i, 0), record))
                for j in range(1, addl + 1 if ii > 0 else 1):
                    implied = Record(
                        row=row,
                        time_h=record.time_h + j * ii,
                        kind=RecordKind.DOSE,
                        implied=True,
                        amount_mg=record.amount_mg,
                        route=record.route,
                        rate_mg_per_h=record.rate_mg_per_h,
                        values=tuple(math.nan for _ in values),
                    )
                    records.append(((implied.time_h, 0, i, j), implied))
                    pending_until = max(pending_until, implied.time_h)
            elif is_obs:
                record = _observation_record(c, i, routes, bad, values, censored_unflagged)
                same_time_dose_after = any(
                    k > i and c.time[k] == c.time[i] and evid[k] in (1, 4) for k in rows
                )
                if same_time_dose_after:
                    obs_first.append(row)
                records.append(((record.time_h, 1, i, 0), record))
            else:
                record = Record(
                    row=row, time_h=float(c.time[i]), kind=RecordKind.OTHER, values=values
                )
                records.append(((record.time_h, 1, i, 0), record))
        if not seen_dose:
            bad["no_dose"].append(rows[0] + 1)
        bad["obs_before_dose"] += [
            record.row
            for _, record in records
            if record.kind == RecordKind.OBSERVATION and seen_dose and record.time_h < first_dose
        ]
        records.sort(key=lambda item: item[0])
        individuals.append(_Individual(pid, [record for _, record in records], c.occ is not None))
    route_text = ", ".join(f"CMT {k} = {v.name}" for k, v in sorted(routes.items()))
    for key, message in _DOSE_MESSAGES.items():
        problems.check(bad[key], key.upper(), message.format(routes=route_text))
    if censored_unflagged:
        notes.append(
            DatasetWarning(
                "censored_without_flag",
                f"{format_rows(censored_unflagged)}: DV below the LLOQ without a BLQ flag; read "
                "as censored (M3), the reported DV is not used",
                tuple(censored_unflagged),
            )
        )
    if blq_elsewhere:
        notes.append(
            DatasetWarning(
                "blq_flag_not_observation",
                f"{format_rows(blq_elsewhere)}: BLQ=1 on a record that is not an observation "
                "(MDV=1 or EVID != 0); as in NONMEM it is not used. Set MDV=0 to use it as "
                "a censored observation (M3)",
                tuple(blq_elsewhere),
            )
        )
    if obs_first:
        notes.append(
            DatasetWarning(
                "observation_before_dose",
                f"{format_rows(obs_first)}: an observation is listed before a dose at the same "
                "time; the dose is applied first (the observation sees it), whereas NONMEM, "
                "following file order, would not",
                tuple(obs_first),
            )
        )
    return individuals


def _dose_record(
    c: Columns,
    i: int,
    ss: int,
    routes: Mapping[int, Route],
    bad: dict[str, list[int]],
    values: tuple[float, ...],
) -> tuple[Record, float, int]:
    """The dose record of row index i, its II (h) and ADDL; II is kept only on SS doses."""
    row = i + 1
    route, rate = _dose_fields(c, i, routes, bad)
    ii = 0.0 if math.isnan(c.ii[i]) else float(c.ii[i])
    addl = 0 if math.isnan(c.addl[i]) else int(c.addl[i])
    if ss not in (0, 1, 2):
        bad["ss_value"].append(row)
        ss = 0
    if ss and ii <= 0:
        bad["ss_interval"].append(row)
    if addl > 0 and ii <= 0:
        bad["addl_interval"].append(row)
    record = Record(
        row=row,
        time_h=float(c.time[i]),
        kind=RecordKind.DOSE,
        amount_mg=float(np.nan_to_num(c.amt[i])),
        route=int(route),
        rate_mg_per_h=rate,
        steady_state=ss,
        interval_h=ii if ss else 0.0,
        values=values,
    )
    return record, ii, addl


def _observation_record(
    c: Columns,
    i: int,
    routes: Mapping[int, Route],
    bad: dict[str, list[int]],
    values: tuple[float, ...],
    censored_unflagged: list[int],
) -> Record:
    row = i + 1
    cmt = 0 if math.isnan(c.cmt[i]) else int(c.cmt[i])
    if cmt != 0 and routes.get(cmt) not in _CENTRAL_ROUTES:
        bad["obs_cmt"].append(row)
    dv, lloq = float(c.dv[i]), float(c.lloq[i])
    censored = c.blq[i] == 1
    if censored and math.isnan(lloq):
        if math.isnan(dv) or dv <= 0:
            bad["blq_no_lloq"].append(row)
        lloq = dv  # M3 datasets often carry the LLOQ in DV on BLQ rows
    elif not censored:
        if math.isnan(dv):
            bad["dv_missing"].append(row)
        elif not math.isnan(lloq) and dv < lloq:
            censored = True
            censored_unflagged.append(row)
    if dv < 0:
        bad["dv_negative"].append(row)
    return Record(
        row=row,
        time_h=float(c.time[i]),
        kind=RecordKind.OBSERVATION,
        dv=dv,
        censored=bool(censored),
        lloq=lloq,
        values=values,
    )


def check_whole_id_missing(individuals: Sequence[_Individual], value_names: Sequence[str]) -> None:
    missing: dict[str, list[str]] = {}
    for individual in individuals:
        for j, name in enumerate(value_names):
            if all(math.isnan(r.values[j]) for r in individual.records if not r.implied):
                missing.setdefault(name, []).append(individual.id)
    if missing:
        lines = [
            f"{name} is missing on every row of ID(s) {', '.join(ids)}"
            for name, ids in missing.items()
        ]
        raise CaseError(
            "covariate values missing for whole individuals: " + "; ".join(lines),
            field=next(iter(missing)),
            missing={name: ids for name, ids in missing.items()},
        )
