"""Dose advice that agrees with the measured trough.

:func:`~imatinib_tdm.tdm.recommend_regimen` ranks regimens by the Bayesian posterior. With one
level, the posterior trough is shrunk toward the population (by design: the level carries
residual error), so on its own it can propose a dose increase for a measured trough that is on
target, or keep the dose for one above the alert. A TDM service answers a measured steady-state
trough first; the Bayesian table then says *how much* to change, not *whether*. The rules, in
order (``docs/interpretation-rules.md``, "Dose advice"):

1. a level below the LLOQ on regular dosing: no dose advice (``withheld``) — adherence, sample
   identity and timing come first, never a dose increase;
2. a measured trough above the alert (at steady state or not: it can only rise): only regimens
   with a lower daily dose than now are considered;
3. a measured steady-state trough on target: continue the current regimen;
4. a measured steady-state trough below target: only regimens with a higher daily dose;
5. otherwise (an estimated trough, or not at steady state): the Bayesian advice unchanged.

Within the allowed regimens, the decision rule of ``recommend_regimen`` applies unchanged, and
the unconstrained Bayesian choice is reported beside it when it differs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from imatinib_tdm.tdm._dosing import DoseAdvice, RegimenEvaluation, recommend_regimen
from imatinib_tdm.tdm._findings import TroughStatus
from imatinib_tdm.tdm._regimens import Regimen

__all__ = ["BASIS_ESTIMATE", "BASIS_MEASURED", "advice_for_status"]

BASIS_MEASURED = "measured trough"
BASIS_ESTIMATE = "Bayesian individual estimate"

# daily doses within this many mg/day are the same dose (floating-point safety only)
_SAME_DOSE_MG = 1e-6


def _row_dict(row: RegimenEvaluation | None, regimen: Regimen) -> dict[str, Any]:
    return {
        "dose_mg": regimen.dose_mg,
        "interval_h": regimen.interval_h,
        "daily_dose_mg": regimen.daily_dose_mg,
        "predicted_trough_ng_per_ml": None if row is None else row.trough_median_ng_per_ml,
        "predicted_trough_lower_ng_per_ml": None if row is None else row.trough_p5_ng_per_ml,
        "predicted_trough_upper_ng_per_ml": None if row is None else row.trough_p95_ng_per_ml,
        "probability_on_target": None if row is None else row.probability_target_attained,
        "probability_above_alert": None if row is None else row.probability_above_alert,
    }


def _from_advice(advice: DoseAdvice, basis: str) -> dict[str, Any] | None:
    chosen = advice.recommended or advice.best_available
    if chosen is None:
        return None
    return {
        "status": advice.status.value,
        "basis": basis,
        **_row_dict(chosen, chosen.regimen),
        "reason": advice.reason,
        "rule": advice.rule,
    }


def _withheld(reason: str, basis: str) -> dict[str, Any]:
    return {
        "status": "withheld",
        "basis": basis,
        "dose_mg": None,
        "interval_h": None,
        "daily_dose_mg": None,
        "predicted_trough_ng_per_ml": None,
        "predicted_trough_lower_ng_per_ml": None,
        "predicted_trough_upper_ng_per_ml": None,
        "probability_on_target": None,
        "probability_above_alert": None,
        "reason": reason,
        "rule": "no dose advice on this level",
    }


def _bayesian_note(advice: DoseAdvice, chosen_daily: float | None) -> str:
    alone = advice.recommended or advice.best_available
    if alone is None or (
        chosen_daily is not None
        and abs(alone.regimen.daily_dose_mg - chosen_daily) <= _SAME_DOSE_MG
    ):
        return ""
    return (
        f" The Bayesian estimate alone would choose {alone.regimen.label} (predicted trough "
        f"median {alone.trough_median_ng_per_ml:.0f} ng/mL): with one level it is drawn toward "
        "the population, so the measured trough decides the direction."
    )


def withheld_advice(reason: str) -> dict[str, Any]:
    """A recommendation entry that gives no dose (the level cannot carry one), with why."""
    return _withheld(reason, BASIS_MEASURED)


def advice_for_status(
    advice: DoseAdvice,
    status: TroughStatus,
    *,
    measured_trough_ng_per_ml: float | None,
    at_steady_state: bool,
    below_lloq_on_regular_dosing: bool,
    current: Regimen | None,
) -> dict[str, Any] | None:
    """The dose advice as a JSON-ready dict, consistent with the trough status.

    Parameters
    ----------
    advice : DoseAdvice
        The Bayesian advice over all candidate regimens (its table is reused).
    status : TroughStatus
        Status of the interpretation.
    measured_trough_ng_per_ml : float or None
        The measured trough (ng/mL) when the status comes from it; None when the status comes
        from the Bayesian estimate.
    at_steady_state : bool
        The measured trough was drawn at steady state.
    below_lloq_on_regular_dosing : bool
        The level is below the LLOQ while the patient is on a repeating regimen.
    current : Regimen or None
        The current regimen (None without one: the Bayesian advice is returned unchanged).

    Returns
    -------
    dict or None
        Keys ``status`` (``recommended``, ``no_regimen_qualifies``, ``continue``, ``withheld``),
        ``basis``, ``dose_mg``, ``interval_h``, ``daily_dose_mg``,
        ``predicted_trough_ng_per_ml`` with ``_lower_``/``_upper_`` (90% interval),
        ``probability_on_target``, ``probability_above_alert``, ``reason``, ``rule``. None when
        the table has no row at all.
    """
    if below_lloq_on_regular_dosing and status is TroughStatus.BELOW_LLOQ:
        return _withheld(
            "No dose advice on a level below the LLOQ during regular dosing: such a level is "
            "explained first (adherence, sample identity, timing of the last dose); repeat the "
            "level once intake is confirmed.",
            BASIS_MEASURED,
        )
    measured = measured_trough_ng_per_ml
    if measured is None or current is None:
        return _from_advice(advice, BASIS_ESTIMATE)
    table = advice.table
    now = current.daily_dose_mg
    if status is TroughStatus.ON_TARGET and at_steady_state:
        row = next(
            (
                r
                for r in table.rows
                if abs(r.regimen.daily_dose_mg - now) <= _SAME_DOSE_MG
                and r.regimen.interval_h == current.interval_h
            ),
            None,
        )
        reason = (
            f"The measured steady-state trough ({measured:g} ng/mL) is on target "
            f"(>= {table.target_ng_per_ml:g} ng/mL, {table.target_id})"
            + (
                f" and below the alert ({table.alert_ng_per_ml:g} ng/mL)"
                if table.alert_ng_per_ml is not None
                else ""
            )
            + f": continue {current.label}."
        )
        if row is not None:
            reason += (
                f" Bayesian prediction for it: trough median {row.trough_median_ng_per_ml:.0f} "
                f"ng/mL (90% interval {row.trough_p5_ng_per_ml:.0f}-"
                f"{row.trough_p95_ng_per_ml:.0f}), P(on target) "
                f"{100.0 * row.probability_target_attained:.0f}%."
            )
        reason += _bayesian_note(advice, now)
        return {
            "status": "continue",
            "basis": BASIS_MEASURED,
            **_row_dict(row, current),
            "reason": reason,
            "rule": "a measured steady-state trough on target: no change",
        }
    if status is TroughStatus.ABOVE_ALERT:
        allowed = [r for r in table.rows if r.regimen.daily_dose_mg < now - _SAME_DOSE_MG]
        direction = "lower"
    elif status is TroughStatus.SUBTHERAPEUTIC and at_steady_state:
        allowed = [r for r in table.rows if r.regimen.daily_dose_mg > now + _SAME_DOSE_MG]
        direction = "higher"
    else:
        return _from_advice(advice, BASIS_ESTIMATE)
    why = (
        f"The measured trough ({measured:g} ng/mL) is {status.value.replace('_', ' ')}: only "
        f"regimens with a {direction} daily dose than now ({now:g} mg/day) are considered."
    )
    if not allowed:
        return _withheld(
            f"{why} No candidate regimen of the dosing rules has a {direction} daily dose; the "
            "decision is clinical (see the findings).",
            BASIS_MEASURED,
        )
    restricted = recommend_regimen(
        dataclasses.replace(table, rows=tuple(allowed)),
        probability=advice.required_probability,
        max_alert_probability=advice.max_alert_probability,
    )
    out = _from_advice(restricted, BASIS_MEASURED)
    if out is None:  # pragma: no cover - a non-empty table always yields a choice
        return None
    reason = out["reason"]
    best = restricted.best_available
    if status is TroughStatus.ABOVE_ALERT and best is not None:
        # recommend_regimen's wording for this case is about raising exposure; here the
        # trade-off runs the other way
        alert = (
            f" and P(trough > alert) {100.0 * best.probability_above_alert:.0f}%"
            if best.probability_above_alert is not None
            else ""
        )
        reason = (
            f"No lower daily dose keeps P(trough >= {table.target_ng_per_ml:g} ng/mL) >= "
            f"{100.0 * advice.required_probability:.0f}%. Closest: {best.regimen.label}, "
            f"P(on target) {100.0 * best.probability_target_attained:.0f}%{alert}, predicted "
            f"trough median {best.trough_median_ng_per_ml:.0f} ng/mL (90% interval "
            f"{best.trough_p5_ng_per_ml:.0f}-{best.trough_p95_ng_per_ml:.0f}). Weigh the "
            "toxicity seen against efficacy; the decision is clinical."
        )
    out["reason"] = f"{why} {reason}" + _bayesian_note(advice, out["daily_dose_mg"])
    return out
