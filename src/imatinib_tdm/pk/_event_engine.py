"""Exact record-by-record predictions on an event table, with parameters that change per record.

:func:`predict_event_table` propagates the amounts of a linear 1- or 2-compartment model through
the records of an :class:`~imatinib_tdm.pk._events.EventTable` with the closed-form propagators of
:mod:`._disposition` (no numerical integration), vectorised over individuals: the only Python
loop runs over the (sorted) event index. The parameters are given per record
(:class:`RecordParameters`), so time-varying covariates and inter-occasion variability are exact.

Semantics
---------
* **Parameters.** ``params.X[p, k]`` is the value of parameter X evaluated from the covariates
  and random effects (occasion kappas included) stored on record k of individual p. The interval
  from record k to record k+1 is propagated with the parameters of record k (the io convention:
  the value stored on record k applies at record k and until the next record). Padding records
  (``PAD``) take the parameters of the individual's last real record; their own values are
  ignored (they may be nan).
* **State.** Amount in the depot (first-order absorption), central and peripheral compartments
  (mg), plus the total rate (mg/h) of the constant-rate inputs in progress (zero-order
  absorption, IV infusions). All amounts are continuous across a parameter change; only the
  rates of change follow the new parameters.
* **Concentration at record k** = central amount / ``v_l`` of record k (mg/L), after every
  record that comes before it in the table and after its own dose (a dose record reports the
  concentration just after its dose: an IV bolus is included, an oral or infusion dose adds
  nothing at its own time). Padding records give nan.
* **Doses** (``kind == DOSE``), with the parameters of the dose record k:

  - ``ORAL``, first-order absorption: ``F·amt`` enters the depot at ``t_k + tlag``;
  - ``ORAL``, zero-order absorption: rate ``F·amt/D1`` into the central compartment from
    ``t_k + tlag`` for ``D1`` hours (rate and duration fixed at the dose record);
  - ``IV_BOLUS``: ``amt`` into the central compartment at ``t_k`` (no F, no lag);
  - ``IV_INFUSION``: ``rate_mg_per_h`` into the central compartment from ``t_k`` for
    ``amt/rate`` hours.

  Lagged arrivals and the ends of constant-rate inputs fall between records: they are inserted
  as extra events in the individual's timeline (after every record at the same time); the
  parameters in force over an interval are those of the latest record at or before its start.
* **Steady state.** ``steady_state == 1`` (NONMEM SS=1) resets the system before the dose — the
  amounts, the constant-rate inputs in progress and the pending lagged arrivals of earlier doses
  are discarded — and sets it to the periodic state left at ``t_k`` by the same dose (amount,
  route, rate, F, lag, D1 and disposition of record k) given every ``interval_h`` hours forever
  before ``t_k``; then the dose of record k is given as usual. ``steady_state == 2`` (SS=2) adds
  that periodic state to the current one. First-order oral doses and IV boluses are supported
  for any lag (with ``tlag > interval_h`` the virtual doses still in their lag are scheduled as
  extra arrivals); zero-order oral doses and IV infusions need ``tlag + duration <=
  interval_h`` (no virtual input running at ``t_k``), else :class:`ModelDefinitionError`.
* **Same time.** Records at equal times are applied in table order: an observation listed before
  a dose at the same time does not see it.
* **Transit absorption** has no finite state: it is delegated to the superposition of
  :func:`._dose_matrix.predict_dose_matrix` when every real record of each individual has the
  same parameters (no steady-state records), and raises :class:`ModelDefinitionError` otherwise.

This module imports nothing from tdm, case or io.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import CaseError, ModelDefinitionError
from imatinib_tdm.pk._disposition import (
    Disposition,
    decay,
    input_response,
    make_disposition,
    solve_periodic,
)
from imatinib_tdm.pk._dose_matrix import DoseMatrix, predict_dose_matrix
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk._kernels import one_minus_exp
from imatinib_tdm.pk._structures import Absorption, PKParameters, Structure

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = ["RecordParameters", "predict_event_table"]

TRANSIT_MESSAGE = (
    "transit absorption is handled by superposition; time-varying parameters are not supported "
    "for transit models"
)

# Extra-event actions.
_NONE, _ARRIVE, _START, _END = 0, 1, 2, 3
_NONNEGATIVE = ("tlag_h", "n_transit")


@dataclass(frozen=True, eq=False)
class RecordParameters:
    """PK parameters of ``n_patients`` individuals at each of their ``n_records`` records.

    Every field is an array of shape ``(n_patients, n_records)`` (or ``None`` when the structure
    does not use it), in the units of :class:`~imatinib_tdm.pk.PKParameters`: ``cl_l_per_h`` and
    ``q_l_per_h`` in L/h, ``v_l`` and ``v2_l`` in L, ``ka_per_h`` and ``ktr_per_h`` in 1/h,
    ``d1_h`` and ``tlag_h`` in h, ``bioavailability_frac`` and ``n_transit`` dimensionless.
    Entry ``[p, k]`` is the value computed from the covariates and random effects (occasion
    kappas included) of record k of individual p; it applies at record k and until the next
    record. Values on padding records are ignored.
    """

    cl_l_per_h: FloatArray
    v_l: FloatArray
    bioavailability_frac: FloatArray
    ka_per_h: FloatArray | None = None
    q_l_per_h: FloatArray | None = None
    v2_l: FloatArray | None = None
    d1_h: FloatArray | None = None
    tlag_h: FloatArray | None = None
    ktr_per_h: FloatArray | None = None
    n_transit: FloatArray | None = None

    @classmethod
    def constant(cls, params: PKParameters, n_records: int) -> RecordParameters:
        """The same parameters at every record: each ``(n_patients,)`` field repeated.

        Raises
        ------
        ModelDefinitionError
            ``params`` has per-dose (2-D) F or ka, which have no per-record meaning here.
        """
        if params.has_per_dose_values():
            raise ModelDefinitionError(
                "per-dose F or ka cannot be repeated per record; give RecordParameters directly"
            )
        values: dict[str, FloatArray | None] = {}
        for f in fields(params):
            value = getattr(params, f.name)
            values[f.name] = (
                None
                if value is None
                else np.repeat(np.asarray(value, dtype=np.float64)[:, None], n_records, axis=1)
            )
        return cls(**values)  # type: ignore[arg-type]

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_patients, n_records)``."""
        return (int(self.cl_l_per_h.shape[0]), int(self.cl_l_per_h.shape[1]))

    def at_record(self, k: int) -> PKParameters:
        """The parameters of record ``k`` of every individual, as :class:`PKParameters`."""
        values = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[:, k])
            for f in fields(self)
        }
        return PKParameters(**values)  # type: ignore[arg-type]

    def take(self, rows: NDArray[np.intp]) -> RecordParameters:
        """The parameters of a subset of individuals."""
        values = {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[rows])
            for f in fields(self)
        }
        return RecordParameters(**values)  # type: ignore[arg-type]


