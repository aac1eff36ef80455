"""``GET /api/health``: answers when the service is ready (no authentication, no data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from imatinib_tdm import __version__

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(request: Request) -> dict[str, str]:
    """Service status and version; checks that the database answers."""
    with request.app.state.database.read() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}
