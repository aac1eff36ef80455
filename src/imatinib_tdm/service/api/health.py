"""``GET /api/health``: answers when the service is ready (no authentication, no data).

Ready means the database answers *and can write*: a database whose write lock is held (a stuck
transaction, a flood of writers), a read-only file or a PostgreSQL standby gets 503 with the
reason, so a load balancer or a monitor sees what clinicians would meet at their next save.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from imatinib_tdm import __version__
from imatinib_tdm.store import Database

router = APIRouter(tags=["health"])

WRITE_CHECK_TIMEOUT_S = 0.5
"""How long the health check waits for the database's write lock (software choice: far above
a normal write transaction, a few ms, and far below a monitor's usual 5-10 s timeout)."""


@router.get(
    "/api/health",
    responses={503: {"description": "the database does not answer or cannot write"}},
)
def health(request: Request) -> JSONResponse:
    """Service status and version; checks that the database answers and can write.

    200 ``{"status": "ok", "version": ...}``; 503 ``{"status": "unavailable", "reason": ...}``
    when a read fails or a write could not start within 0.5 s (nothing is written).
    """
    database: Database = request.app.state.database
    try:
        with database.read() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # any driver failure is "not ready", never a 500
        return _unavailable(f"database does not answer: {type(error).__name__}")
    problem = database.write_problem(timeout_s=WRITE_CHECK_TIMEOUT_S)
    if problem is not None:
        return _unavailable(f"database cannot write: {problem}")
    return JSONResponse({"status": "ok", "version": __version__})


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"status": "unavailable", "reason": reason, "version": __version__},
        headers={"Retry-After": "5"},
    )
