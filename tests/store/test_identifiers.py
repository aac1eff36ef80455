"""Look-alike patients: normalised MRNs and names, invisible characters refused, near duplicates
reported (imatinib_tdm.store._identifiers and _patients)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from imatinib_tdm.errors import CaseError, ConflictError
from imatinib_tdm.store import (
    Database,
    Patient,
    clean_identifier,
    get_patient,
    list_events,
    make_engine,
    migrate,
    mrn_key,
    patient_warnings,
    update_patient,
)

from .conftest import Actors, add_patient

LOOK_ALIKES = [
    "demo-001",
    "DEMO-001\u200b",  # zero-width space
    "\ufeffDEMO-001",  # byte-order mark
    "ＤＥＭＯ－００１",  # full-width
    "DEMO\u2010001",  # Unicode hyphen
    "Demo-001 ",
]


@pytest.mark.parametrize("mrn", LOOK_ALIKES)
def test_look_alike_mrns_are_duplicates(database: Database, actors: Actors, mrn: str) -> None:
    add_patient(database, actors.clinician, mrn="DEMO-001")
    with pytest.raises((ConflictError, CaseError)) as caught:
        add_patient(database, actors.clinician, mrn=mrn)
    assert getattr(caught.value, "field", None) == "mrn"


def test_a_changed_mrn_may_not_look_like_another(database: Database, actors: Actors) -> None:
    add_patient(database, actors.clinician, mrn="DEMO-001")
    second = add_patient(database, actors.clinician, mrn="DEMO-002")
    with pytest.raises(ConflictError) as caught, database.transaction() as session:
        update_patient(session, second.id, actor=actors.clinician, mrn="demo-001")
    assert caught.value.field == "mrn"
    with database.transaction() as session:  # a patient may change the case of its own MRN
        changed = update_patient(session, second.id, actor=actors.clinician, mrn="demo-002")
    assert changed.mrn == "demo-002" and changed.mrn_key == "demo-002"


INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "soft hyphen": "\u00ad",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "right-to-left mark": "\u200f",
    "arabic letter mark": "\u061c",
    "private use": "\ue000",
    "hangul filler": "\u3164",
    "line separator": "\u2028",
    "bell": "\u0007",
}


@pytest.mark.parametrize("field", ["mrn", "family_name", "given_name"])
@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_and_bidi_characters_are_refused(
    database: Database, actors: Actors, field: str, char: str
) -> None:
    value = f"Ab{char}cd"
    with pytest.raises(CaseError) as caught:
        add_patient(database, actors.clinician, **{field: value})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert "Ab" not in str(caught.value)  # the field and code point are named, not the value
    assert f"U+{ord(char):04X}" in str(caught.value)
    with pytest.raises(CaseError), database.transaction() as session:
        created = add_patient(database, actors.clinician, mrn=f"OK-{field}-{ord(char)}")
        update_patient(session, created.id, actor=actors.clinician, **{field: value})


def test_a_lone_surrogate_is_refused_naming_the_field() -> None:
    with pytest.raises(CaseError, match="family_name"):
        clean_identifier("Mu\udc80ller", field="family_name", max_length=200)


def test_identifiers_are_stored_in_nfkc(database: Database, actors: Actors) -> None:
    patient = add_patient(
        database, actors.clinician, mrn="ＡＢ－１２", family_name="Mu\u0308ller", given_name="ﬁona"
    )
    assert patient.mrn == "ＡＢ－１２".replace("－", "-").translate(
        {ord(c): ord(c) - 0xFEE0 for c in "ＡＢ１２"}
    )
    assert patient.family_name == "Müller"  # composed
    assert patient.given_name == "fiona"  # the ligature is two letters
    assert patient.mrn_key == "ab-12"


def test_mrn_key() -> None:
    assert {mrn_key(mrn) for mrn in LOOK_ALIKES} == {"demo-001"}
    assert mrn_key("Straße  7") == "strasse 7"


def _similar_events(database: Database, patient_id: int) -> Any:
    with database.read() as session:
        return list_events(session, patient_id=patient_id, limit=1)[0].detail


def test_near_duplicate_names_with_the_same_birth_date_are_reported(
    database: Database, actors: Actors
) -> None:
    first = add_patient(database, actors.clinician, family_name="Müller", given_name="Anna-Lena")
    similar = add_patient(
        database, actors.clinician, mrn="B", family_name="MULLER", given_name="anna lena"
    )
    swapped = add_patient(
        database, actors.clinician, mrn="C", family_name="Anna Lena", given_name="Muller"
    )
    other_day = add_patient(
        database,
        actors.clinician,
        mrn="D",
        family_name="Müller",
        given_name="Anna-Lena",
        birth_date="1970-04-03",
    )
    with database.read() as session:
        warnings = patient_warnings(session, get_patient(session, similar.id))
        assert patient_warnings(session, get_patient(session, other_day.id)) == []
        assert patient_warnings(session, get_patient(session, swapped.id))[0]["patient_ids"] == [
            first.id,
            similar.id,
        ]
    (warning,) = warnings
    assert warning["code"] == "similar_patient"
    assert warning["patient_ids"] == [first.id, swapped.id]
    assert "Müller" not in warning["message"] and "1970" not in warning["message"]
    assert _similar_events(database, similar.id) == {"similar_patient_ids": [first.id]}
    assert _similar_events(database, first.id) is None


def test_an_update_that_makes_a_near_duplicate_is_audited(
    database: Database, actors: Actors
) -> None:
    first = add_patient(database, actors.clinician)
    second = add_patient(database, actors.clinician, mrn="OTHER", given_name="Berta")
    with database.transaction() as session:
        update_patient(session, second.id, actor=actors.clinician, given_name="ANNA")
    assert _similar_events(database, second.id) == {
        "fields": ["given_name"],
        "similar_patient_ids": [first.id],
    }


def test_migration_fills_mrn_keys_and_marks_existing_look_alikes(database_url: str) -> None:
    engine = make_engine(database_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        migrate(engine, "0001")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, full_name, role, password_hash, is_active, "
                    "created_at, updated_at, password_changed_at) VALUES (1, 'a', 'A', 'admin', "
                    "'x', true, :now, :now, :now)"
                ),
                {"now": now},
            )
            for mrn in ("DEMO-001", "demo-001\u200b", "OTHER"):
                connection.execute(
                    text(
                        "INSERT INTO patients (mrn, family_name, given_name, sex, indication, "
                        "search_text, archived, created_at, created_by_id, updated_at, "
                        "updated_by_id) VALUES (:mrn, 'F', 'G', 'female', 'GIST', '', false, "
                        ":now, 1, :now, 1)"
                    ),
                    {"mrn": mrn, "now": now},
                )
        migrate(engine)
        database = Database(engine)
        with database.read() as session:
            keys = [p.mrn_key for p in session.query(Patient).order_by(Patient.id)]
        assert keys == ["demo-001", "demo-001\tduplicate of patient 1 (id 2)", "other"]
    finally:
        engine.dispose()


def test_a_validator_name_with_a_bidi_override_is_refused(
    database: Database, actors: Actors
) -> None:
    from imatinib_tdm.case import load_demo_case
    from imatinib_tdm.store import issue_report

    from .conftest import FAKE_PDF, interpreted_episode

    flow = interpreted_episode(database, actors, load_demo_case("demo-001"))
    with pytest.raises(CaseError) as caught, database.transaction() as session:
        issue_report(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            interpretation_id=flow.interpretation_id,
            html="<p>r</p>",
            pdf=FAKE_PDF,
            validator_name="Dr. \u202eevil",
        )
    assert caught.value.field == "validator_name"