def predict_event_table(
    structure: Structure, params: RecordParameters, table: EventTable
) -> FloatArray:
    """Concentration (mg/L) at every record of an event table, by exact propagation.

    Parameters
    ----------
    structure : Structure
        Compartments, absorption and lag.
    params : RecordParameters
        Arrays of shape ``(n_patients, n_records)``, the parameters of each record.
    table : EventTable
        Records of the same ``n_patients`` individuals (see the module notes for semantics).

    Returns
    -------
    ndarray of shape (n_patients, n_records)
        Concentration in mg/L at each record (after the record's own dose); nan on padding
        records.

    Raises
    ------
    ModelDefinitionError
        A parameter the structure needs is missing, has the wrong shape or an invalid value on a
        real record; transit absorption with parameters that change over records or with
        steady-state records; a steady-state zero-order or infusion dose whose lag plus
        duration exceeds its interval.
    CaseError
        A steady-state dose with ``interval_h <= 0``, or an IV infusion with a rate <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from imatinib_tdm.pk import Absorption, PKParameters, Structure
    >>> from imatinib_tdm.pk._events import EventTable
    >>> t = np.array([[0.0, 12.0, 24.0, 36.0]])
    >>> table = EventTable(ids=("a",), time_h=t, kind=np.array([[1, 0, 2, 0]]),
    ...     amount_mg=np.array([[400.0, 0, 0, 0]]), route=np.zeros((1, 4), dtype=np.int64),
    ...     rate_mg_per_h=np.zeros((1, 4)), steady_state=np.zeros((1, 4), dtype=np.int64),
    ...     interval_h=np.zeros((1, 4)), dv_mg_per_l=np.full((1, 4), np.nan),
    ...     censored=np.zeros((1, 4), dtype=bool), lloq_mg_per_l=np.full((1, 4), np.nan),
    ...     occasion=np.zeros((1, 4), dtype=np.int64))
    >>> s = Structure(1, Absorption.FIRST_ORDER)
    >>> p = RecordParameters.constant(
    ...     PKParameters.create(cl_l_per_h=14.3, v_l=347.0, ka_per_h=0.61), 4)
    >>> p = RecordParameters(cl_l_per_h=np.array([[14.3, 14.3, 28.6, 28.6]]), v_l=p.v_l,
    ...     bioavailability_frac=p.bioavailability_frac, ka_per_h=p.ka_per_h)
    >>> [round(float(x), 4) for x in predict_event_table(s, p, table)[0]]
    [0.0, 0.7531, 0.4598, 0.171]
    """
    n, r = table.n_patients, table.n_records
    real = np.asarray(table.kind != RecordKind.PAD)
    values = _normalised_parameters(structure, params, table, real)
    if structure.absorption is Absorption.TRANSIT:
        return _transit(structure, values, table, real)
    return _propagate(structure, values, table, real, n, r)


