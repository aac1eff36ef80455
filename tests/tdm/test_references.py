"""Reference lookup across the knowledge files: every cited id resolves to its full sources."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from imatinib_tdm.case import load_case
from imatinib_tdm.pk.library import get_model
from imatinib_tdm.tdm import (
    find_knowledge_reference,
    interpret,
    load_dosing_rules,
    load_interactions,
    load_patient_factors,
    load_targets,
    load_trough_correction,
)
from imatinib_tdm.tdm._references import _entries_in
from imatinib_tdm.tdm._sampling_rules import load_sampling_rules

VIGNETTES = Path(__file__).resolve().parents[2] / "examples" / "vignettes"


@pytest.mark.parametrize(
    ("entry_id", "knowledge_file"),
    [
        ("rifampicin", "interactions.yaml"),
        ("gist_trough_demetri2009", "targets.yaml"),
        ("trough_window_once_daily", "sampling.yaml"),
        ("log_linear_wang2009", "trough_correction.yaml"),
        ("adherence_cmin_bjc2025", "patient_factors.yaml"),
        ("bmi_exposure_r9", "patient_factors.yaml"),
    ],
)
def test_known_ids_resolve(entry_id: str, knowledge_file: str) -> None:
    ref = find_knowledge_reference(entry_id)
    assert ref is not None
    assert ref.entry_id == entry_id and ref.knowledge_file == knowledge_file
    assert ref.verification in ("verified", "secondhand", "unverified")
    assert ref.sources and all(s.citation for s in ref.sources)
    keys = [(s.citation, s.doi) for s in ref.sources]
    assert len(keys) == len(set(keys))  # distinct


def test_own_source_comes_first_then_the_others() -> None:
    ref = find_knowledge_reference("rifampicin")
    assert ref is not None
    assert ref.sources[0].doi == "10.1007/s00280-003-0722-9"  # Bolton 2004, the entry's source
    assert len(ref.sources) > 1  # the label and review cited for the action


def test_unknown_id_is_none() -> None:
    assert find_knowledge_reference("no_such_entry") is None


def test_ids_are_unique_across_files() -> None:
    contents = (
        load_targets(),
        load_dosing_rules(),
        load_trough_correction(),
        load_sampling_rules().file,
        load_interactions(),
        load_patient_factors(),
    )
    counts = Counter(e.id for c in contents for e in _entries_in(c))
    assert [i for i, n in counts.items() if n > 1] == []


def test_every_id_cited_by_the_vignettes_resolves() -> None:
    model = get_model("widmer2006_covariate")
    cited: set[str] = set()
    for path in sorted(VIGNETTES.glob("*.yaml")):
        result = interpret(load_case(path), model)
        cited |= {r for f in result.findings for r in f["references"]}
        cited |= {i for i in (result.target_id, result.alert_id) if i}
    assert cited
    assert sorted(i for i in cited if find_knowledge_reference(i) is None) == []
