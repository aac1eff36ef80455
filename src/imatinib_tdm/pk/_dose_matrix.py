"""Individual dose histories of different designs, and predictions by direct superposition.

Estimation needs predictions at a few sample times for many individuals, each with their own
dose times, and for many trial values of the random effects. Here the single-dose responses of
all (dose, sample) pairs are computed in one vectorised expression of shape
``(n_rows, n_doses, n_times)`` and summed over doses: no Python loop over doses or
individuals, which makes one objective evaluation for a TDM patient take tens of microseconds.

Valid when the PK parameters of an individual do not change over the dose history (no
time-varying covariates, no inter-occasion variability); the event-by-event engine handles the
rest. Routes: oral (the model's absorption, with F and lag), IV bolus and IV infusion into the
central compartment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk._disposition import decay, input_response, make_disposition
from imatinib_tdm.pk._events import Route
from imatinib_tdm.pk._structures import Absorption, PKParameters, Structure
from imatinib_tdm.pk._transit import transit_central_amount

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "DoseMatrix",
    "predict_dose_matrix",
    "predict_oral_doses",
    "predict_oral_one_compartment",
]


@dataclass(frozen=True, eq=False)
class DoseMatrix:
    """Doses of ``n_patients`` individuals padded to ``n_doses`` (zero-amount padding).

    Attributes
    ----------
    times_h, amounts_mg, rate_mg_per_h : ndarray (n_patients, n_doses)
    route : int ndarray (n_patients, n_doses), :class:`Route` values
    """

    times_h: FloatArray
    amounts_mg: FloatArray
    route: IntArray
    rate_mg_per_h: FloatArray

    @property
    def n_patients(self) -> int:
        """Number of individuals."""
        return int(self.times_h.shape[0])

    def take(self, rows: NDArray[np.intp]) -> DoseMatrix:
        """The doses of a subset (or a repetition) of individuals."""
        return DoseMatrix(
            self.times_h[rows], self.amounts_mg[rows], self.route[rows], self.rate_mg_per_h[rows]
        )


def predict_dose_matrix(
    structure: Structure,
    params: PKParameters,
    doses: DoseMatrix,
    times_h: FloatArray,
) -> FloatArray:
    """Concentrations (mg/L), shape ``(n_patients, n_times)``, by superposition over doses.

    Parameters
    ----------
    structure : Structure
    params : PKParameters
        One row per individual (constant over time; per-dose F/ka are not supported here).
    doses : DoseMatrix
        Same number of rows as ``params``.
    times_h : ndarray (n_patients, n_times)
        Evaluation times, same clock as the doses.
    """
    if params.has_per_dose_values():
        raise ModelDefinitionError("per-dose parameters need predict_concentrations")
    n = params.n_patients
    disp = make_disposition(structure.n_compartments, params).reshape((n, 1, 1))
    lag = params.tlag_h[:, None, None] if params.tlag_h is not None else 0.0
    f = params.bioavailability_frac[:, None, None]
    since = times_h[:, None, :] - doses.times_h[:, :, None]  # (n, n_doses, n_times)
    amount = doses.amounts_mg[:, :, None]
    route = doses.route[:, :, None]
    oral = route == Route.ORAL
    total = np.zeros(since.shape)
    if np.any(oral):
        s = since - lag
        after = oral & (s > 0.0)
        s_pos = np.where(after, s, 0.0)
        given = f * amount
        if structure.absorption is Absorption.FIRST_ORDER:
            assert params.ka_per_h is not None
            ka = params.ka_per_h[:, None, None]
            central, _ = input_response(disp, ka, s_pos)
            response = given * ka * central
        elif structure.absorption is Absorption.ZERO_ORDER:
            assert params.d1_h is not None
            response = _constant_input(
                disp, given / params.d1_h[:, None, None], params.d1_h[:, None, None], s_pos
            )
        else:
            assert params.ka_per_h is not None and params.ktr_per_h is not None
            assert params.n_transit is not None
            response = given * transit_central_amount(
                disp,
                params.ka_per_h[:, None, None],
                params.ktr_per_h[:, None, None],
                params.n_transit[:, None, None],
                s_pos,
            )
        total = total + np.where(after, response, 0.0)
    bolus = route == Route.IV_BOLUS
    if np.any(bolus):
        after = bolus & (since >= 0.0)
        s_pos = np.where(after, since, 0.0)
        central, _ = decay(disp, amount * np.ones_like(s_pos), np.zeros_like(s_pos), s_pos)
        total = total + np.where(after, central, 0.0)
    infusion = route == Route.IV_INFUSION
    if np.any(infusion):
        after = infusion & (since > 0.0)
        s_pos = np.where(after, since, 0.0)
        rate = doses.rate_mg_per_h[:, :, None]
        duration = np.where(infusion, amount / np.where(rate > 0, rate, 1.0), 1.0)
        total = total + np.where(after, _constant_input(disp, rate, duration, s_pos), 0.0)
    return np.asarray(total.sum(axis=1) / disp.v_l[:, :, 0], dtype=np.float64)


def _constant_input(
    disp: object, rate: FloatArray, duration: FloatArray, since: FloatArray
) -> FloatArray:
    """Central amount at ``since`` after the start of a constant input of ``duration`` hours."""
    from imatinib_tdm.pk._disposition import Disposition

    assert isinstance(disp, Disposition)
    running = since < duration
    during, _ = input_response(disp, np.zeros_like(since), np.minimum(since, duration))
    end_c, end_p = input_response(disp, np.zeros_like(duration), duration)
    after_c, _ = decay(
        disp,
        end_c * np.ones_like(since),
        end_p * np.ones_like(since),
        np.maximum(since - duration, 0.0),
    )
    return np.asarray(rate * np.where(running, during, after_c), dtype=np.float64)


def predict_oral_doses(
    structure: Structure,
    values: Mapping[str, FloatArray],
    amounts_mg: FloatArray,
    since_h: FloatArray,
) -> FloatArray:
    """:func:`predict_dose_matrix` for oral doses only, batched over trial points.

    The arithmetic is that of :func:`predict_dose_matrix`, operation for operation (the results
    are identical to the last bit), without its route masks and with the dose-to-sample times of
    each individual computed once (the optimiser evaluates many trial points per individual).

    Parameters
    ----------
    structure : Structure
    values : mapping of :class:`PKParameters` field name to ndarray
        Broadcastable to ``(m, n_points)``; ``bioavailability_frac`` is required, the others as
        the structure needs them.
    amounts_mg : ndarray (m, 1, n_doses, 1)
        Oral doses (zero for padding).
    since_h : ndarray (m, 1, n_doses, n_times)
        Time from each dose to each evaluation time (negative: dose after the time).

    Returns
    -------
    ndarray (m, n_points, n_times), or (m, 1, n_times) when no parameter varies by point.
    """
    absorption = structure.absorption
    if structure.n_compartments == 1 and absorption is not Absorption.TRANSIT:
        return predict_oral_one_compartment(
            absorption,
            values["cl_l_per_h"],
            values["v_l"],
            values["bioavailability_frac"],
            values.get("ka_per_h"),
            values.get("d1_h"),
            values.get("tlag_h"),
            amounts_mg,
            since_h,
        )
    four = {name: np.asarray(value)[..., None, None] for name, value in values.items()}
    disp = make_disposition(
        structure.n_compartments,
        PKParameters(
            cl_l_per_h=four["cl_l_per_h"],
            v_l=four["v_l"],
            bioavailability_frac=four["bioavailability_frac"],
            q_l_per_h=four.get("q_l_per_h"),
            v2_l=four.get("v2_l"),
        ),
    )
    s = since_h - four["tlag_h"] if "tlag_h" in four else since_h
    after = s > 0.0
    s_pos = np.where(after, s, 0.0)
    given = four["bioavailability_frac"] * amounts_mg
    if absorption is Absorption.FIRST_ORDER:
        ka = four["ka_per_h"]
        central, _ = input_response(disp, ka, s_pos)
        response = given * ka * central
    elif absorption is Absorption.ZERO_ORDER:
        d1 = four["d1_h"]
        response = _constant_input(disp, given / d1, d1, s_pos)
    else:
        response = given * transit_central_amount(
            disp, four["ka_per_h"], four["ktr_per_h"], four["n_transit"], s_pos
        )
    total = np.where(after, response, 0.0)
    return np.asarray(total.sum(axis=-2) / disp.v_l[..., 0], dtype=np.float64)


def predict_oral_one_compartment(
    absorption: Absorption,
    cl_l_per_h: FloatArray,
    v_l: FloatArray,
    bioavailability_frac: FloatArray,
    ka_per_h: FloatArray | None,
    d1_h: FloatArray | None,
    tlag_h: FloatArray | None,
    amounts_mg: FloatArray,
    since_h: FloatArray,
) -> FloatArray:
    """Concentrations of a one-compartment model with oral doses only, batched over trial points.

    The fast kernel of the MAP objective: the arithmetic of :func:`predict_dose_matrix` for this
    case, operation for operation (so the results are identical to the last bit), without its
    route masks, dispatch and intermediate copies.

    Parameters
    ----------
    absorption : Absorption
        FIRST_ORDER or ZERO_ORDER.
    cl_l_per_h, v_l, bioavailability_frac, ka_per_h, d1_h, tlag_h : ndarray
        Broadcastable to ``(m, n_points)`` (``ka_per_h`` needed for first order, ``d1_h`` for
        zero order; ``tlag_h`` may be None).
    amounts_mg : ndarray (m, 1, n_doses, 1)
        Zero for padding.
    since_h : ndarray (m, 1, n_doses, n_times)
        Time from each dose to each evaluation time (negative: dose after the time).

    Returns
    -------
    ndarray (m, n_points, n_times), or (m, 1, n_times) when no parameter varies by point.
    """
    k10 = np.asarray(cl_l_per_h / v_l)
    if tlag_h is not None:
        s = since_h - np.asarray(tlag_h)[..., None, None]
        s = np.where(s > 0.0, s, 0.0)
    else:
        s = np.where(since_h > 0.0, since_h, 0.0)
    given = np.asarray(bioavailability_frac)[..., None, None] * amounts_mg
    if absorption is Absorption.FIRST_ORDER:
        assert ka_per_h is not None
        ka = np.asarray(ka_per_h)
        # conv2(ka, k10, s) = exp(-lo·s)·s·(1 - exp(-gap·s))/(gap·s), gap = |ka - k10|
        neg_gap = -np.abs(ka - k10)[..., None, None]
        # The same operations in the same order as the plain expressions (bit-identical), with
        # the large (m, n_points, n_doses, n_times) temporaries reused in place: allocating them
        # afresh cost as much as the arithmetic.
        x = neg_gap * s
        work = np.expm1(x)
        ratio = np.ones(x.shape)
        np.divide(work, x, out=ratio, where=x < 0.0)
        central = np.multiply(-np.minimum(ka, k10)[..., None, None], s, out=x)
        np.exp(central, out=central)
        central *= s  # same shape: s broadcasts against the rates already
        central *= ratio
        scaled = np.multiply(given, ka[..., None, None], out=work)
        scaled *= central
        central = scaled
    else:
        assert d1_h is not None
        d1 = np.asarray(d1_h)[..., None, None]
        k = k10[..., None, None]
        # constant input at F·A/d1 for d1 hours (see _constant_input, 1-compartment case)
        during_t = np.minimum(s, d1)
        x = k * during_t
        ratio = np.ones(x.shape)
        np.divide(np.expm1(-x), -x, out=ratio, where=x > 0.0)
        during_t = during_t * ratio
        d1_gap = k * d1
        end = d1 * np.where(d1_gap > 0.0, -np.expm1(-d1_gap) / d1_gap, 1.0)
        after_t = np.maximum(s - d1, 0.0)
        after = (end * np.ones(())) * np.exp(-k * after_t)
        central = (given / d1) * np.where(s < d1, during_t, after)
    return np.asarray(central.sum(axis=-2) / np.asarray(v_l)[..., None], dtype=np.float64)