# --------------------------------------------------------------------------------------------
# parameters


def _normalised_parameters(
    structure: Structure, params: RecordParameters, table: EventTable, real: BoolArray
) -> dict[str, FloatArray]:
    """Validated parameter arrays, padding records filled with the last real record's values."""
    n, r = table.n_patients, table.n_records
    missing = [name for name in structure.required_parameters if getattr(params, name) is None]
    if missing:
        raise ModelDefinitionError(f"structure {structure} needs parameters {', '.join(missing)}")
    # index of the latest real record at or before each record (0 for a row of padding only)
    source = np.maximum.accumulate(np.where(real, np.arange(r), 0), axis=1)
    out: dict[str, FloatArray] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        if value is None:
            continue
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != (n, r):
            raise ModelDefinitionError(
                f"parameter {f.name} has shape {arr.shape}; expected (n_patients, n_records) = "
                f"{(n, r)}"
            )
        arr = np.take_along_axis(arr, source, axis=1)
        checked = arr[real]
        if not np.all(np.isfinite(checked)):
            raise ModelDefinitionError(f"parameter {f.name} contains a non-finite value")
        ok = checked >= 0 if f.name in _NONNEGATIVE else checked > 0
        if not np.all(ok):
            bound = ">= 0" if f.name in _NONNEGATIVE else "> 0"
            raise ModelDefinitionError(
                f"parameter {f.name} must be {bound}; got min {float(checked.min())!r}"
            )
        out[f.name] = arr
    return out


def _pk(values: dict[str, FloatArray]) -> PKParameters:
    """An unchecked PKParameters holding 2-D arrays, for :func:`make_disposition`."""
    return PKParameters(
        cl_l_per_h=values["cl_l_per_h"],
        v_l=values["v_l"],
        bioavailability_frac=values["bioavailability_frac"],
        q_l_per_h=values.get("q_l_per_h"),
        v2_l=values.get("v2_l"),
    )


def _at(array: FloatArray, index: NDArray[np.intp]) -> FloatArray:
    """``array[p, index[p]]`` for every row p."""
    return np.asarray(np.take_along_axis(array, index[:, None], axis=1)[:, 0], dtype=np.float64)


def _disposition_at(disp: Disposition, index: NDArray[np.intp]) -> Disposition:
    return Disposition(
        disp.n_compartments,
        _at(disp.k10, index),
        _at(disp.k12, index),
        _at(disp.k21, index),
        _at(disp.alpha, index),
        _at(disp.beta, index),
        _at(disp.v_l, index),
    )


# --------------------------------------------------------------------------------------------
# state propagation


@dataclass(frozen=True)
class _DoseEffects:
    """What each record does at its own time, arrays (n_patients, n_records)."""

    depot: FloatArray  # mg into the depot
    central: FloatArray  # mg into the central compartment
    rate: FloatArray  # mg/h of constant-rate input started
    starts: IntArray  # number of constant-rate inputs started (0 or 1)
    ss_depot: FloatArray  # steady-state amounts (SS records), mg
    ss_central: FloatArray
    ss_peripheral: FloatArray


