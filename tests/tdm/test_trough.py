"""Tests of tdm/_trough.py against the published figures (Ther Drug Monit 2009, PMID 19730279)."""

from __future__ import annotations

import json
import math

import pytest

from imatinib_tdm.errors import CaseError
from imatinib_tdm.tdm._knowledge import load_trough_correction
from imatinib_tdm.tdm._trough import CaveatSeverity, correct_trough_log_linear

TRUE_TROUGH = 1000.0
TAU = 24.0
OFFSET = 3.0  # the published figures: a sample 3 h before the trough


@pytest.mark.parametrize(
    ("ke_true", "uncorrected_pct", "corrected_pct"),
    [(0.023, 7.1, 5.3), (0.041, 13.1, 0.0), (0.070, 23.4, 9.1)],
)
def test_reproduces_published_error_figures(
    ke_true: float, uncorrected_pct: float, corrected_pct: float
) -> None:
    # A patient with elimination rate ke_true sampled 3 h early: C(τ - 3) = Cmin · exp(3 ke).
    measured = TRUE_TROUGH * math.exp(ke_true * OFFSET)
    assert 100 * (measured / TRUE_TROUGH - 1) == pytest.approx(uncorrected_pct, abs=0.05)
    result = correct_trough_log_linear(measured, TAU - OFFSET, TAU)
    error = 100 * abs(result.trough_ng_per_ml / TRUE_TROUGH - 1)
    assert error == pytest.approx(corrected_pct, abs=0.05)
    assert result.is_reliable
    assert result.caveats == ()


def test_published_figures_are_carried_from_the_data() -> None:
    r = correct_trough_log_linear(1500.0, 21.0, 24.0)
    pub = load_trough_correction().log_linear.published_errors
    assert r.published_errors.uncorrected_typical_ke_pct == pub.uncorrected_deviation.typical_ke
    assert (
        r.published_errors.corrected_low_ke_pct,
        r.published_errors.corrected_high_ke_pct,
    ) == (5.3, 9.1)
    assert r.method_id == "log_linear_wang2009"
    assert r.method_pmid == "19730279"


def test_sensitivity_range_uses_low_and_high_ke() -> None:
    r = correct_trough_log_linear(1200.0, 20.0, 24.0)
    assert r.range_low_ng_per_ml == pytest.approx(1200.0 * math.exp(-0.070 * 4))
    assert r.range_high_ng_per_ml == pytest.approx(1200.0 * math.exp(-0.023 * 4))
    assert r.range_low_ng_per_ml < r.trough_ng_per_ml < r.range_high_ng_per_ml
    # a late sample extrapolates upwards
    late = correct_trough_log_linear(900.0, 26.0, 24.0)
    assert late.trough_ng_per_ml > 900.0


def test_at_trough_nothing_changes() -> None:
    r = correct_trough_log_linear(1100.0, 24.0, 24.0)
    assert r.trough_ng_per_ml == pytest.approx(1100.0)
    assert r.range_low_ng_per_ml == pytest.approx(1100.0)


def test_absorption_phase_sample_is_unreliable() -> None:
    r = correct_trough_log_linear(2500.0, 2.0, 24.0)
    assert not r.is_reliable
    codes = {c.code: c for c in r.caveats}
    assert codes["absorption_phase_sample"].severity is CaveatSeverity.CRITICAL
    assert codes["absorption_phase_sample"].source_id == "min_time_after_dose_icome"
    assert "beyond_published_offset" in codes


def test_beyond_published_window_flagged() -> None:
    r = correct_trough_log_linear(1500.0, 14.0, 24.0)
    codes = {c.code for c in r.caveats}
    assert "beyond_published_offset" in codes
    assert "outside_acceptable_deviation" in codes  # 10 h off: the ke range spans > 20%
    assert r.is_reliable  # flagged, not refused
    inside = correct_trough_log_linear(1500.0, 22.0, 24.0)
    assert {c.code for c in inside.caveats} == set()


def test_twice_daily_interval() -> None:
    r = correct_trough_log_linear(1400.0, 10.0, 12.0)
    assert r.offset_from_trough_h == pytest.approx(-2.0)
    assert r.trough_ng_per_ml == pytest.approx(1400.0 * math.exp(-0.041 * 2.0))
    assert not any(c.code == "unpublished_interval" for c in r.caveats)
    odd = correct_trough_log_linear(1400.0, 6.0, 8.0)
    assert any(c.code == "unpublished_interval" for c in odd.caveats)


def test_custom_ke_is_reported() -> None:
    r = correct_trough_log_linear(1200.0, 21.0, 24.0, ke_per_h=0.05)
    assert not r.ke_is_population_typical
    assert r.trough_ng_per_ml == pytest.approx(1200.0 * math.exp(-0.15))
    assert any(c.code == "custom_ke" for c in r.caveats)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0.0, 21.0, 24.0), "concentration_ng_per_ml"),
        ((1000.0, -1.0, 24.0), "time_after_dose_h"),
        ((1000.0, 21.0, float("nan")), "interval_h"),
    ],
)
def test_invalid_inputs(args: tuple[float, float, float], field: str) -> None:
    with pytest.raises(CaseError, match=field):
        correct_trough_log_linear(*args)


def test_json_serialisable() -> None:
    r = correct_trough_log_linear(2500.0, 2.0, 24.0)
    data = json.loads(json.dumps(r.to_dict()))
    assert data["caveats"][0]["severity"] == "critical"
    assert data["trough_ng_per_ml"] == pytest.approx(r.trough_ng_per_ml)
