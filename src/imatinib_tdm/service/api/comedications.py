"""``GET /api/comedications?q=``: names from the interaction knowledge base, for autocomplete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from imatinib_tdm.service.api.responses import READ
from imatinib_tdm.service.security import require_user
from imatinib_tdm.tdm import interaction_names, match_comedications

router = APIRouter(tags=["comedications"], dependencies=[Depends(require_user)])
_MAX_SUGGESTIONS = 20


@router.get("/api/comedications", responses={**READ, 422: {"description": "invalid query"}})
def suggest_comedications(
    q: str = Query(default="", max_length=100, description="start of a drug or brand name"),
) -> dict[str, Any]:
    """Known names starting with (then containing) ``q``, and how ``q`` itself matches.

    ``match`` is the knowledge-base entry ``q`` resolves to (exact, brand, synonym or fuzzy),
    or null.
    """
    query = q.strip().casefold()
    names = interaction_names()
    starts = [n for n in names if n.casefold().startswith(query)]
    contains = [n for n in names if query in n.casefold() and n not in starts]
    suggestions = (starts + contains)[:_MAX_SUGGESTIONS]
    match = None
    if query:
        found = match_comedications([q.strip()])[0]
        if found.entry is not None:
            match = {
                "id": found.entry.id,
                "kind": found.kind.value,
                "score": float(found.score),
                "matched_name": found.matched_name,
            }
    return {"query": q, "names": suggestions, "match": match}