def _propagate(
    structure: Structure,
    values: dict[str, FloatArray],
    table: EventTable,
    real: BoolArray,
    n: int,
    r: int,
) -> FloatArray:
    disp_all = make_disposition(structure.n_compartments, _pk(values))
    first_order = structure.absorption is Absorption.FIRST_ORDER
    zero = np.zeros((n, r))
    ka_all = values["ka_per_h"] if first_order else zero
    lag = values.get("tlag_h", zero)
    f = values["bioavailability_frac"]
    dose = real & (table.kind == RecordKind.DOSE)
    amount = np.where(dose, table.amount_mg, 0.0)
    oral = dose & (table.route == Route.ORAL)
    bolus = dose & (table.route == Route.IV_BOLUS)
    infusion = dose & (table.route == Route.IV_INFUSION)
    rate_iv = np.where(infusion, table.rate_mg_per_h, 0.0)
    if np.any(infusion & ~(rate_iv > 0.0)):
        raise CaseError("an IV_INFUSION dose needs rate_mg_per_h > 0", field="rate_mg_per_h")
    duration_iv = np.where(infusion, amount / np.where(infusion, rate_iv, 1.0), 0.0)
    given = f * amount
    if first_order:
        rate_oral = zero
        d1 = zero
    else:
        d1 = values["d1_h"]
        rate_oral = np.where(oral, given / d1, 0.0)
    lagged = oral & (lag > 0.0)
    now = oral & ~lagged

    ss_kind = np.where(dose, table.steady_state, 0)
    is_ss = ss_kind > 0
    tau = np.where(is_ss, table.interval_h, 1.0)
    if np.any(is_ss & ~(tau > 0.0)):
        raise CaseError("a steady-state dose needs interval_h > 0 h", field="interval_h")
    ss_d, ss_c, ss_p, pending = _steady_state(
        disp_all,
        first_order,
        ka_all,
        lag,
        d1,
        tau,
        oral & is_ss,
        bolus & is_ss,
        infusion & is_ss,
        given,
        amount,
        rate_oral,
        rate_iv,
        duration_iv,
    )
    effects = _DoseEffects(
        depot=np.where(now & first_order, given, 0.0),
        central=np.where(bolus, amount, 0.0),
        rate=np.where(now & ~first_order, rate_oral, 0.0) + rate_iv,
        starts=((now & ~first_order) | infusion).astype(np.int64),
        ss_depot=ss_d,
        ss_central=ss_c,
        ss_peripheral=ss_p,
    )

    # ---- extra events: slots (n, r, n_slots) ----
    t = table.time_h
    slot_time = [
        np.where(lagged, t + lag, np.inf),
        np.where(oral & ~first_order, t + lag + d1, np.where(infusion, t + duration_iv, np.inf)),
    ]
    slot_action = [
        np.where(lagged, _ARRIVE if first_order else _START, _NONE),
        np.where((oral & ~first_order) | infusion, _END, _NONE),
    ]
    slot_value = [
        np.where(lagged, given if first_order else rate_oral, 0.0),
        np.where(oral & ~first_order, rate_oral, rate_iv),
    ]
    for j, active in enumerate(pending, start=1):  # virtual SS doses still in their lag
        slot_time.append(np.where(active, t + lag - j * tau, np.inf))
        slot_action.append(np.where(active, _ARRIVE, _NONE))
        slot_value.append(np.where(active, given, 0.0))
    n_slots = len(slot_time)
    rec_index = np.broadcast_to(np.arange(r), (n, r))
    ev_time = np.concatenate([np.where(real, t, np.inf), *slot_time], axis=1)
    ev_time = np.where(np.isfinite(ev_time), ev_time, np.inf)
    ev_record = np.concatenate([np.ones((n, r), bool), np.zeros((n, r * n_slots), bool)], axis=1)
    ev_index = np.concatenate([rec_index] * (n_slots + 1), axis=1)
    ev_action = np.concatenate([np.full((n, r), _NONE), *slot_action], axis=1)
    ev_value = np.concatenate([np.zeros((n, r)), *slot_value], axis=1)
    # padding records sort last (time inf) and never own an interval
    order = np.argsort(ev_time, axis=1, kind="stable")
    ev_time = np.take_along_axis(ev_time, order, axis=1)
    ev_record = np.take_along_axis(ev_record, order, axis=1)
    ev_index = np.take_along_axis(ev_index, order, axis=1)
    ev_action = np.take_along_axis(ev_action, order, axis=1)
    ev_value = np.take_along_axis(ev_value, order, axis=1)
    active_ev = np.isfinite(ev_time)
    ev_time = np.where(active_ev, ev_time, 0.0)
    n_events = int(active_ev.sum(axis=1).max()) if n > 0 else 0
    ev_record &= active_ev
    owner = np.maximum.accumulate(np.where(ev_record, ev_index, 0), axis=1)

    rows = np.arange(n)
    out = np.full((n, r), np.nan)
    d = np.zeros(n)
    c = np.zeros(n)
    p = np.zeros(n)
    rate = np.zeros(n)
    running = np.zeros(n, dtype=np.int64)
    reset_at = np.full(n, -1, dtype=np.int64)
    has_depot = first_order
    has_rate = bool(np.any(effects.starts)) or not first_order
    for e in range(n_events):
        if e > 0:
            step = np.where(active_ev[:, e], ev_time[:, e] - ev_time[:, e - 1], 0.0)
            if np.any(step > 0.0):
                k = owner[:, e - 1]
                disp = _disposition_at(disp_all, k)
                new_c, new_p = decay(disp, c, p, step)
                if has_depot:
                    ka = _at(ka_all, k)
                    rc, rp = input_response(disp, ka, step)
                    new_c = new_c + d * ka * rc
                    new_p = new_p + d * ka * rp
                    d = d * np.exp(-ka * step)
                if has_rate:
                    rc, rp = input_response(disp, np.zeros(n), step)
                    new_c = new_c + rate * rc
                    new_p = new_p + rate * rp
                c, p = new_c, new_p
        index = ev_index[:, e]
        is_rec = ev_record[:, e]
        # ---- records: steady state, dose, concentration ----
        ss = np.where(is_rec, _at_int(ss_kind, index), 0)
        reset = ss == 1
        if np.any(reset):
            d, c, p, rate = (np.where(reset, 0.0, x) for x in (d, c, p, rate))
            running = np.where(reset, 0, running)
            reset_at = np.where(reset, index, reset_at)
        if np.any(ss > 0):
            add = ss > 0
            d = d + np.where(add, _at(effects.ss_depot, index), 0.0)
            c = c + np.where(add, _at(effects.ss_central, index), 0.0)
            p = p + np.where(add, _at(effects.ss_peripheral, index), 0.0)
        if np.any(is_rec):
            d = d + np.where(is_rec, _at(effects.depot, index), 0.0)
            c = c + np.where(is_rec, _at(effects.central, index), 0.0)
            rate = rate + np.where(is_rec, _at(effects.rate, index), 0.0)
            running = running + np.where(is_rec, _at_int(effects.starts, index), 0)
            v = _at(values["v_l"], index)
            out[rows[is_rec], index[is_rec]] = (c / v)[is_rec]
        # ---- extra events (those of doses before a later reset are void) ----
        action = np.where(is_rec | (index < reset_at), _NONE, ev_action[:, e])
        value = ev_value[:, e]
        arrive = action == _ARRIVE
        if np.any(arrive):
            d = d + np.where(arrive, value, 0.0)
        start, end = action == _START, action == _END
        if np.any(start | end):
            rate = rate + np.where(start, value, 0.0) - np.where(end, value, 0.0)
            running = running + start - end
            rate = np.where(running == 0, 0.0, rate)  # no drift once every input has ended
    out[~real] = np.nan
    return out


