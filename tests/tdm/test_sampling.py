"""Tests of tdm/_sampling.py and tdm/_sampling_rules.py: timing, steady state, LLOQ, assay, units,
the trough classification boundaries, and the sampling knowledge file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from imatinib_tdm.case import Case, load_demo_case, parse_case
from imatinib_tdm.errors import CaseError, KnowledgeBaseError
from imatinib_tdm.tdm._findings import FindingCategory, Severity, TroughStatus
from imatinib_tdm.tdm._knowledge import Indication, load_targets, load_trough_correction
from imatinib_tdm.tdm._sampling import (
    LloqOrigin,
    SampleCheck,
    check_sampling,
    classify_sample,
    classify_trough,
)
from imatinib_tdm.tdm._sampling_rules import load_sampling_rules

DATA = Path(__file__).resolve().parents[2] / "src" / "imatinib_tdm" / "data"
QD = [{"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 50}]
# last once-daily dose: 2026-11-19T08:00


def _case(
    time: str = "2026-11-20T07:30",
    *,
    doses: list[dict[str, Any]] | None = None,
    missed: list[str] | None = None,
    **sample: Any,
) -> Case:
    fields: dict[str, Any] = {
        "id": "S1",
        "time": time,
        "concentration": 820,
        "unit": "ng/mL",
        "lloq": 50,
        "assay": "LC-MS/MS",
    }
    fields.update(sample)
    fields = {k: v for k, v in fields.items() if v is not None}
    changes: dict[str, Any] = {"samples": [fields], "doses": doses or QD}
    if missed is not None:
        changes["missed_doses"] = missed
    return load_demo_case("demo-001").replace(**changes)


def _latest(case: Case) -> SampleCheck:
    latest = check_sampling(case).latest
    assert latest is not None
    return latest


def _codes(check: SampleCheck) -> list[str]:
    return [f.code for f in check.findings]


GIST_TARGET = load_targets().default_target(Indication.GIST)
GIST_ALERT = load_targets().default_alert(Indication.GIST)


# --- timing ---------------------------------------------------------------------------------


def test_trough_at_23_5_h_is_a_trough() -> None:
    s = _latest(load_demo_case("demo-001"))
    assert s.time_since_last_dose_h == pytest.approx(23.5)
    assert s.interval_h == 24
    assert s.trough_window_id == "trough_window_once_daily"
    assert (s.window_lower_h, s.window_upper_h) == (21.0, 27.0)
    assert s.offset_from_trough_h == pytest.approx(-0.5)
    assert s.is_trough and s.is_steady_state
    assert s.not_interpretable_reason is None
    assert s.findings == ()
    assert classify_sample(s, GIST_TARGET, GIST_ALERT) is TroughStatus.SUBTHERAPEUTIC  # 820 < 1100


def test_sample_4_h_after_the_dose_is_off_time() -> None:
    s = _latest(_case("2026-11-19T12:00"))
    assert s.time_since_last_dose_h == pytest.approx(4.0)
    assert not s.is_trough
    assert not s.is_absorption_phase  # 4 h is the end of the absorption phase, not inside it
    off = next(f for f in s.findings if f.code == "off_time_sample")
    assert off.category is FindingCategory.SAMPLING
    assert off.severity is Severity.WARNING
    assert off.evidence["time_since_last_dose_h"] == pytest.approx(4.0)
    assert off.evidence["offset_from_trough_h"] == pytest.approx(-20.0)
    assert "trough_window_once_daily" in off.references
    assert s.not_interpretable_reason is not None
    assert "estimate the trough" in s.not_interpretable_reason
    assert classify_sample(s, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE


def test_absorption_phase_sample_is_critical() -> None:
    s = _latest(_case("2026-11-19T10:00"))
    assert s.is_absorption_phase
    top = s.findings[0]
    assert (top.code, top.severity) == ("absorption_phase_sample", Severity.CRITICAL)
    assert top.evidence["min_time_after_dose_h"] == 4.0
    assert "min_time_after_dose_icome" in top.references


@pytest.mark.parametrize(
    ("time", "is_trough"),
    [
        ("2026-11-20T05:00", True),  # 21 h: lower end included
        ("2026-11-20T11:00", True),  # 27 h: upper end included
        ("2026-11-20T04:54", False),  # 20.9 h
        ("2026-11-20T11:06", False),  # 27.1 h
    ],
)
def test_window_ends(time: str, is_trough: bool) -> None:
    assert _latest(_case(time)).is_trough is is_trough


def test_inside_window_but_outside_study_practice_is_info() -> None:
    s = _latest(_case("2026-11-20T05:30"))  # 21.5 h: 2.5 h early
    assert s.is_trough
    (finding,) = s.findings
    assert (finding.code, finding.severity) == ("outside_study_practice_window", Severity.INFO)
    assert finding.evidence["study_practice_tolerance_h"] == 2.0
    assert "sampling_time_24h" in finding.references


def test_twice_daily_at_11_5_h_is_a_trough() -> None:
    bid = [{"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 12, "count": 100}]
    s = _latest(_case("2026-11-20T07:30", doses=bid))  # last dose 2026-11-19T20:00
    assert s.interval_h == 12
    assert s.time_since_last_dose_h == pytest.approx(11.5)
    assert s.trough_window_id == "trough_window_twice_daily"
    assert s.is_trough
    assert s.findings == ()


def test_interleaved_entries_are_twice_daily() -> None:
    doses = [
        {"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 50},
        {"time": "2026-10-01T20:00", "amount_mg": 400, "interval_h": 24, "count": 50},
    ]
    s = _latest(_case("2026-11-20T07:30", doses=doses))
    assert s.interval_h == 12
    assert s.is_trough
    assert s.days_since_dose_change is None


def test_dose_diary_of_single_doses_uses_the_gap() -> None:
    doses = [{"time": f"2026-11-{d:02d}T08:00", "amount_mg": 400} for d in range(1, 20)]
    s = _latest(_case("2026-11-20T07:30", doses=doses))
    assert s.interval_h == 24
    assert s.is_trough
    assert s.days_since_dose_change is None


def test_missed_dose_before_the_sample() -> None:
    s = _latest(_case("2026-11-20T07:30", missed=["2026-11-19T08:00"]))
    assert s.time_since_last_dose_h == pytest.approx(47.5)
    assert s.n_missed_doses_since_last_dose == 1
    assert {"missed_dose_before_sample", "off_time_sample"} <= set(_codes(s))


def test_interval_without_window() -> None:
    q48 = [{"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 48, "count": 25}]
    s = _latest(_case("2026-11-20T07:30", doses=q48))  # last dose 2026-11-18T08:00
    assert s.trough_window_id is None and not s.is_trough
    assert "interval_without_trough_window" in _codes(s)
    assert classify_sample(s, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE


def test_sample_at_the_first_dose_time_has_no_dose_before_it() -> None:
    s = _latest(_case("2026-10-01T08:00"))
    assert s.last_dose_time_h is None
    assert s.findings[0].code == "no_dose_before_sample"
    assert s.findings[0].severity is Severity.CRITICAL
    assert classify_sample(s, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE


# --- steady state ---------------------------------------------------------------------------


def test_20_days_on_therapy_is_not_steady_state() -> None:
    doses = [{"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 20}]
    s = _latest(_case("2026-10-21T07:30", doses=doses))  # 19.98 days after the first dose
    assert s.is_trough
    assert s.days_on_therapy == pytest.approx(19.98, abs=0.01)
    assert not s.is_steady_state
    finding = next(f for f in s.findings if f.code == "not_steady_state_days_on_therapy")
    assert finding.evidence["min_days_on_therapy"] == 29
    assert set(finding.references) >= {"sampling_arup_days", "steady_state_lab_practice"}
    # the model-free note: elimination alone is long done
    assert s.steady_state_fraction_frac > 0.99
    assert "Model-free" in s.steady_state_note


def test_dose_change_5_days_before_is_not_steady_state() -> None:
    doses = [
        {"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 45},
        {"time": "2026-11-15T08:00", "amount_mg": 600, "interval_h": 24, "count": 5},
    ]
    s = _latest(_case(doses=doses))
    assert s.is_trough
    assert s.days_on_therapy > 29
    assert s.days_since_dose_change == pytest.approx(4.98, abs=0.01)
    assert not s.is_steady_state
    finding = next(f for f in s.findings if f.code == "not_steady_state_dose_change")
    assert finding.evidence["min_days_after_dose_change"] == 8
    assert finding.evidence["days_since_dose_change"] == pytest.approx(4.98, abs=0.01)
    # ke 0.041 1/h over 119.5 h
    assert s.steady_state_fraction_frac == pytest.approx(0.9926, abs=1e-3)
    assert s.steady_state_fraction_slow_frac < s.steady_state_fraction_frac


def test_change_of_interval_counts_and_restart_after_pause_counts() -> None:
    to_bid = [
        {"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 45},
        {"time": "2026-11-15T08:00", "amount_mg": 400, "interval_h": 12, "count": 10},
    ]
    assert _latest(_case("2026-11-20T07:30", doses=to_bid)).days_since_dose_change == (
        pytest.approx(4.98, abs=0.01)
    )
    restart = [
        {"time": "2026-10-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 30},
        {"time": "2026-11-15T08:00", "amount_mg": 400, "interval_h": 24, "count": 5},
    ]
    s = _latest(_case(doses=restart))
    assert s.days_since_dose_change == pytest.approx(4.98, abs=0.01)
    assert not s.is_steady_state


def test_a_missed_dose_is_not_a_dose_change() -> None:
    s = _latest(_case(missed=["2026-11-15T08:00"]))
    assert s.days_since_dose_change is None
    assert s.is_steady_state
    assert s.n_missed_doses_in_window == 1
    finding = next(f for f in s.findings if f.code == "missed_doses_in_steady_state_window")
    assert finding.severity is Severity.CAUTION
    assert finding.evidence["n_missed_doses"] == 1


# --- LLOQ -----------------------------------------------------------------------------------


def test_blq_sample_with_its_own_lloq() -> None:
    s = _latest(_case(concentration=0, lloq=50))
    assert s.is_below_lloq
    assert (s.lloq_ng_per_ml, s.lloq_origin, s.lloq_source_id) == (50.0, LloqOrigin.SAMPLE, None)
    finding = next(f for f in s.findings if f.code == "below_lloq")
    assert finding.category is FindingCategory.ANALYTICAL
    assert finding.evidence["is_default_lloq"] is False
    assert "given with the sample" in finding.message
    assert classify_sample(s, GIST_TARGET, GIST_ALERT) is TroughStatus.BELOW_LLOQ


def test_blq_by_the_default_lloq_names_its_source() -> None:
    s = _latest(_case(concentration=30, lloq=None))
    assert s.lloq_origin is LloqOrigin.DEFAULT
    assert s.lloq_source_id == "default_lloq_lc_ms_ms"
    assert s.lloq_ng_per_ml == 50.0
    assert s.is_below_lloq
    finding = next(f for f in s.findings if f.code == "below_lloq")
    assert finding.references == ("default_lloq_lc_ms_ms",)
    assert finding.evidence["is_default_lloq"] is True
    assert "default_lloq_used" in _codes(s)
    assert classify_sample(s, GIST_TARGET) is TroughStatus.BELOW_LLOQ


def test_zero_without_lloq_is_censored_by_the_default() -> None:
    s = _latest(_case(concentration=0, lloq=None))
    assert s.is_below_lloq and s.lloq_origin is LloqOrigin.DEFAULT
    assert {"zero_without_lloq", "below_lloq", "default_lloq_used"} <= set(_codes(s))


def test_lloq_in_another_unit_is_converted() -> None:
    s = _latest(_case(concentration=0.82, unit="ug/mL", lloq=0.05))
    assert s.lloq_ng_per_ml == pytest.approx(50.0)
    assert s.concentration_ng_per_ml == pytest.approx(820.0)
    assert not s.is_below_lloq


# --- assay, matrix, units -------------------------------------------------------------------


def test_hplc_uv_is_flagged() -> None:
    s = _latest(_case(assay="HPLC-UV"))
    assert s.is_preferred_assay is False
    finding = next(f for f in s.findings if f.code == "assay_not_preferred")
    assert (finding.category, finding.severity) == (FindingCategory.ANALYTICAL, Severity.CAUTION)
    assert finding.references == ("assay_lc_ms_ms_preferred",)
    assert classify_sample(s, GIST_TARGET) is TroughStatus.SUBTHERAPEUTIC  # still usable


@pytest.mark.parametrize("assay", ["LC-MS/MS", "UPLC-MS/MS", "uhplc–ms/ms", "LC-MS-MS (Xevo TQ)"])
def test_lc_ms_ms_spellings_are_preferred(assay: str) -> None:
    s = _latest(_case(assay=assay))
    assert s.is_preferred_assay is True
    assert s.findings == ()


def test_missing_assay_is_info() -> None:
    s = _latest(_case(assay=None))
    assert s.is_preferred_assay is None
    assert [(f.code, f.severity) for f in s.findings] == [("assay_not_reported", Severity.INFO)]


def test_1_2_ng_per_ml_is_a_unit_mix_up() -> None:
    s = _latest(_case(concentration=1.2, lloq=None))
    top = s.findings[0]
    assert (top.code, top.severity) == ("unit_mix_up_suspected", Severity.CRITICAL)
    assert top.category is FindingCategory.ANALYTICAL
    assert top.evidence["suspect_low_ng_per_ml"] == 10.0
    assert "unit_plausibility_case_limits" in top.references
    assert s.not_interpretable_reason is not None and "unit mix-up" in s.not_interpretable_reason
    assert classify_sample(s, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE


def test_1_2_written_below_its_lloq_is_still_suspected() -> None:
    s = _latest(_case(concentration=1.2, lloq=50))
    assert s.is_below_lloq
    assert s.findings[0].code == "unit_mix_up_suspected"
    assert "1200 ng/mL" in s.findings[0].message
    # the unit question comes before reading it as a censored level
    assert classify_sample(s, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE


def test_1000_fold_too_high_is_a_unit_mix_up() -> None:
    s = _latest(_case(concentration=820_000))
    assert s.findings[0].code == "unit_mix_up_suspected"


def test_dried_blood_spot_targets_do_not_apply() -> None:
    s = _latest(_case(matrix="dried_blood_spot"))
    finding = next(f for f in s.findings if f.code == "matrix_not_plasma")
    assert finding.references == ("matrix_dried_blood_spot",)
    assert classify_sample(s, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE
    serum = _latest(_case(matrix="serum"))
    assert [f.code for f in serum.findings] == ["matrix_assumed_plasma"]


# --- assessment -----------------------------------------------------------------------------


def test_latest_sample_by_time_and_every_sample_checked() -> None:
    base = load_demo_case("demo-001")
    case = base.replace(
        samples=[
            {"id": "late", "time": "2026-11-20T07:30", "concentration": 820, "unit": "ng/mL"},
            {"id": "early", "time": "2026-11-19T12:00", "concentration": 2100, "unit": "ng/mL"},
        ]
    )
    result = check_sampling(case)
    assert [s.sample_label for s in result.samples] == ["late", "early"]
    assert result.latest is not None and result.latest.sample_label == "late"
    assert "off_time_sample" in _codes(result.samples[1])
    assert "off_time_sample" not in [f.code for f in result.findings]  # only the latest's
    assert all(f.sample_id in {"late", None} for f in result.findings)


def test_no_sample_yet() -> None:
    result = check_sampling(load_demo_case("demo-001").replace(samples=[]))
    assert result.latest is None and result.samples == ()
    assert [f.code for f in result.findings] == ["no_sample"]


def test_case_from_yaml_text_and_json_output() -> None:
    case = parse_case(
        yaml.safe_load(
            """
            patient: {id: p1, indication: CML}
            doses: [{time: 0, amount_mg: 400, interval_h: 24, count: 10}]
            samples: [{id: A, time: 220.5, concentration: 1.1, unit: ug/mL, assay: HPLC-UV}]
            """
        )
    )
    result = check_sampling(case)
    assert result.latest is not None
    assert result.latest.time_since_last_dose_h == pytest.approx(4.5)
    codes = {f.code for f in result.findings}
    assert {"off_time_sample", "not_steady_state_days_on_therapy", "assay_not_preferred"} <= codes
    out = result.to_dict()
    assert json.loads(json.dumps(out)) == out
    assert out["latest"]["lloq_origin"] == "default"
    assert "sampling_arup_days" in out["rule_ids"]


def test_every_reference_is_a_known_knowledge_id() -> None:
    rules = load_sampling_rules()
    known = set(check_sampling(load_demo_case("demo-001")).rule_ids) | {
        p.id for p in rules.study_practice.values()
    }
    cases = [
        _case("2026-11-19T10:00", concentration=0, lloq=None, assay="HPLC-UV"),
        _case("2026-11-20T05:30", matrix="dried_blood_spot", concentration=1.2),
        _case(missed=["2026-11-15T08:00"], matrix="serum"),
    ]
    for case in cases:
        for check in check_sampling(case).samples:
            for finding in check.findings:
                assert set(finding.references) <= known, finding


# --- classify_trough --------------------------------------------------------------------------


def test_classification_boundaries_gist() -> None:
    assert GIST_TARGET.value_ng_per_ml == 1100 and GIST_ALERT is not None
    assert classify_trough(1100.0, False, GIST_TARGET, GIST_ALERT) is TroughStatus.ON_TARGET
    assert classify_trough(1099.99, False, GIST_TARGET, GIST_ALERT) is TroughStatus.SUBTHERAPEUTIC
    assert classify_trough(1451.6, False, GIST_TARGET, GIST_ALERT) is TroughStatus.ON_TARGET
    assert classify_trough(1451.7, False, GIST_TARGET, GIST_ALERT) is TroughStatus.ABOVE_ALERT
    assert classify_trough(5000.0, False, GIST_TARGET) is TroughStatus.ON_TARGET  # no alert


def test_classification_boundaries_cml_and_plain_numbers() -> None:
    cml = load_targets().default_target(Indication.CML)
    assert classify_trough(1000.0, False, cml) is TroughStatus.ON_TARGET
    assert classify_trough(999.0, False, cml) is TroughStatus.SUBTHERAPEUTIC
    assert classify_trough(760.0, False, 760.0, 1500.0) is TroughStatus.ON_TARGET
    assert classify_trough(1500.5, False, 760.0, 1500.0) is TroughStatus.ABOVE_ALERT


def test_below_lloq_wins_and_no_value_is_not_interpretable() -> None:
    assert classify_trough(30.0, True, GIST_TARGET) is TroughStatus.BELOW_LLOQ
    assert classify_trough(None, True, GIST_TARGET) is TroughStatus.BELOW_LLOQ
    assert classify_trough(None, False, GIST_TARGET) is TroughStatus.NOT_INTERPRETABLE
    assert classify_trough(0.0, False, GIST_TARGET) is TroughStatus.SUBTHERAPEUTIC


def test_classification_refuses_bad_inputs() -> None:
    targets = load_targets()
    with pytest.raises(CaseError, match="finite number >= 0"):
        classify_trough(-1.0, False, GIST_TARGET)
    with pytest.raises(CaseError, match="finite number >= 0"):
        classify_trough(float("nan"), False, GIST_TARGET)
    with pytest.raises(KnowledgeBaseError, match="must be above the target"):
        classify_trough(900.0, False, 1100.0, 1000.0)
    with pytest.raises(KnowledgeBaseError, match="expected 'efficacy_target'"):
        classify_trough(900.0, False, targets["gist_alert_myelosuppression_zhuang2018"])
    with pytest.raises(KnowledgeBaseError, match="> 0 ng/mL"):
        classify_trough(900.0, False, 0.0)


# --- the knowledge file ---------------------------------------------------------------------


def _raw() -> dict[str, Any]:
    return yaml.safe_load((DATA / "sampling.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "sampling.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_rules_load_cached_and_reuse_trough_correction_numbers() -> None:
    rules = load_sampling_rules()
    assert rules is load_sampling_rules()
    correction = load_trough_correction()
    # steady-state days are referenced, not repeated
    assert rules.steady_state_days is correction.sampling_days
    assert (
        rules.steady_state_days.min_days_on_therapy,
        rules.steady_state_days.min_days_after_dose_change,
    ) == (29, 8)
    assert "min_days_on_therapy" not in (DATA / "sampling.yaml").read_text(encoding="utf-8")
    qd, bid = rules.window_for(24.0), rules.window_for(12.0)
    assert qd is not None and bid is not None
    assert (qd.interval_h, qd.tolerance_h, bid.interval_h, bid.tolerance_h) == (24, 3, 12, 3)
    assert qd.source.pmid == "19730279"
    assert rules.window_for(48.0) is None
    assert rules.default_lloq.value_ng_per_ml == 50
    assert rules.default_lloq.source.citation.startswith("Iacuzzi")
    assert rules.study_practice["trough_window_once_daily"].tolerance == 2


def test_rules_entry_without_source_refused(tmp_path: Path) -> None:
    raw = _raw()
    del raw["trough_windows"][0]["source"]
    with pytest.raises(KnowledgeBaseError, match=r"trough_window_once_daily.*source.*required"):
        load_sampling_rules(_write(tmp_path, raw))


def test_rules_unknown_source_must_be_unverified(tmp_path: Path) -> None:
    raw = _raw()
    raw["default_lloq"]["source"] = {"citation": "unknown"}
    with pytest.raises(KnowledgeBaseError, match="must be 'unverified'"):
        load_sampling_rules(_write(tmp_path, raw))


def test_rules_window_beyond_its_source_refused(tmp_path: Path) -> None:
    raw = _raw()
    raw["trough_windows"][0]["tolerance"] = 4
    raw["trough_windows"][1]["interval"] = 8
    with pytest.raises(KnowledgeBaseError) as info:
        load_sampling_rules(_write(tmp_path, raw))
    message = str(info.value)
    assert "wider than the 3 h" in message
    assert "interval 8 h is not among the intervals" in message


def test_rules_broken_reference_refused(tmp_path: Path) -> None:
    raw = _raw()
    raw["steady_state"]["days_rule_ref"] = "nope"
    with pytest.raises(KnowledgeBaseError, match="'nope' is not a SamplingDaysRule"):
        load_sampling_rules(_write(tmp_path, raw))


def test_rules_wrong_unit_refused(tmp_path: Path) -> None:
    raw = _raw()
    raw["default_lloq"]["unit"] = "ug/mL"
    with pytest.raises(KnowledgeBaseError, match="unit"):
        load_sampling_rules(_write(tmp_path, raw))
