"""``POST /api/auth/login``, ``POST /api/auth/logout``, ``GET /api/auth/me``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from imatinib_tdm.service.api.responses import READ, WRITE
from imatinib_tdm.service.schemas import LoginRequest, LoginResponse
from imatinib_tdm.service.security import (
    CurrentUser,
    csrf_token,
    get_database,
    log_in,
    log_out,
    verify_csrf,
)
from imatinib_tdm.store import attempt_login

router = APIRouter(tags=["auth"])


@router.post(
    "/api/auth/login",
    response_model=LoginResponse,
    responses={
        **WRITE,
        401: {"description": "wrong username or password"},
        429: {
            "description": "too many failed attempts for this username: refused without "
            "checking the password; `detail` says when to try again, `Retry-After` in seconds"
        },
    },
)
def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Log in; sets the session cookie and returns the CSRF token for API writes.

    A wrong username and a wrong password get the same answer. After
    ``store.MAX_FAILED_LOGINS`` failures within ``store.LOGIN_FAILURE_WINDOW`` a username (known
    or not) is refused with 429 until the lockout ends, even with the right password.
    """
    # failed and refused attempts are audited by attempt_login(): commit before answering
    with get_database(request).transaction() as session:
        attempt = attempt_login(session, body.username, body.password)
        user = attempt.user
        identity = None if user is None else (user.id, user.username, user.role.value)
    if attempt.locked:
        raise HTTPException(
            status_code=429,
            detail=attempt.message,
            headers={"Retry-After": str(attempt.retry_after)},
        )
    if identity is None:
        raise HTTPException(status_code=401, detail="wrong username or password")
    user_id, username, role = identity
    token = log_in(request, user_id)
    return LoginResponse(username=username, role=role, csrf_token=token)


@router.post("/api/auth/logout", responses=WRITE, dependencies=[Depends(verify_csrf)])
def logout(request: Request, user: CurrentUser) -> dict[str, str]:
    """End the session."""
    log_out(request)
    return {"status": "logged out"}


@router.get("/api/auth/me", responses=READ)
def me(request: Request, user: CurrentUser) -> dict[str, Any]:
    """The logged-in user, and this session's CSRF token."""
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role.value,
        "csrf_token": csrf_token(request),
    }
