"""The boundary between the case and the PK engine.

A validated :class:`~imatinib_tdm.case.Case` is converted here, once, into the plain arrays and
frozen dataclasses the numerical kernels take: a :class:`DoseHistory` on hours since the first dose,
sample times in hours, observed concentrations in mg/L (the engine's unit) and covariate values
under canonical names. This is the only module of ``pk`` that may import :mod:`imatinib_tdm.case`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.case import Case
from imatinib_tdm.pk._structures import DoseHistory
from imatinib_tdm.units import ConcentrationUnit, convert_concentration

__all__ = [
    "case_concentrations_mg_per_l",
    "case_covariates",
    "case_sample_times_h",
    "case_to_dose_history",
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
