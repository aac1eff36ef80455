"""Log-in, log-out, one's own password, and account management for admins.

``POST /api/auth/login``, ``POST /api/auth/logout``, ``GET /api/auth/me``,
``POST /api/auth/password``; ``GET/POST /api/users``, ``POST /api/users/{id}/role``,
``/password``, ``/deactivate``, ``/reactivate`` (admins). Passwords are hashed before the
transaction that stores them (``store.prepare_password``), never while a write lock is held.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from imatinib_tdm.service.accounts import change_password_and_rotate, create_account, reset_password
from imatinib_tdm.service.api.responses import ENTITY_WRITE, READ, WRITE
from imatinib_tdm.service.schemas import LoginRequest, LoginResponse, Text
from imatinib_tdm.service.security import (
    Administrator,
    CurrentUser,
    RecordId,
    acting_user,
    client_address,
    csrf_token,
    get_database,
    log_in,
    log_out,
    session_lifetime,
    username_key,
    verify_csrf,
)
from imatinib_tdm.store import (
    User,
    attempt_login,
    deactivate_user,
    list_users,
    reactivate_user,
    set_role,
)

router = APIRouter(tags=["auth"])


@router.post(
    "/api/auth/login",
    response_model=LoginResponse,
    responses={
        **WRITE,
        401: {"description": "wrong username or password"},
        429: {
            "description": "too many failed attempts for this username or from this client "
            "address: refused without checking the password; `detail` says when to try again, "
            "`Retry-After` in seconds"
        },
        503: {"description": "too many log-ins being checked at once: try again shortly"},
    },
)
def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Log in; sets the session cookie and returns the CSRF token for API writes.

    A wrong username and a wrong password get the same answer. After
    ``store.MAX_FAILED_LOGINS`` failures within ``store.LOGIN_FAILURE_WINDOW`` a username (known
    or not), and after ``store.MAX_FAILED_LOGINS_PER_ADDRESS`` failures a client address, is
    refused with 429 until the lockout ends, even with the right password.
    """
    # attempt_login runs its own short transactions; none is open while the hash runs
    attempt = attempt_login(
        get_database(request),
        body.username,
        body.password,
        name_key=username_key(request),
        source_address=client_address(request),
        session_lifetime=session_lifetime(request),
    )
    if attempt.busy:
        raise HTTPException(
            status_code=503,
            detail="the server is busy checking other log-ins; try again in a few seconds",
            headers={"Retry-After": "5"},
        )
    if attempt.locked:
        raise HTTPException(
            status_code=429,
            detail=attempt.message,
            headers={"Retry-After": str(attempt.retry_after)},
        )
    if attempt.user is None or attempt.session_token is None:
        raise HTTPException(status_code=401, detail="wrong username or password")
    token = log_in(request, attempt.session_token)
    return LoginResponse(
        username=attempt.user.username, role=attempt.user.role.value, csrf_token=token
    )


@router.post("/api/auth/logout", responses=WRITE, dependencies=[Depends(verify_csrf)])
def logout(request: Request, user: CurrentUser) -> dict[str, str]:
    """End the session on the server (every copy of the cookie stops working); audited."""
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PasswordChange(_Strict):
    """``POST /api/auth/password``: one's own new password, proven by the current one."""

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordReset(_Strict):
    """``POST /api/users/{id}/password``: an admin sets a new password for an account."""

    password: str = Field(min_length=1, max_length=1024)


class RoleChange(_Strict):
    """``POST /api/users/{id}/role``."""

    role: str = Field(min_length=1, max_length=40, description="viewer, clinician, ...")


class UserCreate(_Strict):
    """``POST /api/users``: a new account."""

    username: Text = Field(min_length=1, max_length=64)
    full_name: Text = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=40, description="viewer, clinician, ...")
    password: str = Field(min_length=1, max_length=1024)


class UserPublic(BaseModel):
    """An account as the API shows it (never its password hash)."""

    id: int
    username: str
    full_name: str
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    password_changed_at: datetime


def user_public(user: User) -> UserPublic:
    """The public view of a stored account."""
    return UserPublic(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=user.role.value,
        is_active=user.is_active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        password_changed_at=user.password_changed_at,
    )


@router.post(
    "/api/auth/password",
    responses={**WRITE, 409: {"description": "the password changed meanwhile"}},
    dependencies=[Depends(verify_csrf)],
)
def change_password(body: PasswordChange, request: Request, user: CurrentUser) -> dict[str, str]:
    """Change one's own password (the current one is required); audited.

    Every session of the account ends, this one included (a copy of its cookie could be in
    someone else's hands); the client gets a fresh session in the answer's cookie, and its new
    CSRF token in ``csrf_token``.
    """
    token = change_password_and_rotate(request, user, body.current_password, body.new_password)
    return {"status": "password changed", "csrf_token": token}


users = APIRouter(tags=["users"])


@users.get("/api/users", response_model=list[UserPublic], responses=READ)
def get_users(request: Request, admin: Administrator) -> list[UserPublic]:
    """Every account (admins only)."""
    with get_database(request).read() as session:
        return [user_public(user) for user in list_users(session)]


@users.post(
    "/api/users",
    response_model=UserPublic,
    status_code=201,
    responses={**WRITE, 409: {"description": "the username is taken"}},
    dependencies=[Depends(verify_csrf)],
)
def post_user(body: UserCreate, request: Request, admin: Administrator) -> UserPublic:
    """Create an account (admins only); the password must pass the policy."""
    user = create_account(
        get_database(request),
        admin,
        username=body.username,
        full_name=body.full_name,
        role=body.role,
        password=body.password,
    )
    return user_public(user)


@users.post(
    "/api/users/{user_id}/role",
    response_model=UserPublic,
    responses=ENTITY_WRITE,
    dependencies=[Depends(verify_csrf)],
)
def post_role(user_id: RecordId, body: RoleChange, request: Request, admin: Administrator) -> Any:
    """Change an account's role (admins only; the last active admin keeps the role)."""
    with get_database(request).transaction() as session:
        return user_public(set_role(session, user_id, body.role, actor=acting_user(session, admin)))


@users.post(
    "/api/users/{user_id}/password",
    responses=ENTITY_WRITE,
    dependencies=[Depends(verify_csrf)],
)
def post_password(
    user_id: RecordId, body: PasswordReset, request: Request, admin: Administrator
) -> dict[str, str]:
    """Set a new password for an account (admins only); all its sessions end."""
    reset_password(get_database(request), admin, user_id, body.password)
    return {"status": "password set"}


@users.post(
    "/api/users/{user_id}/deactivate",
    response_model=UserPublic,
    responses=ENTITY_WRITE,
    dependencies=[Depends(verify_csrf)],
)
def post_deactivate(user_id: RecordId, request: Request, admin: Administrator) -> Any:
    """Deactivate an account (admins only): it cannot log in, its sessions end."""
    with get_database(request).transaction() as session:
        return user_public(deactivate_user(session, user_id, actor=acting_user(session, admin)))


@users.post(
    "/api/users/{user_id}/reactivate",
    response_model=UserPublic,
    responses=ENTITY_WRITE,
    dependencies=[Depends(verify_csrf)],
)
def post_reactivate(user_id: RecordId, request: Request, admin: Administrator) -> Any:
    """Let a deactivated account log in again (admins only)."""
    with get_database(request).transaction() as session:
        return user_public(reactivate_user(session, user_id, actor=acting_user(session, admin)))


router.include_router(users)