def _at_int(array: IntArray, index: NDArray[np.intp]) -> IntArray:
    return np.asarray(np.take_along_axis(array, index[:, None], axis=1)[:, 0], dtype=np.int64)


def _steady_state(
    disp: Disposition,
    first_order: bool,
    ka: FloatArray,
    lag: FloatArray,
    d1: FloatArray,
    tau: FloatArray,
    oral: BoolArray,
    bolus: BoolArray,
    infusion: BoolArray,
    given: FloatArray,
    amount: FloatArray,
    rate_oral: FloatArray,
    rate_iv: FloatArray,
    duration_iv: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, list[BoolArray]]:
    """Periodic state at ``t_k`` (just before the dose) for every steady-state dose record.

    All arrays are ``(n_patients, n_records)``; entries of non-SS records are 0. Also returns,
    for first-order oral doses whose lag exceeds the interval, the masks of the virtual doses
    ``j = 1, 2, ...`` intervals back still in their lag at ``t_k`` (arrival at
    ``t_k + lag - j·tau``).
    """
    shape = tau.shape
    ss_d, ss_c, ss_p = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    pending: list[BoolArray] = []
    if np.any(bolus):
        xc, xp = solve_periodic(disp, np.where(bolus, amount, 0.0), np.zeros(shape), tau)
        bc, bp = decay(disp, xc, xp, tau)
        ss_c = np.where(bolus, bc, ss_c)
        ss_p = np.where(bolus, bp, ss_p)
    constant_rate = infusion | (oral & (not first_order))
    if np.any(constant_rate):
        run = np.where(infusion, duration_iv, d1)
        delay = np.where(infusion, 0.0, lag)
        rate = np.where(infusion, rate_iv, rate_oral)
        too_long = constant_rate & (delay + run > tau)
        if np.any(too_long):
            p_row, k_row = np.argwhere(too_long)[0]
            raise ModelDefinitionError(
                "steady state of a zero-order or infusion dose needs lag + duration <= interval "
                f"(individual {int(p_row)}, record {int(k_row)}: lag + duration "
                f"{float(delay[p_row, k_row] + run[p_row, k_row]):g} h > interval "
                f"{float(tau[p_row, k_row]):g} h)"
            )
        run = np.where(constant_rate, run, 0.0)
        kick_c, kick_p = input_response(disp, np.zeros(shape), run)
        xc, xp = solve_periodic(disp, rate * kick_c, rate * kick_p, tau)
        rc, rp = decay(disp, xc, xp, np.where(constant_rate, tau - delay - run, 0.0))
        ss_c = np.where(constant_rate, rc, ss_c)
        ss_p = np.where(constant_rate, rp, ss_p)
    if first_order and np.any(oral):
        # Virtual doses at t_k - j·tau arrive at t_k - j·tau + lag; the latest arrived one is
        # j0 = max(1, ceil(lag/tau)) intervals back, s = j0·tau - lag hours before t_k.
        j0 = np.maximum(1.0, np.ceil(lag / tau))
        since = np.where(oral, np.maximum(j0 * tau - lag, 0.0), 0.0)
        depot_after = np.where(oral, given, 0.0) / one_minus_exp(ka * tau)
        rc, rp = input_response(disp, ka, tau)
        c0, p0 = solve_periodic(disp, depot_after * ka * rc, depot_after * ka * rp, tau)
        ct, pt = decay(disp, c0, p0, since)
        rc_s, rp_s = input_response(disp, ka, since)
        ss_d = np.where(oral, depot_after * np.exp(-ka * since), ss_d)
        ss_c = np.where(oral, ct + depot_after * ka * rc_s, ss_c)
        ss_p = np.where(oral, pt + depot_after * ka * rp_s, ss_p)
        n_pending = np.where(oral, j0 - 1.0, 0.0)
        for j in range(1, int(n_pending.max()) + 1):
            pending.append(n_pending >= j)
    return ss_d, ss_c, ss_p, pending


