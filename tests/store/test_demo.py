"""Demo patients (imatinib_tdm.store._demo)."""

from __future__ import annotations

import pytest

from imatinib_tdm.case import demo_case_names, load_demo_case
from imatinib_tdm.errors import PermissionDeniedError
from imatinib_tdm.store import (
    Database,
    count_patients,
    demo_mrn,
    episode_case,
    list_episodes,
    list_events,
    seed_demo,
)

from .conftest import Actors


def test_seed_demo_is_idempotent_and_clearly_marked(database: Database, actors: Actors) -> None:
    with database.transaction() as session:
        first = seed_demo(session, actor=actors.clinician)
    with database.transaction() as session:
        second = seed_demo(session, actor=actors.admin)
        assert count_patients(session) == len(demo_case_names())
        episodes = list_episodes(session, first[0].id)
        seeded = list_events(session, action="seed_demo")
    assert [p.id for p in first] == [p.id for p in second]
    assert len(seeded) == 1  # the second call created nothing and recorded nothing
    for patient, name in zip(first, demo_case_names(), strict=True):
        assert patient.mrn == demo_mrn(name) and patient.mrn.startswith("DEMO-")
        assert patient.family_name == "Demo"
    (episode,) = episodes
    assert episode_case(episode) == load_demo_case(demo_case_names()[0])


def test_demo_mrn() -> None:
    assert demo_mrn("demo-001") == "DEMO-001"
    assert demo_mrn("cml-7") == "DEMO-CML-7"


def test_viewers_cannot_seed(database: Database, actors: Actors) -> None:
    with pytest.raises(PermissionDeniedError), database.transaction() as session:
        seed_demo(session, actor=actors.viewer)
