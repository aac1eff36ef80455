"""Tests of imatinib_tdm.case: validation, time conventions, derived views, loading, schema."""

from __future__ import annotations

import copy
import json
import math
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from imatinib_tdm.case import (
    Case,
    Comedication,
    Indication,
    Sex,
    case_json_schema,
    demo_case_names,
    format_validation_error,
    load_case,
    load_demo_case,
    parse_case,
)
from imatinib_tdm.errors import CaseError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _case_example_files() -> list[Path]:
    files = []
    for path in sorted(EXAMPLES.glob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        text = path.read_text(encoding="utf-8")
        if "patient" in text and "doses" in text:  # other example kinds (models ...) may live here
            files.append(path)
    return files


CASE_FILES = _case_example_files()


def hours_case(**overrides: Any) -> dict[str, Any]:
    """A small valid case with times in hours since the first dose."""
    data: dict[str, Any] = {
        "patient": {
            "id": "p-1",
            "sex": "female",
            "age_years": 50,
            "weight_kg": 70,
            "indication": "CML",
        },
        "doses": [{"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30}],
        "samples": [{"time": 719, "concentration": 1000, "unit": "ng/mL", "lloq": 50}],
    }
    data.update(overrides)
    return data


def clock_case(**overrides: Any) -> dict[str, Any]:
    """A small valid case with naive clock times."""
    data: dict[str, Any] = {
        "patient": {"id": "p-2", "indication": "GIST"},
        "doses": [{"time": "2026-01-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 10}],
        "samples": [{"time": "2026-01-11T07:30", "concentration": 900, "unit": "ng/mL"}],
    }
    data.update(overrides)
    return data


def raises_case_error(data: Any) -> CaseError:
    with pytest.raises(CaseError) as info:
        parse_case(data)
    return info.value


# --- example files -------------------------------------------------------------------------------


def test_there_are_case_examples() -> None:
    names = {path.name for path in CASE_FILES}
    assert "demo-001.yaml" in names
    assert any(path.suffix == ".json" for path in CASE_FILES)
    assert len(CASE_FILES) >= 4


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_every_example_loads_without_warnings(path: Path) -> None:
    case = load_case(path)
    assert case.plausibility_warnings() == ()
    assert len(case.dose_events()) >= 1
    assert case.sample_times_h().shape == (len(case.samples),)


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_every_example_round_trips_through_json(path: Path) -> None:
    case = load_case(path)
    again = parse_case(json.loads(case.model_dump_json()))
    assert again == case


def test_packaged_demo_equals_example() -> None:
    packaged = ROOT / "src" / "imatinib_tdm" / "data" / "demo" / "demo-001.yaml"
    assert packaged.read_bytes() == (EXAMPLES / "demo-001.yaml").read_bytes()


def test_load_demo_case() -> None:
    case = load_demo_case()
    assert "demo-001" in demo_case_names()
    assert case.patient.id == "demo-001"
    assert case.patient.sex is Sex.FEMALE
    assert case.patient.indication is Indication.GIST
    assert case.comedications == (Comedication(name="rifampicin"),)
    assert case.time_origin == datetime(2026, 10, 1, 8, 0)
    assert len(case.dose_events()) == 50
    # 2026-10-01 08:00 -> 2026-11-20 07:30 is 50 days minus 30 minutes
    np.testing.assert_allclose(case.sample_times_h(), [50 * 24 - 0.5])
    np.testing.assert_allclose(case.concentrations_ng_per_ml(), [820.0])
    assert case == load_demo_case("demo-001")


@pytest.mark.parametrize("name", ["no-such-case", "../demo-001", "demo-001.yaml", ""])
def test_unknown_demo_case(name: str) -> None:
    with pytest.raises(CaseError, match=r"available: .*demo-001"):
        load_demo_case(name)


def test_committed_schema_equals_generated() -> None:
    committed = json.loads(
        (ROOT / "src" / "imatinib_tdm" / "schemas" / "case.schema.json").read_text("utf-8")
    )
    assert committed == case_json_schema(), (
        'case.schema.json is stale; regenerate with: python -c "import json; from '
        "imatinib_tdm.case import case_json_schema as s; open('src/imatinib_tdm/schemas/"
        "case.schema.json', 'w').write(json.dumps(s(), indent=2, ensure_ascii=False) + '\\n')\""
    )


def test_schema_forbids_unknown_fields_and_requires_essentials() -> None:
    schema = case_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"patient", "doses"}
    assert schema["$defs"]["Patient"]["additionalProperties"] is False
    assert "indication" in schema["$defs"]["Patient"]["required"]


# --- valid inputs --------------------------------------------------------------------------------


def test_minimal_case() -> None:
    case = parse_case(
        {"patient": {"id": "x", "indication": "other"}, "doses": [{"time": 0, "amount_mg": 400}]}
    )
    assert case.patient.sex is Sex.UNKNOWN
    assert case.samples == ()
    assert case.dose_events() == [(0.0, 400.0)]
    assert case.covariate_values() == {}
    assert case.sample_times_h().shape == (0,)


@pytest.mark.parametrize("text", ["gist", "GIST", "Gist", " gist "])
def test_indication_is_case_insensitive(text: str) -> None:
    data = hours_case()
    data["patient"]["indication"] = text
    assert parse_case(data).patient.indication is Indication.GIST


@pytest.mark.parametrize(("text", "sex"), [("Female", Sex.FEMALE), ("MALE", Sex.MALE)])
def test_sex_is_case_insensitive(text: str, sex: Sex) -> None:
    data = hours_case()
    data["patient"]["sex"] = text
    assert parse_case(data).patient.sex is sex


def test_unit_spellings_are_tolerated_and_normalised() -> None:
    data = hours_case()
    data["samples"] = [
        {"time": 100, "concentration": 1.0, "unit": "mcg/ml"},
        {"time": 200, "concentration": 1.0, "unit": "µmol/L"},
        {"time": 300, "concentration": 1000, "unit": "NMOL/L"},
    ]
    case = parse_case(data)
    assert [s.unit.value for s in case.samples] == ["ug/mL", "umol/L", "nmol/L"]
    np.testing.assert_allclose(case.concentrations_ng_per_ml(), [1000.0, 493.6, 493.6])


def test_comedication_shorthand_and_full_form() -> None:
    data = clock_case(
        comedications=[
            "rifampicin",
            {"name": "clarithromycin", "start": "2026-01-03T08:00", "stop": "2026-01-09T08:00"},
        ]
    )
    case = parse_case(data)
    assert case.comedications[0] == Comedication(name="rifampicin")
    assert case.comedications[1].start == datetime(2026, 1, 3, 8, 0)


def test_twice_daily_written_as_two_daily_entries_is_not_an_overlap() -> None:
    data = clock_case(
        doses=[
            {"time": "2026-01-01T08:00", "amount_mg": 400, "interval_h": 24, "count": 10},
            {"time": "2026-01-01T20:00", "amount_mg": 400, "interval_h": 24, "count": 10},
        ]
    )
    case = parse_case(data)
    times = [t for t, _ in case.dose_events()]
    assert len(times) == 20
    assert times[:4] == [0.0, 12.0, 24.0, 36.0]
    assert case.plausibility_warnings() == ()  # 800 mg per 24 h is the labelled maximum


def test_sample_at_dose_time_is_allowed() -> None:
    data = hours_case()
    data["samples"][0]["time"] = 0
    assert parse_case(data).sample_times_h()[0] == 0.0


def test_numeric_string_time_is_hours() -> None:
    data = hours_case()
    data["samples"][0]["time"] = "719.5"
    assert parse_case(data).sample_times_h()[0] == 719.5


# --- invalid inputs: every error names its field ------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[parts[-1]]

    return mutate


BAD_INPUTS: list[tuple[str, Mutation, str, tuple[str, ...]]] = [
    ("age too high", _set("patient.age_years", 150), "patient.age_years", ("150", "120")),
    ("age negative", _set("patient.age_years", -1), "patient.age_years", ("-1", "at least 0")),
    ("age bool", _set("patient.age_years", True), "patient.age_years", ("number",)),
    ("weight too low", _set("patient.weight_kg", 1), "patient.weight_kg", ("1 kg", "2 kg")),
    ("weight too high", _set("patient.weight_kg", 400), "patient.weight_kg", ("300 kg",)),
    ("height too low", _set("patient.height_cm", 30), "patient.height_cm", ("40 cm",)),
    ("height text", _set("patient.height_cm", "tall"), "patient.height_cm", ("number",)),
    ("sex unknown word", _set("patient.sex", "F"), "patient.sex", ("female", "'F'")),
    ("indication ALL", _set("patient.indication", "ALL"), "patient.indication", ("other",)),
    ("indication missing", _delete("patient.indication"), "patient.indication", ("required",)),
    ("id missing", _delete("patient.id"), "patient.id", ("required",)),
    ("id number", _set("patient.id", 7), "patient.id", ("quoted",)),
    ("id empty", _set("patient.id", "  "), "patient.id", ("empty",)),
    ("typo field", _set("patient.wieght_kg", 70), "patient.wieght_kg", ("'weight_kg'",)),
    ("typo top level", _set("dose", []), "dose", ("unknown field", "'doses'")),
    ("unknown covariate", _set("covariates", {"agp": 1.0}), "covariates.agp", ("agp_g_per_l",)),
    ("negative agp", _set("covariates", {"agp_g_per_l": -1}), "covariates.agp_g_per_l", ("g/L",)),
    (
        "neutrophils %",
        _set("covariates", {"neutrophils_pct": 160}),
        "covariates.neutrophils_pct",
        ("100 %",),
    ),
    (
        "amount too high",
        _set("doses.0.amount_mg", 4000),
        "doses[0].amount_mg",
        ("4000 mg is not a plausible imatinib dose",),
    ),
    ("amount zero", _set("doses.0.amount_mg", 0), "doses[0].amount_mg", ("at least 1 mg",)),
    ("amount negative", _set("doses.0.amount_mg", -400), "doses[0].amount_mg", ("-400",)),
    ("amount text", _set("doses.0.amount_mg", "400 mg"), "doses[0].amount_mg", ("number",)),
    ("interval too short", _set("doses.0.interval_h", 2), "doses[0].interval_h", ("4 h",)),
    ("interval too long", _set("doses.0.interval_h", 200), "doses[0].interval_h", ("168 h",)),
    ("count zero", _set("doses.0.count", 0), "doses[0].count", ("at least 1",)),
    ("count fraction", _set("doses.0.count", 2.5), "doses[0].count", ("whole number",)),
    ("interval without count", _delete("doses.0.count"), "doses[0]", ("go together",)),
    ("count without interval", _delete("doses.0.interval_h"), "doses[0]", ("go together",)),
    ("no doses", _set("doses", []), "doses", ("at least one dose",)),
    ("doses missing", _delete("doses"), "doses", ("required",)),
    ("doses not a list", _set("doses", 400), "doses", ("list",)),
    ("dose time text", _set("doses.0.time", "yesterday"), "doses[0].time", ("ISO 8601",)),
    (
        "concentration negative",
        _set("samples.0.concentration", -1),
        "samples[0].concentration",
        ("-1",),
    ),
    (
        "concentration nan",
        _set("samples.0.concentration", math.nan),
        "samples[0].concentration",
        ("finite",),
    ),
    (
        "concentration inf",
        _set("samples.0.concentration", math.inf),
        "samples[0].concentration",
        ("finite",),
    ),
    ("lloq zero", _set("samples.0.lloq", 0), "samples[0].lloq", ("greater than 0",)),
    ("unit unknown", _set("samples.0.unit", "ng/dL"), "samples[0].unit", ("accepted units",)),
    ("unit missing", _delete("samples.0.unit"), "samples[0].unit", ("required",)),
    ("sample time nan", _set("samples.0.time", math.nan), "samples[0].time", ("finite",)),
    (
        "sample before first dose",
        _set("samples.0.time", -2),
        "samples[0].time",
        ("before the first recorded dose",),
    ),
    (
        "mixed time kinds",
        _set("samples.0.time", "2026-01-31T08:00"),
        "samples[0].time",
        ("one kind",),
    ),
    (
        "missed dose not scheduled",
        _set("missed_doses", [30]),
        "missed_doses[0]",
        ("matches no scheduled administration", "24 h"),
    ),
    ("missed dose twice", _set("missed_doses", [24, 24]), "missed_doses[1]", ("twice",)),
    (
        "duplicate sample ids",
        _set(
            "samples",
            [
                {"id": "S1", "time": 100, "concentration": 900, "unit": "ng/mL"},
                {"id": "S1", "time": 200, "concentration": 900, "unit": "ng/mL"},
            ],
        ),
        "samples[1].id",
        ("'S1'", "samples[0]"),
    ),
    (
        "overlap same times",
        _set(
            "doses",
            [
                {"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30},
                {"time": 240, "amount_mg": 600, "interval_h": 24, "count": 30},
            ],
        ),
        "doses[1]",
        ("overlapping", "240 h"),
    ),
    (
        "overlap other interval",
        _set(
            "doses",
            [
                {"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30},
                {"time": 246, "amount_mg": 200, "interval_h": 12, "count": 30},
            ],
        ),
        "doses[1]",
        ("overlaps doses[0]",),
    ),
    (
        "duplicate single doses",
        _set("doses", [{"time": 0, "amount_mg": 400}, {"time": 0, "amount_mg": 400}]),
        "doses[1]",
        ("overlapping",),
    ),
    ("comedication empty", _set("comedications", [""]), "comedications[0].name", ("empty",)),
    (
        "comedication stop before start",
        _set("comedications", [{"name": "rifampicin", "start": 100, "stop": 50}]),
        "comedications[0].stop",
        ("before it started",),
    ),
    (
        "comedication unknown key",
        _set("comedications", [{"name": "x", "dose": 1}]),
        "comedications[0].dose",
        ("unknown field",),
    ),
    ("format version", _set("format_version", 2), "format_version", ("1",)),
]


@pytest.mark.parametrize(
    ("mutate", "field", "keywords"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_names_the_field(mutate: Mutation, field: str, keywords: tuple[str, ...]) -> None:
    data = copy.deepcopy(hours_case())
    mutate(data)
    error = raises_case_error(data)
    assert error.field == field
    message = str(error)
    assert f"{field}: " in message
    for keyword in keywords:
        assert keyword in message, message
    assert "Traceback" not in message and "pydantic" not in message


def test_all_problems_are_listed_at_once() -> None:
    data = hours_case()
    data["patient"]["age_years"] = 150
    data["doses"][0]["amount_mg"] = 4000
    data["samples"][0]["unit"] = "furlongs"
    error = raises_case_error(data)
    message = str(error)
    assert message.startswith("the case has 3 problems:")
    fields = [problem["field"] for problem in error.fields["problems"]]
    assert fields == ["patient.age_years", "doses[0].amount_mg", "samples[0].unit"]


def test_mixing_naive_and_aware_times_is_an_error() -> None:
    data = clock_case()
    data["samples"][0]["time"] = "2026-01-11T07:30+01:00"
    error = raises_case_error(data)
    assert error.field == "samples[0].time"
    assert "UTC offset" in str(error) and "one kind" in str(error)


def test_date_without_clock_time_is_an_error() -> None:
    data = clock_case()
    data["samples"][0]["time"] = "2026-01-11"
    error = raises_case_error(data)
    assert error.field == "samples[0].time"
    assert "without a clock time" in str(error)


def test_clock_sample_before_first_dose_message() -> None:
    data = clock_case()
    data["samples"][0]["time"] = "2026-01-01T07:30"
    message = str(raises_case_error(data))
    assert "2026-01-01 07:30 is before the first recorded dose (2026-01-01 08:00)" in message


@pytest.mark.parametrize("data", [None, [], "patient", 3])
def test_non_mapping_case(data: Any) -> None:
    error = raises_case_error(data)
    assert "case" in str(error)


def test_case_error_pickles() -> None:
    data = hours_case()
    data["patient"]["age_years"] = 150
    error = raises_case_error(data)
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, CaseError)
    assert str(clone) == str(error)
    # errors._rebuild_error restores .fields, not subclass attributes such as .field
    assert clone.fields["field"] == "patient.age_years"
    assert clone.fields["problems"] == error.fields["problems"]


def test_format_validation_error_on_raw_pydantic_error() -> None:
    with pytest.raises(ValidationError) as info:
        Case.model_validate({"patient": {"id": "x", "indication": "GIST"}, "doses": []})
    text = format_validation_error(info.value, source="x.yaml")
    assert text.startswith("x.yaml: the case has 1 problem:")
    assert "  - doses: at least one dose entry is required" in text


# --- time conventions ----------------------------------------------------------------------------


def test_hours_are_relative_to_the_first_dose() -> None:
    data = hours_case(
        doses=[{"time": 5, "amount_mg": 400, "interval_h": 24, "count": 3}],
        samples=[{"time": 53, "concentration": 800, "unit": "ng/mL"}],
    )
    case = parse_case(data)
    assert case.time_origin == 5.0
    assert case.dose_events() == [(0.0, 400.0), (24.0, 400.0), (48.0, 400.0)]
    np.testing.assert_allclose(case.sample_times_h(), [48.0])
    assert not case.uses_clock_times


def test_first_dose_is_the_earliest_entry_not_the_first_listed() -> None:
    data = clock_case(
        doses=[
            {"time": "2026-01-02T08:00", "amount_mg": 600},
            {"time": "2026-01-01T08:00", "amount_mg": 400},
        ]
    )
    case = parse_case(data)
    assert case.time_origin == datetime(2026, 1, 1, 8, 0)
    assert case.dose_events() == [(0.0, 400.0), (24.0, 600.0)]
    assert case.uses_clock_times


def test_aware_times_use_physical_time_across_dst() -> None:
    # Europe/Paris leaves summer time on 2026-10-25 at 03:00 (+02:00 -> +01:00): 25 h elapse
    # between 08:00 on the 24th and 08:00 on the 25th.
    data = clock_case(
        doses=[{"time": "2026-10-24T08:00+02:00", "amount_mg": 400}],
        samples=[{"time": "2026-10-25T08:00+01:00", "concentration": 900, "unit": "ng/mL"}],
    )
    np.testing.assert_allclose(parse_case(data).sample_times_h(), [25.0])


def test_zoneinfo_datetimes_are_subtracted_in_utc() -> None:
    # Python subtracts datetimes sharing one tzinfo object as wall-clock times (24 h here);
    # the case must give physical elapsed time (25 h) regardless.
    paris = ZoneInfo("Europe/Paris")
    dose = datetime(2026, 10, 24, 8, 0, tzinfo=paris)
    sample = datetime(2026, 10, 25, 8, 0, tzinfo=paris)
    assert (sample - dose) == timedelta(hours=24)  # the Python pitfall being guarded against
    data = clock_case(
        doses=[{"time": dose, "amount_mg": 400, "interval_h": 24, "count": 2}],
        samples=[{"time": sample, "concentration": 900, "unit": "ng/mL"}],
    )
    case = parse_case(data)
    np.testing.assert_allclose(case.sample_times_h(), [25.0])
    # a regular schedule is regular in physical time: the 2nd dose is 24 h later (07:00 local)
    assert case.dose_events() == [(0.0, 400.0), (24.0, 400.0)]


def test_utc_z_suffix_and_mixed_offsets() -> None:
    data = clock_case(
        doses=[{"time": "2026-01-01T08:00Z", "amount_mg": 400}],
        samples=[{"time": "2026-01-01T20:00+02:00", "concentration": 900, "unit": "ng/mL"}],
    )
    case = parse_case(data)
    assert case.time_origin == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    np.testing.assert_allclose(case.sample_times_h(), [10.0])


def test_naive_times_are_wall_clock_differences() -> None:
    # documented: without offsets, a DST change in between is not seen (24 h, not 25 h)
    data = clock_case(
        doses=[{"time": "2026-10-24T08:00", "amount_mg": 400}],
        samples=[{"time": "2026-10-25T08:00", "concentration": 900, "unit": "ng/mL"}],
    )
    np.testing.assert_allclose(parse_case(data).sample_times_h(), [24.0])


def test_hours_since_first_dose_method() -> None:
    case = load_demo_case()
    assert case.hours_since_first_dose(datetime(2026, 10, 2, 8, 0)) == 24.0


# --- dose expansion ------------------------------------------------------------------------------


def test_dose_expansion_counts_and_dose_change() -> None:
    data = hours_case(
        doses=[
            {"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30},
            {"time": 720, "amount_mg": 600, "interval_h": 24, "count": 20},
            {"time": 1300, "amount_mg": 300},
        ],
        samples=[],
    )
    events = parse_case(data).dose_events()
    assert len(events) == 51
    assert events[0] == (0.0, 400.0) and events[29] == (696.0, 400.0)
    assert events[30] == (720.0, 600.0) and events[49] == (1176.0, 600.0)
    assert events[50] == (1300.0, 300.0)
    assert sum(amount for _, amount in events) == 30 * 400 + 20 * 600 + 300


def test_missed_doses_are_left_out_or_zero() -> None:
    data = hours_case(missed_doses=[48, 96])
    case = parse_case(data)
    administered = case.dose_events()
    assert len(administered) == 28
    assert 48.0 not in [t for t, _ in administered]
    with_missed = case.dose_events(include_missed=True)
    assert len(with_missed) == 30
    assert with_missed[2] == (48.0, 0.0) and with_missed[4] == (96.0, 0.0)
    assert case.missed_dose_times_h() == (48.0, 96.0)


def test_partially_taken_dose_replaces_the_missed_administration() -> None:
    # documented recipe: mark the scheduled dose missed, add what was taken as a single dose
    data = hours_case(
        doses=[
            {"time": 0, "amount_mg": 400, "interval_h": 24, "count": 5},
            {"time": 48, "amount_mg": 200},
        ],
        missed_doses=[48],
        samples=[],
    )
    case = parse_case(data)
    assert case.dose_events() == [
        (0.0, 400.0),
        (24.0, 400.0),
        (48.0, 200.0),
        (72.0, 400.0),
        (96.0, 400.0),
    ]
    assert (48.0, 0.0) in case.dose_events(include_missed=True)


def test_missed_dose_with_clock_times() -> None:
    data = clock_case(missed_doses=["2026-01-05T08:00"])
    case = parse_case(data)
    assert case.missed_dose_times_h() == (96.0,)
    assert len(case.dose_events()) == 9


def test_yaml_timestamps_with_seconds_are_read_like_any_date_time(tmp_path: Path) -> None:
    file = tmp_path / "case.yaml"
    file.write_text(
        "patient: {id: x, indication: GIST}\n"
        "doses:\n"
        "  - {time: 2026-01-01T08:00:00, amount_mg: 400, interval_h: 24, count: 3}\n"
        "samples:\n"
        "  - {time: 2026-01-03 07:00:00+01:00, concentration: 1, unit: mg/L}\n",
        encoding="utf-8",
    )
    # the first dose is naive, the sample aware: one kind only, even for YAML timestamps
    with pytest.raises(CaseError, match="one kind"):
        load_case(file)


# --- concentrations and covariates ---------------------------------------------------------------


def test_lloq_and_censoring() -> None:
    data = hours_case(
        samples=[
            {"time": 100, "concentration": 0, "unit": "ng/mL", "lloq": 50},
            {"time": 200, "concentration": 1.2, "unit": "ug/mL", "lloq": 0.05},
            {"time": 300, "concentration": 900, "unit": "ng/mL"},
        ]
    )
    case = parse_case(data)
    np.testing.assert_array_equal(case.is_below_lloq(), [True, False, False])
    lloq = case.lloq_ng_per_ml()
    np.testing.assert_allclose(lloq[:2], [50.0, 50.0])
    assert math.isnan(lloq[2])
    np.testing.assert_allclose(case.concentrations_ng_per_ml(), [0.0, 1200.0, 900.0])
    assert case.plausibility_warnings() == ()


def test_covariate_values_of_demo() -> None:
    assert load_demo_case().covariate_values() == {
        "weight_kg": 62.0,
        "height_cm": 165.0,
        "age_years": 54.0,
        "sex_male": 0.0,
        "indication_gist": 1.0,
        "wbc_10e9_per_l": 6.1,
        "hemoglobin_g_per_dl": 12.5,
        "albumin_g_per_l": 38.0,
        "agp_g_per_l": 1.1,
        "rbc_10e12_per_l": 4.1,
        "plt_10e9_per_l": 250.0,
        "neutrophils_pct": 60.0,
    }


def test_covariate_values_never_default() -> None:
    data = hours_case()
    data["patient"] = {"id": "x", "indication": "other", "sex": "unknown"}
    data["covariates"] = {"agp_g_per_l": 0.8}
    assert parse_case(data).covariate_values() == {"agp_g_per_l": 0.8}


def test_covariate_values_male_cml_gastrectomy() -> None:
    data = hours_case()
    data["patient"] = {"id": "x", "indication": "CML", "sex": "male", "gastrectomy": True}
    values = parse_case(data).covariate_values()
    assert values == {"sex_male": 1.0, "indication_gist": 0.0, "gastrectomy": 1.0}


# --- plausibility warnings -----------------------------------------------------------------------


def _warnings(samples: list[dict[str, Any]], **overrides: Any) -> list[str]:
    case = parse_case(hours_case(samples=samples, **overrides))
    return [warning.code for warning in case.plausibility_warnings()]


def test_wrong_unit_low_is_a_warning_not_an_error() -> None:
    case = parse_case(hours_case(samples=[{"time": 719, "concentration": 1.2, "unit": "ng/mL"}]))
    (warning,) = case.plausibility_warnings()
    assert warning.code == "concentration_suspiciously_low"
    assert warning.field == "samples[0].concentration"
    assert "1200 ng/mL" in warning.message  # what it would be in ug/mL


def test_wrong_unit_high_is_a_warning() -> None:
    assert _warnings([{"time": 719, "concentration": 820, "unit": "ug/mL"}]) == [
        "concentration_suspiciously_high"
    ]
    assert _warnings([{"time": 719, "concentration": 820, "unit": "umol/L"}]) == [
        "concentration_suspiciously_high"
    ]


@pytest.mark.parametrize(
    ("concentration", "unit"),
    [
        (820, "ng/mL"),
        (0.82, "ug/mL"),
        (1.7, "umol/L"),
        (1700, "nmol/L"),
        (12, "ng/mL"),
        (30000, "ng/mL"),
    ],
)
def test_plausible_concentrations_give_no_warning(concentration: float, unit: str) -> None:
    assert _warnings([{"time": 719, "concentration": concentration, "unit": unit}]) == []


def test_zero_without_lloq_warns() -> None:
    assert _warnings([{"time": 719, "concentration": 0, "unit": "ng/mL"}]) == [
        "concentration_zero_without_lloq"
    ]


def test_daily_dose_above_label_warns() -> None:
    doses = [
        {"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30},
        {"time": 12, "amount_mg": 600, "interval_h": 24, "count": 5},
    ]
    case = parse_case(hours_case(doses=doses))
    (warning,) = case.plausibility_warnings()
    assert warning.code == "daily_dose_above_label"
    assert "1000 mg" in warning.message and "800 mg/day" in warning.message


def test_missed_doses_do_not_count_towards_daily_total() -> None:
    doses = [
        {"time": 0, "amount_mg": 400, "interval_h": 24, "count": 3},
        {"time": 12, "amount_mg": 600},
    ]
    case = parse_case(hours_case(doses=doses, missed_doses=[0, 24], samples=[]))
    assert case.plausibility_warnings() == ()


# --- immutability and replace --------------------------------------------------------------------


def test_case_is_frozen() -> None:
    case = load_demo_case()
    with pytest.raises(ValidationError):
        case.notes = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        case.patient.weight_kg = 80  # type: ignore[misc]


def test_replace_validates_again() -> None:
    case = load_demo_case()
    changed = case.replace(comedications=[])
    assert changed.comedications == () and case.comedications != ()
    with pytest.raises(CaseError, match="before the first recorded dose"):
        case.replace(samples=[{"time": "2026-09-01T08:00", "concentration": 1, "unit": "mg/L"}])
    with pytest.raises(CaseError, match="unknown case field"):
        case.replace(dose=[])


# --- loading files -------------------------------------------------------------------------------


def test_yaml_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("patient:\n  id: x\n  indication: [GIST\ndoses: []\n", encoding="utf-8")
    with pytest.raises(CaseError) as info:
        load_case(file)
    message = str(info.value)
    assert str(file) in message and "line 4" in message and "YAML syntax error" in message


def test_json_syntax_error_gives_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.json"
    file.write_text('{\n  "patient": {"id": "x",}\n}\n', encoding="utf-8")
    with pytest.raises(CaseError) as info:
        load_case(file)
    message = str(info.value)
    assert str(file) in message and "line 2" in message and "JSON syntax error" in message


def test_validation_errors_in_yaml_carry_line_numbers(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        "patient:\n"
        "  id: x\n"
        "  indication: GIST\n"
        "  age_years: 150\n"
        "doses:\n"
        "  - {time: 0, amount_mg: 4000}\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseError) as info:
        load_case(file)
    message = str(info.value)
    assert message.startswith(f"{file}: the case has 2 problems:")
    assert "patient.age_years (line 4): 150 years" in message
    assert "doses[0].amount_mg (line 6): 4000 mg is not a plausible imatinib dose" in message


def test_validation_errors_in_json_carry_line_numbers(tmp_path: Path) -> None:
    data = hours_case()
    data["patient"]["age_years"] = 150
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data, indent=2), encoding="utf-8")
    with pytest.raises(CaseError, match=r"patient\.age_years \(line \d+\)"):
        load_case(file)


def test_json_and_yaml_give_the_same_case(tmp_path: Path) -> None:
    data = hours_case()
    (tmp_path / "a.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "a.yml").write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    assert load_case(tmp_path / "a.json") == load_case(tmp_path / "a.yml") == parse_case(data)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("case.txt", "", "unsupported case-file type"),
        ("missing.yaml", None, "not found"),
        ("empty.yaml", "", "empty"),
        ("list.yaml", "- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_file_level_errors(tmp_path: Path, name: str, content: str | None, expected: str) -> None:
    file = tmp_path / name
    if content is not None:
        file.write_text(content, encoding="utf-8")
    with pytest.raises(CaseError, match=expected) as info:
        load_case(file)
    assert name in str(info.value)
