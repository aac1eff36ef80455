"""Stored interpretations (imatinib_tdm.store._interpretations)."""

from __future__ import annotations

import math

import pytest

import imatinib_tdm
from imatinib_tdm.case import Case
from imatinib_tdm.errors import CaseError, NotFoundError, PermissionDeniedError
from imatinib_tdm.store import (
    Database,
    EpisodeStatus,
    get_episode,
    get_interpretation,
    latest_interpretation,
    list_events,
    list_interpretations,
    save_interpretation,
)

from .conftest import INTERPRETATION_RESULT, Actors, interpreted_episode


def test_save_keeps_result_case_and_version(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with database.read() as session:
        stored = get_interpretation(session, flow.interpretation_id)
        episode = get_episode(session, flow.episode_id)
        event = list_events(session, action="interpret", limit=1)[0]
    assert stored.result_json == INTERPRETATION_RESULT
    assert stored.case_json == demo_case.model_dump(mode="json")
    assert stored.model_id == "widmer2006_covariate"
    assert stored.software_version == imatinib_tdm.__version__
    assert stored.episode_revision == 1
    assert episode.status is EpisodeStatus.INTERPRETED
    assert event.detail == {"episode_id": flow.episode_id, "model_id": "widmer2006_covariate"}
    assert event.patient_id == flow.patient_id


def test_latest_and_list(database: Database, actors: Actors, demo_case: Case) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with database.transaction() as session:
        second = save_interpretation(
            session,
            flow.episode_id,
            actor=actors.pharmacologist,
            model_id="schmidli2005",
            result={"status": "on_target"},
        )
    with database.read() as session:
        latest = latest_interpretation(session, flow.episode_id)
        listed = [i.id for i in list_interpretations(session, flow.episode_id)]
    assert latest is not None and latest.id == second.id
    assert listed == [flow.interpretation_id, second.id]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"trough": math.nan}, "NaN"),
        ({"when": object()}, "not storable as JSON"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_result_must_be_strict_json(
    database: Database, actors: Actors, demo_case: Case, result: object, message: str
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with pytest.raises(CaseError, match=message), database.transaction() as session:
        save_interpretation(
            session,
            flow.episode_id,
            actor=actors.clinician,
            model_id="m",
            result=result,  # type: ignore[arg-type]
        )


def test_permissions_and_missing_records(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with pytest.raises(PermissionDeniedError), database.transaction() as session:
        save_interpretation(session, flow.episode_id, actor=actors.viewer, model_id="m", result={})
    with database.read() as session:
        with pytest.raises(NotFoundError, match="episode"):
            latest_interpretation(session, 404)
        with pytest.raises(NotFoundError, match="interpretation"):
            get_interpretation(session, 404)