# --------------------------------------------------------------------------------------------
# transit


def _transit(
    structure: Structure, values: dict[str, FloatArray], table: EventTable, real: BoolArray
) -> FloatArray:
    for name, arr in values.items():
        if not np.all(np.where(real, arr == arr[:, :1], True)):
            raise ModelDefinitionError(f"{TRANSIT_MESSAGE} ({name} changes over records)")
    dose = real & (table.kind == RecordKind.DOSE)
    if np.any(dose & (table.steady_state != 0)):
        raise ModelDefinitionError(
            "steady-state records are not supported with transit absorption by the event engine"
        )
    if np.any(dose & (table.route == Route.IV_INFUSION) & ~(table.rate_mg_per_h > 0.0)):
        raise CaseError("an IV_INFUSION dose needs rate_mg_per_h > 0", field="rate_mg_per_h")
    first = {name: arr[:, 0] for name, arr in values.items()}
    params = PKParameters(**first)
    amount = np.where(dose, table.amount_mg, 0.0)
    doses = DoseMatrix(
        times_h=table.time_h,
        amounts_mg=amount,
        route=np.where(dose, table.route, int(Route.ORAL)).astype(np.int64),
        rate_mg_per_h=np.where(dose, table.rate_mg_per_h, 0.0),
    )
    out = predict_dose_matrix(structure, params, doses, table.time_h)
    # superposition counts a bolus at t in the concentration at t; records listed before the
    # bolus at the same time must not see it
    bolus = np.where(dose & (table.route == Route.IV_BOLUS), amount, 0.0)
    r = table.n_records
    later = np.zeros(table.n_patients)
    for k in range(r - 2, -1, -1):
        same = table.time_h[:, k + 1] == table.time_h[:, k]
        later = np.where(same, later + bolus[:, k + 1], 0.0)
        out[:, k] -= later / params.v_l
    out[~real] = np.nan
    return np.asarray(out, dtype=np.float64)
