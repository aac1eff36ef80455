"""``/api/patients/{id}/episodes``: TDM episodes (case, interpretation) of a patient."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from imatinib_tdm.errors import NotFoundError
from imatinib_tdm.service.api.responses import ENTITY_READ, ENTITY_WRITE
from imatinib_tdm.service.compute import parse_request_case
from imatinib_tdm.service.compute_pool import compute_runner
from imatinib_tdm.service.schemas import (
    EpisodeIn,
    EpisodeInterpretRequest,
    EpisodeOut,
    EpisodeUpdate,
)
from imatinib_tdm.service.security import (
    CurrentUser,
    Editor,
    RecordId,
    acting_user,
    audit_view,
    get_database,
    verify_csrf,
)
from imatinib_tdm.service.workflows import interpret_episode
from imatinib_tdm.store import (
    amend_episode,
    create_episode,
    get_episode,
    latest_interpretation,
    list_episodes,
    update_episode,
)

router = APIRouter(tags=["episodes"], dependencies=[Depends(verify_csrf)])
_BASE = "/api/patients/{patient_id}/episodes"


def episode_out(episode: Any) -> EpisodeOut:
    """The API form of a stored episode."""
    return EpisodeOut(
        id=episode.id,
        patient_id=episode.patient_id,
        label=episode.label,
        status=str(getattr(episode.status, "value", episode.status)),
        revision=episode.revision,
        case=episode.case_json,
    )


def _episode_of(session: Any, patient_id: int, episode_id: int) -> Any:
    episode = get_episode(session, episode_id)
    if episode.patient_id != patient_id:  # an id pair that does not belong together
        raise NotFoundError(f"patient {patient_id} has no episode {episode_id}", field="episode_id")
    return episode


@router.get(_BASE, responses=ENTITY_READ)
def list_episodes_endpoint(
    request: Request, patient_id: RecordId, user: CurrentUser
) -> list[dict[str, Any]]:
    """A patient's episodes (with their cases); the view is audited."""
    with get_database(request).transaction() as session:
        episodes = list_episodes(session, patient_id)
        audit_view(
            session,
            user,
            "episode",
            None,
            patient_id=patient_id,
            detail={"n_episodes": len(episodes)},
        )
        return [episode_out(e).model_dump(mode="json") for e in episodes]


@router.post(_BASE, status_code=201, response_model=EpisodeOut, responses=ENTITY_WRITE)
def create_episode_endpoint(
    body: EpisodeIn,
    request: Request,
    patient_id: RecordId,
    user: Editor,
) -> EpisodeOut:
    """A new episode with its case (clinician and above)."""
    case = parse_request_case(body.case)
    with get_database(request).transaction() as session:
        episode = create_episode(
            session, patient_id, actor=acting_user(session, user), case=case, label=body.label
        )
        return episode_out(episode)


@router.get(_BASE + "/{episode_id}", response_model=EpisodeOut, responses=ENTITY_READ)
def get_episode_endpoint(
    request: Request,
    patient_id: RecordId,
    episode_id: RecordId,
    user: CurrentUser,
) -> EpisodeOut:
    """One episode; the view is audited."""
    with get_database(request).transaction() as session:
        episode = _episode_of(session, patient_id, episode_id)
        audit_view(session, user, "episode", episode.id, patient_id=patient_id)
        return episode_out(episode)


@router.put(_BASE + "/{episode_id}", response_model=EpisodeOut, responses=ENTITY_WRITE)
def update_episode_endpoint(
    body: EpisodeUpdate,
    request: Request,
    patient_id: RecordId,
    episode_id: RecordId,
    user: Editor,
) -> EpisodeOut:
    """Replace the case (409 on a stale ``expected_revision``); with ``reason``, an amendment."""
    case = parse_request_case(body.case)
    with get_database(request).transaction() as session:
        _episode_of(session, patient_id, episode_id)
        actor = acting_user(session, user)
        if body.reason is not None:
            episode = amend_episode(
                session,
                episode_id,
                actor=actor,
                case=case,
                reason=body.reason,
                expected_revision=body.expected_revision,
            )
        else:
            episode = update_episode(
                session,
                episode_id,
                actor=actor,
                case=case,
                expected_revision=body.expected_revision,
                label=body.label,
            )
        return episode_out(episode)


@router.post(_BASE + "/{episode_id}/interpretations", status_code=201, responses=ENTITY_WRITE)
def interpret_episode_endpoint(
    body: EpisodeInterpretRequest,
    request: Request,
    patient_id: RecordId,
    episode_id: RecordId,
    user: Editor,
) -> dict[str, Any]:
    """Interpret the episode's current case and store the result."""
    database = get_database(request)
    with database.read() as session:
        _episode_of(session, patient_id, episode_id)
    interpretation_id, result = interpret_episode(
        database,
        user,
        episode_id,
        model_id=body.model,
        default_model_id=request.app.state.settings.default_model_id,
        target=body.target,
        alert=body.alert,
        run=compute_runner(request),
    )
    return {"id": interpretation_id, "result": result}


@router.get(_BASE + "/{episode_id}/interpretations/latest", responses=ENTITY_READ)
def latest_interpretation_endpoint(
    request: Request,
    patient_id: RecordId,
    episode_id: RecordId,
    user: CurrentUser,
) -> dict[str, Any]:
    """The latest stored interpretation of the episode (404 when none)."""
    with get_database(request).transaction() as session:
        _episode_of(session, patient_id, episode_id)
        stored = latest_interpretation(session, episode_id)
        if stored is None:
            raise NotFoundError(f"episode {episode_id} has no interpretation yet")
        audit_view(session, user, "interpretation", stored.id, patient_id=patient_id)
        return {
            "id": stored.id,
            "episode_revision": stored.episode_revision,
            "model_id": stored.model_id,
            "created_at": stored.created_at.isoformat(),
            "result": stored.result_json,
        }
