"""Account pages: one's own password (``/account``) and account management for admins
(``/users``): list, create, change role, reset password, deactivate and reactivate.

Every form is CSRF-protected, every change is made by a store function that checks the role
again and records the audit event; passwords are hashed before the transaction that stores
them. The same operations are in the JSON API (``service/api/auth.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from imatinib_tdm.errors import TdmError
from imatinib_tdm.service.accounts import change_password_and_rotate, create_account, reset_password
from imatinib_tdm.service.errors import status_for
from imatinib_tdm.service.pages.rendering import render
from imatinib_tdm.service.security import (
    Administrator,
    CurrentUser,
    RecordId,
    acting_user,
    get_database,
    verify_csrf,
)
from imatinib_tdm.store import (
    MIN_PASSWORD_LENGTH,
    Role,
    deactivate_user,
    list_users,
    reactivate_user,
    set_role,
)

router = APIRouter(include_in_schema=False)

_ROLES = [role.value for role in Role]
_DONE = {
    "password": "Your password was changed; your other sessions were ended.",
    "created": "The account was created.",
    "role": "The role was changed.",
    "reset": "The password was set; the account's sessions were ended.",
    "deactivated": "The account was deactivated; its sessions were ended.",
    "reactivated": "The account was reactivated.",
}


def _done(request: Request) -> str | None:
    return _DONE.get(request.query_params.get("done", ""))


@router.get("/account")
def account_page(request: Request, user: CurrentUser) -> Any:
    """The user's own account: name, role, and the form to change the password."""
    return render(
        request,
        "account.html.j2",
        error=None,
        message=_done(request),
        min_length=MIN_PASSWORD_LENGTH,
    )


@router.post("/account/password", dependencies=[Depends(verify_csrf)])
def account_password(
    request: Request,
    user: CurrentUser,
    current_password: str = Form(default="", max_length=1024),
    new_password: str = Form(default="", max_length=1024),
    repeat_password: str = Form(default="", max_length=1024),
) -> Any:
    """Change one's own password (the current one is required). All sessions of the account
    end; this browser gets a new one."""
    error, status = None, 422
    if new_password != repeat_password:
        error = "repeat_password: the two new passwords differ"
    else:
        try:
            change_password_and_rotate(request, user, current_password, new_password)
        except TdmError as failure:
            error, status = str(failure), status_for(failure)
    if error is not None:
        return render(
            request,
            "account.html.j2",
            status_code=status,
            error=error,
            min_length=MIN_PASSWORD_LENGTH,
        )
    return RedirectResponse("/account?done=password", status_code=303)


def _users_page(request: Request, *, status_code: int = 200, error: str | None = None) -> Any:
    with get_database(request).read() as session:
        accounts = list_users(session)
    return render(
        request,
        "users.html.j2",
        status_code=status_code,
        accounts=accounts,
        roles=_ROLES,
        error=error,
        message=_done(request),
        min_length=MIN_PASSWORD_LENGTH,
    )


@router.get("/users")
def users_page(request: Request, admin: Administrator) -> Any:
    """Every account with its role and state, and the forms to manage them (admins only)."""
    return _users_page(request)


def _after(request: Request, done: str, change: Any) -> Any:
    """Run ``change()``; back to the list with a confirmation, or the list with the error."""
    try:
        change()
    except TdmError as failure:
        return _users_page(request, status_code=status_for(failure), error=str(failure))
    return RedirectResponse(f"/users?done={done}", status_code=303)


@router.post("/users", dependencies=[Depends(verify_csrf)])
def users_create(
    request: Request,
    admin: Administrator,
    username: str = Form(default="", max_length=128),
    full_name: str = Form(default="", max_length=400),
    role: str = Form(default="viewer", max_length=40),
    password: str = Form(default="", max_length=1024),
) -> Any:
    """Create an account (admins only); the password must pass the policy."""

    def change() -> None:
        create_account(
            get_database(request),
            admin,
            username=username,
            full_name=full_name,
            role=role,
            password=password,
        )

    return _after(request, "created", change)


@router.post("/users/{user_id}/role", dependencies=[Depends(verify_csrf)])
def users_role(
    request: Request,
    user_id: RecordId,
    admin: Administrator,
    role: str = Form(default="", max_length=40),
) -> Any:
    """Change an account's role (admins only)."""

    def change() -> None:
        with get_database(request).transaction() as session:
            set_role(session, user_id, role, actor=acting_user(session, admin))

    return _after(request, "role", change)


@router.post("/users/{user_id}/password", dependencies=[Depends(verify_csrf)])
def users_password(
    request: Request,
    user_id: RecordId,
    admin: Administrator,
    password: str = Form(default="", max_length=1024),
) -> Any:
    """Set a new password for an account (admins only); its sessions end."""

    def change() -> None:
        reset_password(get_database(request), admin, user_id, password)

    return _after(request, "reset", change)


@router.post("/users/{user_id}/deactivate", dependencies=[Depends(verify_csrf)])
def users_deactivate(request: Request, user_id: RecordId, admin: Administrator) -> Any:
    """Deactivate an account (admins only); its sessions end."""

    def change() -> None:
        with get_database(request).transaction() as session:
            deactivate_user(session, user_id, actor=acting_user(session, admin))

    return _after(request, "deactivated", change)


@router.post("/users/{user_id}/reactivate", dependencies=[Depends(verify_csrf)])
def users_reactivate(request: Request, user_id: RecordId, admin: Administrator) -> Any:
    """Let a deactivated account log in again (admins only)."""

    def change() -> None:
        with get_database(request).transaction() as session:
            reactivate_user(session, user_id, actor=acting_user(session, admin))

    return _after(request, "reactivated", change)
