"""The boundary between the case and the PK engine.

A validated :class:`~imatinib_tdm.case.Case` is converted here, once, into the plain arrays and
frozen dataclasses the numerical kernels take: a :class:`DoseHistory` on hours since the first dose,
sample times in hours, observed concentrations in mg/L (the engine's unit), covariate values under
canonical names, or all of it as one :class:`~imatinib_tdm.pk._events.EventTable`. This is the only
module of ``pk`` that may import :mod:`imatinib_tdm.case`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.case import Case
from imatinib_tdm.pk._events import EventTable, RecordKind, Route
from imatinib_tdm.pk._structures import DoseHistory
from imatinib_tdm.units import ConcentrationUnit, convert_concentration

__all__ = [
    "case_concentrations_mg_per_l",
    "case_covariates",
    "case_sample_times_h",
    "case_to_dose_history",
    "case_to_event_table",
]


def case_to_dose_history(case: Case) -> DoseHistory:
    """The case's dose history on hours since the first dose.

    Parameters
    ----------
    case : Case
        A validated case.

    Returns
    -------
    DoseHistory
        ``times_h`` of shape ``(n_doses,)`` (the first dose at 0 h), ``amounts_mg`` of shape
        ``(n_doses,)``. Every scheduled administration is one dose event; a missed one keeps its
        time with amount 0 mg (the :class:`DoseHistory` convention).

    See Also
    --------
    Case.dose_events : the same events as a list of ``(time_h, amount_mg)``.

    Examples
    --------
    >>> from imatinib_tdm.case import load_demo_case
    >>> history = case_to_dose_history(load_demo_case("demo-001"))
    >>> history.n_doses, float(history.times_h[-1]), float(history.amounts_mg[0])
    (50, 1176.0, 400.0)
    """
    events = case.dose_events(include_missed=True)
    times_h = np.array([time_h for time_h, _ in events], dtype=np.float64)
    amounts_mg = np.array([amount_mg for _, amount_mg in events], dtype=np.float64)
    return DoseHistory.create(times_h, amounts_mg)


def case_sample_times_h(case: Case) -> NDArray[np.float64]:
    """Sample times in hours since the first dose.

    Parameters
    ----------
    case : Case
        A validated case.

    Returns
    -------
    ndarray of shape (n_samples,)
        In the order of ``case.samples``; empty when the case has no sample.
    """
    return case.sample_times_h()


def case_concentrations_mg_per_l(case: Case) -> NDArray[np.float64]:
    """Reported concentrations in mg/L (the engine's unit), in the order of ``case.samples``.

    Parameters
    ----------
    case : Case
        A validated case.

    Returns
    -------
    ndarray of shape (n_samples,)
        Molar units are converted with the imatinib free-base molar mass. Samples below their
        LLOQ keep their reported value; use ``case.is_below_lloq()`` to treat them as censored.
    """
    return convert_concentration(
        case.concentrations_ng_per_ml(), ConcentrationUnit.NG_PER_ML, ConcentrationUnit.MG_PER_L
    )


def case_covariates(case: Case) -> dict[str, float]:
    """Covariate values actually given in the case, under the popPK models' canonical names.

    Parameters
    ----------
    case : Case
        A validated case.

    Returns
    -------
    dict of str to float
        See :meth:`Case.covariate_values`; nothing is filled in with a default.
    """
    return case.covariate_values()


def case_to_event_table(case: Case) -> EventTable:
    """The case as an event table of one individual, on hours since the first dose.

    Parameters
    ----------
    case : Case
        A validated case.

    Returns
    -------
    EventTable
        ``n_patients`` = 1, id ``case.patient.id``. One ORAL dose record per administration
        taken (missed administrations are left out), one observation per sample in mg/L (molar
        units converted with the free-base molar mass); a sample below its LLOQ is censored with
        that LLOQ (its reported value kept, never replaced), a quantified sample with an LLOQ keeps
        it. At equal times doses come before samples. Covariates are constant: every value of
        ``case.covariate_values()`` on every record. Occasion 0; no padding.

    See Also
    --------
    imatinib_tdm.io.read_nonmem_dataset : the same table type from a NONMEM dataset.

    Examples
    --------
    >>> from imatinib_tdm.case import load_demo_case
    >>> table = case_to_event_table(load_demo_case("demo-001"))
    >>> table.n_patients, int(table.is_dose.sum()), int(table.is_observation.sum())
    (1, 50, 1)
    """
    doses = case.dose_events()
    times = case.sample_times_h()
    dv = case_concentrations_mg_per_l(case)
    lloq = convert_concentration(
        case.lloq_ng_per_ml(), ConcentrationUnit.NG_PER_ML, ConcentrationUnit.MG_PER_L
    )
    below = case.is_below_lloq()
    # (time, 0 = dose / 1 = sample, position): doses before samples at equal times
    order = sorted(
        [(time_h, 0, i) for i, (time_h, _) in enumerate(doses)]
        + [(float(time_h), 1, i) for i, time_h in enumerate(times)]
    )
    n = len(order)
    time_h = np.array([item[0] for item in order], dtype=np.float64)
    is_dose = np.array([item[1] == 0 for item in order], dtype=np.bool_)
    position = np.array([item[2] for item in order], dtype=np.intp)
    amounts = np.array([amount for _, amount in doses], dtype=np.float64)
    sample = ~is_dose
    dv_row = np.full(n, np.nan)
    lloq_row = np.full(n, np.nan)
    dv_row[sample] = dv[position[sample]]
    lloq_row[sample] = lloq[position[sample]]
    censored = np.zeros(n, dtype=np.bool_)
    censored[sample] = below[position[sample]]
    amount_row = np.zeros(n)
    amount_row[is_dose] = amounts[position[is_dose]]
    kind = np.where(is_dose, int(RecordKind.DOSE), int(RecordKind.OBSERVATION)).astype(np.int64)
    return EventTable(
        ids=(case.patient.id,),
        time_h=time_h[None, :],
        kind=kind[None, :],
        amount_mg=amount_row[None, :],
        route=np.full((1, n), int(Route.ORAL), dtype=np.int64),
        rate_mg_per_h=np.zeros((1, n)),
        steady_state=np.zeros((1, n), dtype=np.int64),
        interval_h=np.zeros((1, n)),
        dv_mg_per_l=dv_row[None, :],
        censored=censored[None, :],
        lloq_mg_per_l=lloq_row[None, :],
        occasion=np.zeros((1, n), dtype=np.int64),
        covariates={name: np.full((1, n), value) for name, value in case_covariates(case).items()},
        source=f"case {case.patient.id}",
    )
