"""Tests of tdm/_interactions.py: the knowledge file, its guards, and co-medication matching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from imatinib_tdm.errors import KnowledgeBaseError
from imatinib_tdm.tdm._interactions import (
    AffectedDrug,
    Direction,
    DrugClass,
    EffectBasis,
    MatchKind,
    interaction_names,
    load_interactions,
    match_comedications,
    normalize_drug_name,
)
from imatinib_tdm.tdm._knowledge import Verification

DATA = Path(__file__).resolve().parents[2] / "src" / "imatinib_tdm" / "data"

REQUIRED_IDS = {
    "rifampicin",
    "rifabutin",
    "carbamazepine",
    "phenytoin",
    "fosphenytoin",
    "phenobarbital",
    "primidone",
    "oxcarbazepine",
    "st_johns_wort",
    "dexamethasone",
    "efavirenz",
    "ketoconazole",
    "itraconazole",
    "voriconazole",
    "posaconazole",
    "clarithromycin",
    "erythromycin",
    "ritonavir",
    "cobicistat",
    "grapefruit_juice",
    "omeprazole",
    "esomeprazole",
    "pantoprazole",
    "antacid_al_mg_hydroxide",
    "famotidine",
}


def _raw() -> dict[str, Any]:
    return yaml.safe_load((DATA / "interactions.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "interactions.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _entry(raw: dict[str, Any], entry_id: str) -> dict[str, Any]:
    return next(e for e in raw["interactions"] if e["id"] == entry_id)  # type: ignore[no-any-return]


def _one(name: str) -> Any:
    (match,) = match_comedications([name])
    return match


# --- the knowledge file -----------------------------------------------------------------------


def test_file_loads_and_is_cached() -> None:
    assert load_interactions() is load_interactions()
    ids = {e.id for e in load_interactions().interactions}
    assert ids >= REQUIRED_IDS


def test_every_entry_has_a_source_and_grade() -> None:
    kb = load_interactions()
    for entry in kb.interactions:
        assert entry.source.citation.strip(), entry.id
        assert isinstance(entry.verification, Verification)
        if entry.source.is_unknown:
            assert entry.verification is Verification.UNVERIFIED, entry.id
        assert entry.action.sources, entry.id
        for effect in entry.effects:
            assert not effect.source.is_unknown, entry.id
            assert effect.verification is not Verification.UNVERIFIED, entry.id
        kb.class_definition(entry.drug_class)  # every class used is defined, with a source


def test_unverified_entries_carry_no_numbers() -> None:
    for entry in load_interactions().interactions:
        if entry.verification is Verification.UNVERIFIED:
            assert entry.effect is None and not entry.other_effects, entry.id


def test_class_effect_entries_say_so() -> None:
    for entry in load_interactions().interactions:
        if entry.effect is None and entry.direction in (Direction.DECREASES, Direction.INCREASES):
            assert "class effect, no imatinib-specific figure" in (entry.notes or ""), entry.id


def test_published_figures_are_those_of_the_kb() -> None:
    kb = load_interactions()
    rif = kb["rifampicin"]
    assert rif.effect is not None
    assert (rif.effect.parameter, rif.effect.change_pct) == ("AUC0-inf", -74)
    assert rif.effect.source.doi == "10.1007/s00280-003-0722-9"
    others = {(e.parameter, e.change_pct) for e in rif.other_effects}
    assert {("AUC0-24", -68), ("Cmax", -54), ("CL/F", 385)} <= others
    assert rif.drug_class is DrugClass.STRONG_CYP3A4_INDUCER

    keto = kb["ketoconazole"]
    assert keto.effect is not None
    assert (keto.effect.parameter, keto.effect.change_pct) == ("AUC0-inf", 40)
    assert ("Cmax", 26) in {(e.parameter, e.change_pct) for e in keto.other_effects}
    assert keto.direction is Direction.INCREASES

    sjw = kb["st_johns_wort"]
    assert sjw.effect is not None
    assert (sjw.effect.parameter, sjw.effect.change_pct) == ("AUC0-inf", -30)
    assert sjw.effect.source.pmid == "15470331"
    smith = [e for e in sjw.other_effects if e.source.doi == "10.1592/phco.24.16.1508.50958"]
    assert ("AUC0-inf", -32) in {(e.parameter, e.change_pct) for e in smith}

    for drug in ("carbamazepine", "phenytoin", "fosphenytoin", "phenobarbital", "primidone"):
        effect = kb[drug].effect
        assert effect is not None
        assert (effect.change_pct, effect.basis) == (-73, EffectBasis.CLASS_POOLED)
        assert -68 in {e.change_pct for e in kb[drug].other_effects}

    for drug in ("omeprazole", "antacid_al_mg_hydroxide"):
        entry = kb[drug]
        assert entry.direction is Direction.NO_EFFECT
        assert entry.effect is not None and entry.effect.significant is False
    assert "P = 0.64" in kb["omeprazole"].effect.comparison  # type: ignore[union-attr]
    assert "P = 0.37" in kb["antacid_al_mg_hydroxide"].effect.comparison  # type: ignore[union-attr]


def test_kb_silent_drugs_are_unverified_without_numbers() -> None:
    kb = load_interactions()
    for drug in ("rifabutin", "efavirenz", "cobicistat", "famotidine"):
        entry = kb[drug]
        assert entry.verification is Verification.UNVERIFIED
        assert entry.effect is None


def test_imatinib_as_perpetrator_is_marked() -> None:
    simva = load_interactions()["simvastatin"]
    assert simva.affected_drug is AffectedDrug.COMEDICATION
    assert not simva.changes_imatinib_exposure
    assert load_interactions()["rifampicin"].changes_imatinib_exposure


def test_unknown_id_refused() -> None:
    with pytest.raises(KnowledgeBaseError, match="no interaction with id"):
        load_interactions()["nope"]


def test_loaded_knowledge_is_frozen() -> None:
    entry = load_interactions()["rifampicin"]
    with pytest.raises(ValueError):
        entry.direction = Direction.INCREASES  # type: ignore[misc]


# --- guards of the schema ----------------------------------------------------------------------


def test_entry_without_source_refused(tmp_path: Path) -> None:
    raw = _raw()
    del _entry(raw, "rifampicin")["source"]
    with pytest.raises(KnowledgeBaseError, match=r"rifampicin.*source.*required"):
        load_interactions(_write(tmp_path, raw))


def test_effect_without_source_refused(tmp_path: Path) -> None:
    raw = _raw()
    del _entry(raw, "ketoconazole")["effect"]["source"]
    with pytest.raises(KnowledgeBaseError, match="source"):
        load_interactions(_write(tmp_path, raw))


def test_unknown_source_must_be_unverified(tmp_path: Path) -> None:
    raw = _raw()
    _entry(raw, "dexamethasone")["source"] = {"citation": "unknown"}
    with pytest.raises(KnowledgeBaseError, match="must be 'unverified'"):
        load_interactions(_write(tmp_path, raw))


def test_unverified_entry_with_a_number_refused(tmp_path: Path) -> None:
    raw = _raw()
    cobi = _entry(raw, "cobicistat")
    cobi["effect"] = dict(_entry(raw, "ketoconazole")["effect"])
    with pytest.raises(KnowledgeBaseError, match="unverified and cannot carry published figures"):
        load_interactions(_write(tmp_path, raw))


def test_direction_contradicting_the_class_refused(tmp_path: Path) -> None:
    raw = _raw()
    _entry(raw, "itraconazole")["direction"] = "decreases"
    with pytest.raises(KnowledgeBaseError, match="implies direction 'increases'"):
        load_interactions(_write(tmp_path, raw))


def test_figure_contradicting_the_direction_refused(tmp_path: Path) -> None:
    raw = _raw()
    _entry(raw, "rifampicin")["effect"]["change_pct"] = 74
    with pytest.raises(KnowledgeBaseError, match="contradicts direction 'decreases'"):
        load_interactions(_write(tmp_path, raw))


def test_class_effect_without_note_refused(tmp_path: Path) -> None:
    raw = _raw()
    _entry(raw, "itraconazole")["notes"] = "named in the label"
    with pytest.raises(KnowledgeBaseError, match="no imatinib-specific figure"):
        load_interactions(_write(tmp_path, raw))


def test_name_shared_by_two_entries_refused(tmp_path: Path) -> None:
    raw = _raw()
    _entry(raw, "rifabutin")["synonyms"] = ["Rifampin"]
    with pytest.raises(KnowledgeBaseError, match="must point to one entry"):
        load_interactions(_write(tmp_path, raw))


# --- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("rifampicin", MatchKind.EXACT),
        ("Rifampin", MatchKind.SYNONYM),
        ("RIFAMPICINE", MatchKind.SYNONYM),
        ("rifampcin", MatchKind.FUZZY),
        ("Rifadin", MatchKind.BRAND),
        ("  Rifampicin 600 mg ", MatchKind.EXACT),
    ],
)
def test_rifampicin_names_match(name: str, kind: MatchKind) -> None:
    match = _one(name)
    assert match.entry is not None and match.entry.id == "rifampicin"
    assert match.kind is kind
    assert match.query == name
    if kind is MatchKind.FUZZY:
        assert 0.8 <= match.score < 1.0
        assert match.matched_name == "rifampicin"
    else:
        assert match.score == 1.0


def test_omeprazol_matches_omeprazole_with_no_effect() -> None:
    match = _one("omeprazol")
    assert match.entry is not None and match.entry.id == "omeprazole"
    assert match.entry.direction is Direction.NO_EFFECT


def test_unknown_drug_reported_unmatched() -> None:
    matches = match_comedications(["paracetamol", "Rifadin"])
    assert [m.query for m in matches] == ["paracetamol", "Rifadin"]
    unknown = matches[0]
    assert unknown.entry is None and not unknown.is_matched
    assert (unknown.kind, unknown.score) == (MatchKind.NONE, 0.0)


@pytest.mark.parametrize(
    ("name", "entry_id"),
    [
        ("St. John's Wort", "st_johns_wort"),
        ("saint johns wort", "st_johns_wort"),
        ("Hypericum perforatum", "st_johns_wort"),
        ("carbamazépine", "carbamazepine"),
        ("Tegretol XR", "carbamazepine"),
        ("fosphenytoïne", "fosphenytoin"),
        ("phenobarbitone", "phenobarbital"),
        ("KETOKONAZOLE", "ketoconazole"),
        ("clarithromicin", "clarithromycin"),
        ("esomeprazole magnesium 40 mg", "esomeprazole"),
        ("Nexium", "esomeprazole"),
        ("Maalox", "antacid_al_mg_hydroxide"),
        ("magnesium hydroxide", "antacid_al_mg_hydroxide"),
        ("lopinavir/ritonavir", "lopinavir_ritonavir"),
        ("Kaletra", "lopinavir_ritonavir"),
        ("grapefruit", "grapefruit_juice"),
        ("Pepcid", "famotidine"),
    ],
)
def test_spelling_tolerant_matching(name: str, entry_id: str) -> None:
    match = _one(name)
    assert match.entry is not None, name
    assert match.entry.id == entry_id


def test_combination_gives_one_result_per_component() -> None:
    matches = match_comedications(["rifampicin/isoniazid"])
    assert [(m.component, m.entry.id if m.entry else None) for m in matches] == [
        ("rifampicin", "rifampicin"),
        ("isoniazid", None),
    ]
    assert all(m.query == "rifampicin/isoniazid" for m in matches)


def test_no_fuzzy_match_on_short_names_or_other_first_letter() -> None:
    assert not _one("abc").is_matched
    # two edits from pantoprazole, but a misspelt first letter is not trusted
    assert not _one("xantoprazole").is_matched


def test_unmatched_near_miss_has_suggestions() -> None:
    near = _one("itraconazoleeee")  # three edits: too far for a fuzzy match
    assert not near.is_matched
    assert near.kind is MatchKind.NONE
    assert "itraconazole" in near.suggestions


def test_single_string_refused() -> None:
    with pytest.raises(TypeError, match="sequence of names"):
        match_comedications("rifampicin")


def test_normalisation() -> None:
    assert normalize_drug_name("St.-John's  Wört") == "stjohnswort"
    assert normalize_drug_name("RIFAMPICINE") == "rifampicine"


def test_interaction_names_for_autocomplete() -> None:
    names = interaction_names()
    assert len(names) == len(set(names))
    assert {"rifampicin", "Rifadin", "rifampin", "St John's wort", "omeprazole"} <= set(names)
    assert list(names) == sorted(names, key=str.casefold)
    for name in names:
        assert _one(name).kind in (MatchKind.EXACT, MatchKind.SYNONYM, MatchKind.BRAND)
