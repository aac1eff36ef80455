"""Hostile input to the case model and the case-file loader (issue 12): every value out of the
physically sensible range, every oversized list or text, every forbidden character and every YAML
alias bomb is a CaseError naming the field (never a crash later in the engine)."""

from __future__ import annotations

import copy
import math
import resource
from pathlib import Path
from typing import Any

import pytest

from imatinib_tdm.case import load_case, parse_case
from imatinib_tdm.case._limits import (
    MAX_ADMINISTRATIONS,
    MAX_COMEDICATIONS,
    MAX_DOSE_ENTRIES,
    MAX_NOTES_CHARS,
    MAX_SAMPLES,
)
from imatinib_tdm.errors import CaseError


def _case(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "patient": {"id": "p-1", "age_years": 50, "weight_kg": 70, "indication": "CML"},
        "doses": [{"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30}],
        "samples": [{"time": 719, "concentration": 1000, "unit": "ng/mL", "lloq": 50}],
    }
    data.update(overrides)
    return data


def _error(data: Any) -> CaseError:
    with pytest.raises(CaseError) as info:
        parse_case(data)
    return info.value


def _fields(error: CaseError) -> list[str]:
    return [p["field"] for p in error.fields.get("problems") or []]


HOSTILE_NUMBERS: list[tuple[str, str, Any, str]] = [
    ("tiny dose", "doses.0.amount_mg", 1e-300, "doses[0].amount_mg"),
    ("subnormal dose", "doses.0.amount_mg", 5e-324, "doses[0].amount_mg"),
    ("huge time", "samples.0.time", 1e12, "samples[0].time"),
    ("huge negative time", "doses.0.time", -1e12, "doses[0].time"),
    ("huge time as text", "samples.0.time", "1e12", "samples[0].time"),
    ("year 9999", "samples.0.time", "9999-01-01T08:00", "samples[0].time"),
    ("year 1", "samples.0.time", "0001-01-01T08:00", "samples[0].time"),
    ("big int time", "samples.0.time", 10**400, "samples[0].time"),
    ("huge concentration", "samples.0.concentration", 1e300, "samples[0].concentration"),
    ("tiny lloq", "samples.0.lloq", 1e-300, "samples[0].lloq"),
    ("huge lloq", "samples.0.lloq", 1e300, "samples[0].lloq"),
    ("huge wbc", "covariates.wbc_10e9_per_l", 1e300, "covariates.wbc_10e9_per_l"),
    ("tiny albumin", "covariates.albumin_g_per_l", 1e-300, "covariates.albumin_g_per_l"),
    ("huge agp", "covariates.agp_g_per_l", 1e9, "covariates.agp_g_per_l"),
    ("huge crcl", "covariates.crcl_ml_per_min", 1e9, "covariates.crcl_ml_per_min"),
    (
        "huge egfr",
        "covariates.egfr_ml_per_min_per_1_73m2",
        1e9,
        "covariates.egfr_ml_per_min_per_1_73m2",
    ),
    ("huge platelets", "covariates.plt_10e9_per_l", 1e9, "covariates.plt_10e9_per_l"),
    (
        "huge liver volume",
        "covariates.liver_metastasis_volume_cm3",
        1e9,
        "covariates.liver_metastasis_volume_cm3",
    ),
    ("nan weight", "patient.weight_kg", math.nan, "patient.weight_kg"),
    ("inf age", "patient.age_years", math.inf, "patient.age_years"),
]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    target: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [c[1:] for c in HOSTILE_NUMBERS],
    ids=[c[0] for c in HOSTILE_NUMBERS],
)
def test_hostile_numbers_are_refused_with_the_field(path: str, value: Any, field: str) -> None:
    data = copy.deepcopy(_case())
    _set(data, path, value)
    error = _error(data)
    assert field in _fields(error) or error.fields.get("field") == field, str(error)


def test_concentrations_are_bounded_in_ng_per_ml_whatever_the_unit() -> None:
    data = _case(samples=[{"time": 719, "concentration": 5000, "unit": "mg/L"}])
    error = _error(data)
    assert _fields(error) == ["samples[0].concentration"] and "ng/mL" in str(error)
    assert parse_case(_case(samples=[{"time": 719, "concentration": 5, "unit": "mg/L"}]))


def test_a_dose_history_longer_than_a_century_is_refused() -> None:
    # each time is within range, but the count reaches far beyond: refused on the count
    data = _case(doses=[{"time": 0, "amount_mg": 400, "interval_h": 168, "count": 40_000}])
    data["samples"] = []
    assert "doses[0].count" in _fields(_error(data))
    spread = _case(
        doses=[
            {"time": -800_000, "amount_mg": 400},
            {"time": 800_000, "amount_mg": 400},
        ]
    )
    spread["samples"] = []
    assert "doses[1].time" in _fields(_error(spread))


def test_sizes_are_bounded_with_the_limit_in_the_message() -> None:
    many_doses = _case(
        doses=[{"time": 24.0 * i, "amount_mg": 400} for i in range(MAX_DOSE_ENTRIES + 1)]
    )
    error = _error(many_doses)
    assert _fields(error)[0] == "doses" and str(MAX_DOSE_ENTRIES) in str(error)
    expanded = _case(
        doses=[
            {"time": 24.0 * 30 * i, "amount_mg": 100, "interval_h": 12, "count": 40_000}
            for i in range(2)
        ],
        samples=[],
    )
    error = _error(expanded)
    assert _fields(error)[0] == "doses" and str(MAX_ADMINISTRATIONS) in str(error)
    sample = {"time": 719, "concentration": 1000, "unit": "ng/mL"}
    error = _error(_case(samples=[sample] * (MAX_SAMPLES + 1)))
    assert _fields(error)[0] == "samples" and str(MAX_SAMPLES) in str(error)
    error = _error(_case(comedications=["aspirin"] * (MAX_COMEDICATIONS + 1)))
    assert _fields(error)[0] == "comedications"
    error = _error(_case(notes="x" * (MAX_NOTES_CHARS + 1)))
    assert _fields(error)[0] == "notes" and str(MAX_NOTES_CHARS) in str(error)
    error = _error(_case(comedications=["x" * 1000]))
    assert _fields(error)[0] == "comedications[0].name"


def test_the_largest_accepted_case_is_validated_in_bounded_time() -> None:
    data = _case(
        doses=[{"time": 24.0 * i, "amount_mg": 400} for i in range(MAX_DOSE_ENTRIES)],
        samples=[
            {"time": 24.0 * i + 23.5, "concentration": 1000, "unit": "ng/mL"}
            for i in range(0, MAX_DOSE_ENTRIES, MAX_DOSE_ENTRIES // MAX_SAMPLES)
        ],
    )
    case = parse_case(data)
    assert len(case.doses) == MAX_DOSE_ENTRIES
    # the time origin is found once (a walk over every entry), not once per conversion, which
    # made converting every time quadratic (5,000 entries: over 240 s); timings: bench/
    walks = 0
    finding = type(case)._raw_hours

    def counted(self: Any, value: Any) -> float:
        nonlocal walks
        walks += 1
        return finding(self, value)

    fresh = parse_case(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(fresh), "_raw_hours", counted)
        for dose in fresh.doses:
            fresh.hours_since_first_dose(dose.time)
    assert walks <= MAX_DOSE_ENTRIES  # at most one walk of the entries (none when cached)


@pytest.mark.parametrize(
    "bad", ["\ud800", "a\x00b", "\x07bell", "x\udfffy", "ab\u202ecd", "x\u2066y\u2069"]
)
@pytest.mark.parametrize(
    "path",
    [
        "patient.id",
        "patient.diagnosis",
        "notes",
        "samples.0.assay",
        "samples.0.id",
        "comedications",
    ],
)
def test_control_characters_and_surrogates_are_refused(path: str, bad: str) -> None:
    data = copy.deepcopy(_case())
    if path == "comedications":
        data["comedications"] = [bad]
        field = "comedications[0].name"
    else:
        _set(data, path, bad)
        field = path.replace(".0.", "[0].")
    error = _error(data)
    assert field in _fields(error), str(error)
    assert bad not in str(error)  # the value itself is never echoed
    str(error).encode("utf-8")  # and the message is valid UTF-8


def test_genotype_text_is_checked_too() -> None:
    data = _case()
    data["patient"]["genotypes"] = {"ABCB1\x00": "CT"}
    assert _error(data)


def test_notes_keep_line_breaks_and_tabs() -> None:
    case = parse_case(_case(notes="line one\n\tline two\r\n"))
    assert case.notes is not None and "\t" in case.notes


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    lines.append(f"patient: {{id: p, indication: CML, diagnosis: *a{levels - 1}}}")
    lines.append("doses: [{time: 0, amount_mg: 400}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_with_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(), encoding="utf-8")
    assert path.stat().st_size < 2000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CaseError, match="alias"):  # refused before anything is expanded
        load_case(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "patient: {id: p, indication: CML}\n"
        "doses:\n"
        "  - &regimen {time: 0, amount_mg: 400, interval_h: 24, count: 10}\n"
        "samples: [{time: 239, concentration: 900, unit: ng/mL}]\n",
        encoding="utf-8",
    )
    assert load_case(path).doses[0].count == 10


def test_oversized_and_deeply_nested_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("notes: |\n" + ("  " + "x" * 100 + "\n") * 30_000, encoding="utf-8")
    with pytest.raises(CaseError, match="too large"):
        load_case(big)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    with pytest.raises(CaseError, match="nest"):
        load_case(deep)
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    with pytest.raises(CaseError, match="nest"):
        load_case(deep_yaml)
