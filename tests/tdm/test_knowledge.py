"""Tests of tdm/_knowledge.py: every file loads; sourceless entries, unverified defaults refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imatinib_tdm.errors import KnowledgeBaseError
from imatinib_tdm.tdm._knowledge import (
    Indication,
    ThresholdKind,
    Verification,
    load_dosing_rules,
    load_targets,
    load_trough_correction,
)

DATA = Path(__file__).resolve().parents[2] / "src" / "imatinib_tdm" / "data"


def test_every_file_loads_and_is_cached() -> None:
    assert load_targets() is load_targets()
    assert load_dosing_rules() is load_dosing_rules()
    assert load_trough_correction() is load_trough_correction()


def test_defaults_are_the_published_ones() -> None:
    targets = load_targets()
    gist = targets.default_target(Indication.GIST)
    cml = targets.default_target(Indication.CML)
    assert (gist.id, gist.value_ng_per_ml) == ("gist_trough_demetri2009", 1100)
    assert (cml.id, cml.value_ng_per_ml) == ("cml_trough_1000", 1000)
    alert = targets.default_alert(Indication.GIST)
    assert alert is not None
    assert (alert.id, alert.value_ng_per_ml) == ("gist_alert_myelosuppression_zhuang2018", 1451.6)
    assert alert.source.pmid == "29316372"


def test_alternatives_are_selectable_by_id() -> None:
    targets = load_targets()
    ids = {t.id for t in targets.alternatives(ThresholdKind.EFFICACY_TARGET, Indication.CML)}
    assert {"cml_trough_tops_1165", "cml_trough_golabchifar_1257", "cml_trough_1000"} <= ids
    assert targets["gist_trough_real_life_760"].value_ng_per_ml == 760
    with pytest.raises(KnowledgeBaseError, match="no threshold with id"):
        targets["nope"]


def test_unverified_never_default() -> None:
    targets = load_targets()
    toxic = targets["alert_toxicity_3000_unverified"]
    assert toxic.verification is Verification.UNVERIFIED
    assert toxic.default_for == ()
    for t in targets.thresholds:
        if t.verification is Verification.UNVERIFIED:
            assert not t.default_for
    for indication in Indication:
        assert targets.default_target(indication).verification is not Verification.UNVERIFIED
        alert = targets.default_alert(indication)
        assert alert is None or alert.verification is not Verification.UNVERIFIED


def test_every_entry_has_a_source() -> None:
    for t in load_targets().thresholds:
        assert t.source.citation.strip()
        if t.source.is_unknown:
            assert t.verification is Verification.UNVERIFIED


def _write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _raw(name: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_threshold_without_source_refused(tmp_path: Path) -> None:
    raw = _raw("targets.yaml")
    del raw["thresholds"][0]["source"]
    with pytest.raises(KnowledgeBaseError, match=r"gist_trough_demetri2009.*source.*required"):
        load_targets(_write(tmp_path, "targets.yaml", raw))


def test_dosing_entry_without_source_refused(tmp_path: Path) -> None:
    raw = _raw("dosing.yaml")
    del raw["adult_regimens"][1]["source"]
    with pytest.raises(KnowledgeBaseError, match=r"adult_400_qd.*source"):
        load_dosing_rules(_write(tmp_path, "dosing.yaml", raw))


def test_trough_rule_without_source_refused(tmp_path: Path) -> None:
    raw = _raw("trough_correction.yaml")
    del raw["log_linear"]["source"]
    with pytest.raises(KnowledgeBaseError, match="source"):
        load_trough_correction(_write(tmp_path, "trough_correction.yaml", raw))


def test_unverified_default_refused(tmp_path: Path) -> None:
    raw = _raw("targets.yaml")
    toxic = next(t for t in raw["thresholds"] if t["id"] == "alert_toxicity_3000_unverified")
    toxic["default_for"] = ["gist"]
    with pytest.raises(KnowledgeBaseError, match="unverified and cannot be a default"):
        load_targets(_write(tmp_path, "targets.yaml", raw))


def test_unknown_source_must_be_unverified(tmp_path: Path) -> None:
    raw = _raw("targets.yaml")
    raw["thresholds"][0]["source"] = {"citation": "unknown"}
    with pytest.raises(KnowledgeBaseError, match="must be 'unverified'"):
        load_targets(_write(tmp_path, "targets.yaml", raw))


def test_two_defaults_for_one_indication_refused(tmp_path: Path) -> None:
    raw = _raw("targets.yaml")
    tops = next(t for t in raw["thresholds"] if t["id"] == "cml_trough_tops_1165")
    tops["default_for"] = ["cml"]
    with pytest.raises(KnowledgeBaseError, match="several default"):
        load_targets(_write(tmp_path, "targets.yaml", raw))


def test_wrong_unit_refused(tmp_path: Path) -> None:
    raw = _raw("targets.yaml")
    raw["thresholds"][0]["unit"] = "nmol/L"
    with pytest.raises(KnowledgeBaseError, match="unit"):
        load_targets(_write(tmp_path, "targets.yaml", raw))


def test_loaded_knowledge_is_frozen() -> None:
    target = load_targets()["cml_trough_1000"]
    with pytest.raises(ValueError):
        target.value = 1  # type: ignore[misc]


def test_dosing_rules_content() -> None:
    rules = load_dosing_rules()
    assert rules.tablet_strengths.strengths_mg == (100.0, 400.0)
    assert rules.adult_max_daily_dose.value == 800
    bid = next(r for r in rules.adult_regimens if r.id == "adult_400_bid")
    assert (bid.dose, bid.interval) == (400, 12)
    levels = {d.id: d.value for d in rules.paediatric.dose_levels}
    assert levels["paediatric_340_mg_per_m2"] == 340
    assert levels["paediatric_260_mg_per_m2"] == 260
    assert "Mosteller" in rules.bsa.source.citation


def test_trough_correction_content() -> None:
    rules = load_trough_correction()
    ll = rules.log_linear
    assert (ll.ke_low, ll.ke_typical, ll.ke_high) == (0.023, 0.041, 0.070)
    assert ll.source.pmid == "19730279"
    assert set(ll.published_intervals_h) == {24.0, 12.0}
    assert rules.sampling_days.min_days_on_therapy == 29
    assert rules.sampling_days.min_days_after_dose_change == 8
