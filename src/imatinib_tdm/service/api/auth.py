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
from imatinib_tdm.store import authenticate

router = APIRouter(tags=["auth"])


@router.post(
    "/api/auth/login",
    response_model=LoginResponse,
    responses={**WRITE, 401: {"description": "wrong username or password"}},
)
def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Log in; sets the session cookie and returns the CSRF token for API writes.

    A wrong username and a wrong password get the same answer.
    """
    # the failed attempt is audited by authenticate(): commit before answering 401
    with get_database(request).transaction() as session:
        user = authenticate(session, body.username, body.password)
        identity = None if user is None else (user.id, user.username, user.role.value)
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
