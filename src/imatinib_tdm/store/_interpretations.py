"""Interpretations of an episode: the result of ``tdm.interpret`` as JSON, kept forever.

Each interpretation stores the exact case it was computed on, the model id and the software
version, so that the report built from it can be reproduced even after the episode is amended.
The store does not compute interpretations: the service runs :func:`imatinib_tdm.tdm.interpret`
and saves ``Interpretation.to_dict()`` here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import imatinib_tdm
from imatinib_tdm.errors import CaseError
from imatinib_tdm.store._audit import AuditAction, record_event
from imatinib_tdm.store._checks import check_actor, fetch, require_text
from imatinib_tdm.store._episodes import get_episode
from imatinib_tdm.store._models import (
    MODEL_ID_LENGTH,
    EpisodeStatus,
    StoredInterpretation,
    User,
)
from imatinib_tdm.store._roles import can_edit
from imatinib_tdm.store._types import utc_now

__all__ = [
    "get_interpretation",
    "latest_interpretation",
    "list_interpretations",
    "save_interpretation",
]


def _json_document(result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        raise CaseError(
            f"result: expected a mapping (Interpretation.to_dict()), got {type(result).__name__}",
            field="result",
        )
    try:
        # strict JSON: PostgreSQL's JSONB refuses NaN and infinities, so refuse them on SQLite too
        loaded = json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise CaseError(
            f"result: not storable as JSON ({error}); a missing value must be null, not NaN",
            field="result",
        ) from None
    if not isinstance(loaded, dict):  # pragma: no cover - a Mapping always dumps to an object
        raise CaseError("result: must be a JSON object", field="result")
    return loaded


def save_interpretation(
    session: Session, episode_id: int, *, actor: User, model_id: str, result: Mapping[str, Any]
) -> StoredInterpretation:
    """Store an interpretation of the episode's current case.

    Parameters
    ----------
    actor : User
        Clinician, pharmacologist or admin.
    model_id : str
        The popPK model id used (e.g. ``"widmer2006_covariate"``).
    result : mapping
        ``Interpretation.to_dict()``: strict JSON (no NaN or infinity).

    Returns
    -------
    StoredInterpretation
        With ``case_json`` and ``episode_revision`` of the case it describes. The episode
        becomes ``interpreted`` unless it is ``reported``.
    """
    check_actor(actor, allowed=can_edit(actor.role), action="save interpretations")
    episode = get_episode(session, episode_id)
    model = require_text(model_id, field="model_id", max_length=MODEL_ID_LENGTH)
    document = _json_document(result)
    stored = StoredInterpretation(
        episode_id=episode.id,
        episode_revision=episode.revision,
        model_id=model,
        case_json=episode.case_json,
        result_json=document,
        software_version=imatinib_tdm.__version__[:40],
        created_at=utc_now(),
        created_by_id=actor.id,
    )
    session.add(stored)
    if episode.status is EpisodeStatus.DRAFT:
        episode.status = EpisodeStatus.INTERPRETED
    session.flush()
    record_event(
        session,
        actor=actor,
        action=AuditAction.INTERPRET,
        entity_type="interpretation",
        entity_id=stored.id,
        patient_id=episode.patient_id,
        detail={"episode_id": episode.id, "model_id": model},
    )
    return stored


def get_interpretation(session: Session, interpretation_id: int) -> StoredInterpretation:
    """The interpretation with id ``interpretation_id``; raises ``NotFoundError``."""
    return fetch(session, StoredInterpretation, interpretation_id, "interpretation")


def list_interpretations(session: Session, episode_id: int) -> list[StoredInterpretation]:
    """An episode's interpretations, oldest first."""
    get_episode(session, episode_id)
    query = (
        select(StoredInterpretation)
        .where(StoredInterpretation.episode_id == episode_id)
        .order_by(StoredInterpretation.created_at, StoredInterpretation.id)
    )
    return list(session.scalars(query))


def latest_interpretation(session: Session, episode_id: int) -> StoredInterpretation | None:
    """The newest interpretation of an episode, or ``None``."""
    get_episode(session, episode_id)
    query = (
        select(StoredInterpretation)
        .where(StoredInterpretation.episode_id == episode_id)
        .order_by(StoredInterpretation.created_at.desc(), StoredInterpretation.id.desc())
        .limit(1)
    )
    return session.scalar(query)
