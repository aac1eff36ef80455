"""Tests of tdm/_status_advice.py: the dose advice follows the measured trough's direction."""

from __future__ import annotations

import pytest

from imatinib_tdm.tdm._dosing import RegimenEvaluation, RegimenTable, recommend_regimen
from imatinib_tdm.tdm._findings import TroughStatus
from imatinib_tdm.tdm._regimens import Regimen
from imatinib_tdm.tdm._status_advice import BASIS_ESTIMATE, BASIS_MEASURED, advice_for_status

TARGET = 1100.0
ALERT = 1451.6


def _regimen(daily: float) -> Regimen:
    return Regimen(dose_mg=daily, interval_h=24.0, rule_id="test", basis="label", tablets=())


def _row(daily: float, median: float, p_target: float, p_alert: float) -> RegimenEvaluation:
    return RegimenEvaluation(
        regimen=_regimen(daily),
        trough_median_ng_per_ml=median,
        trough_p5_ng_per_ml=0.7 * median,
        trough_p95_ng_per_ml=1.4 * median,
        probability_target_attained=p_target,
        probability_above_alert=p_alert,
    )


def _advice(*rows: RegimenEvaluation):  # type: ignore[no-untyped-def]
    table = RegimenTable(
        rows=rows,
        model_id="m",
        model_citation="c",
        target_id="t",
        target_ng_per_ml=TARGET,
        target_verification="verified",
        alert_id="a",
        alert_ng_per_ml=ALERT,
        alert_verification="verified",
        n_draws=100,
        effective_n_draws=100.0,
        weighted=False,
        caveats=(),
    )
    return recommend_regimen(table, probability=0.8, max_alert_probability=0.5)


# a shrunken posterior: the Bayesian rule alone wants 500 mg/day for everybody
ROWS = (
    _row(300, 800, 0.10, 0.0),
    _row(400, 1000, 0.40, 0.05),
    _row(500, 1300, 0.85, 0.30),
    _row(600, 1550, 0.95, 0.60),
)


def _call(status: TroughStatus, measured: float | None, **kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "measured_trough_ng_per_ml": measured,
        "at_steady_state": True,
        "below_lloq_on_regular_dosing": False,
        "current": _regimen(400),
    }
    args.update(kw)
    out = advice_for_status(_advice(*ROWS), status, **args)  # type: ignore[arg-type]
    assert out is not None
    return out


def test_bayesian_rule_alone_would_increase() -> None:
    assert _advice(*ROWS).recommended is not None
    assert _advice(*ROWS).recommended.regimen.daily_dose_mg == 500  # type: ignore[union-attr]


def test_on_target_measured_trough_continues_the_current_dose() -> None:
    out = _call(TroughStatus.ON_TARGET, 1200.0)
    assert out["status"] == "continue"
    assert out["daily_dose_mg"] == 400
    assert out["basis"] == BASIS_MEASURED
    assert out["probability_on_target"] == pytest.approx(0.40)
    assert "Bayesian estimate alone would choose 500 mg" in str(out["reason"])


def test_above_alert_only_lower_doses() -> None:
    out = _call(TroughStatus.ABOVE_ALERT, 1600.0)
    assert out["daily_dose_mg"] == 300
    assert "lower daily dose" in str(out["reason"])
    # the wording is about the trade-off with the alert, not about raising exposure
    assert "inducers" not in str(out["reason"])


def test_above_alert_applies_even_before_steady_state() -> None:
    out = _call(TroughStatus.ABOVE_ALERT, 1600.0, at_steady_state=False)
    assert out["daily_dose_mg"] == 300


def test_subtherapeutic_only_higher_doses() -> None:
    out = _call(TroughStatus.SUBTHERAPEUTIC, 700.0)
    assert out["daily_dose_mg"] == 500
    assert out["status"] == "recommended"


def test_subtherapeutic_at_the_highest_dose_is_withheld() -> None:
    out = _call(TroughStatus.SUBTHERAPEUTIC, 700.0, current=_regimen(600))
    assert out["status"] == "withheld"
    assert out["dose_mg"] is None


def test_below_lloq_on_regular_dosing_gives_no_dose() -> None:
    out = _call(TroughStatus.BELOW_LLOQ, None, below_lloq_on_regular_dosing=True)
    assert out["status"] == "withheld"
    assert out["dose_mg"] is None
    assert "adherence" in str(out["reason"])


@pytest.mark.parametrize("status", [TroughStatus.ON_TARGET, TroughStatus.SUBTHERAPEUTIC])
def test_not_at_steady_state_keeps_the_bayesian_advice(status: TroughStatus) -> None:
    out = _call(status, 1200.0, at_steady_state=False)
    assert out["basis"] == BASIS_ESTIMATE
    assert out["daily_dose_mg"] == 500


def test_estimated_trough_keeps_the_bayesian_advice() -> None:
    out = _call(TroughStatus.SUBTHERAPEUTIC, None)
    assert out["basis"] == BASIS_ESTIMATE
    assert out["daily_dose_mg"] == 500
