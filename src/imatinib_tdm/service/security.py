"""Sessions, CSRF tokens and role checks: the dependencies every route declares.

* Sessions: Starlette's ``SessionMiddleware`` keeps ``{"uid": user id, "csrf": token}`` in a
  cookie signed with the secret key (HttpOnly, SameSite=Lax, ``Secure`` when configured). The
  user is looked up again on every request, so a deactivated account or a changed role takes
  effect at once. Nothing else, and no patient data, is put in the cookie.
* CSRF: a random per-session token; every state-changing form carries it as ``csrf_token`` and
  every API write sends it as ``X-CSRF-Token``. Compared in constant time.
* Authorisation: :func:`require_user` (any role) and :func:`require_role` (capabilities of the
  store's ``Role``). An anonymous API request gets 401; an anonymous page request is redirected
  to the login page (303).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from imatinib_tdm.errors import NotFoundError
from imatinib_tdm.store import (
    Database,
    Role,
    can_edit,
    can_issue_reports,
    get_user,
    record_event,
)

__all__ = [
    "CSRF_HEADER",
    "CurrentUser",
    "Editor",
    "Issuer",
    "NotAuthenticatedError",
    "RecordId",
    "SessionUser",
    "acting_user",
    "csrf_token",
    "get_database",
    "install_auth_handlers",
    "log_in",
    "log_out",
    "require_role",
    "require_user",
    "verify_csrf",
]

CSRF_HEADER = "X-CSRF-Token"
_CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ANONYMOUS_FORMS = frozenset({"/login"})  # posted before there is a user, still CSRF-checked


@dataclass(frozen=True)
class SessionUser:
    """The logged-in user of a request (a plain value, detached from the database)."""

    id: int
    username: str
    full_name: str
    role: Role

    @property
    def can_edit(self) -> bool:
        """May enter and change patient data (clinician and above)."""
        return can_edit(self.role)

    @property
    def can_issue_reports(self) -> bool:
        """May validate and issue reports (pharmacologist, admin)."""
        return can_issue_reports(self.role)


class NotAuthenticatedError(Exception):
    """No valid session: 401 for the API, a redirect to the login page for pages."""


def get_database(request: Request) -> Database:
    """The database of the app serving ``request``."""
    database: Database = request.app.state.database
    return database


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def log_in(request: Request, user_id: int) -> str:
    """Start a fresh session for ``user_id`` (dropping anything from before); its CSRF token."""
    request.session.clear()
    request.session["uid"] = user_id
    return csrf_token(request)


def log_out(request: Request) -> None:
    """End the session."""
    request.session.clear()


async def verify_csrf(request: Request) -> None:
    """Refuse a state-changing request without this session's CSRF token (403).

    Without a session at all the answer is "log in first" (401 / redirect), as for reads, so an
    anonymous client learns nothing more from a write than from a read.
    """
    if request.method in _SAFE_METHODS:
        return
    if "uid" not in request.session and request.url.path not in _ANONYMOUS_FORMS:
        raise NotAuthenticatedError
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached by Starlette: the route reads it again for free
        value = form.get(_CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token")


def _load_user(request: Request) -> SessionUser | None:
    uid = request.session.get("uid")
    if not isinstance(uid, int) or isinstance(uid, bool):
        return None
    database = get_database(request)
    with database.read() as session:
        try:
            user = get_user(session, uid)
        except NotFoundError:  # the account is gone
            return None
        if not user.is_active:
            return None
        return SessionUser(
            id=user.id,
            username=user.username,
            full_name=user.full_name or user.username,
            role=Role(user.role),
        )


def require_user(request: Request) -> SessionUser:
    """Dependency: the logged-in user (any role), else 401 / redirect to login.

    A plain ``def`` on purpose: the user is read from the database synchronously, so FastAPI
    runs it in its threadpool; as ``async def`` it would stall the event loop, and every other
    request with it, for the length of the query.
    """
    user = _load_user(request)
    if user is None:
        request.session.pop("uid", None)
        raise NotAuthenticatedError
    request.state.user = user
    return user


def require_role(
    capability: Callable[[Role], bool],
) -> Callable[[Request], SessionUser]:
    """Dependency factory: a user whose role passes ``capability``, else 403.

    ``capability`` is one of the store's predicates: ``can_edit`` (clinician, pharmacologist,
    admin), ``can_issue_reports`` (pharmacologist, admin) or ``can_administer`` (admin).
    """

    def dependency(request: Request) -> SessionUser:  # sync: reads the database (threadpool)
        user = require_user(request)
        if not capability(user.role):
            raise HTTPException(
                status_code=403, detail=f"your role ({user.role.value}) may not do this"
            )
        return user

    return dependency


def install_auth_handlers(app: FastAPI) -> None:
    """401 JSON for the API, 303 to ``/login`` for pages, when nobody is logged in."""

    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                status_code=401,
                content={"detail": "not authenticated: log in first"},
                headers={"WWW-Authenticate": "Cookie"},
            )
        return RedirectResponse("/login", status_code=303)

    app.add_exception_handler(NotAuthenticatedError, handle)


def user_context(request: Request) -> dict[str, Any]:
    """Template variables every page needs: the user and the CSRF token."""
    return {"user": getattr(request.state, "user", None), "csrf_token": csrf_token(request)}


def acting_user(session: Any, user: SessionUser) -> Any:
    """The store's ``User`` row of the logged-in user, in ``session`` (the store's ``actor``)."""
    return get_user(session, user.id)


def audit_view(
    session: Any,
    user: SessionUser,
    entity_type: str,
    entity_id: int | None,
    *,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record that ``user`` viewed patient data (the store records every change itself)."""
    record_event(
        session,
        actor=acting_user(session, user),
        action="view",
        entity_type=entity_type,
        entity_id=entity_id,
        patient_id=patient_id,
        detail=detail,
    )


CurrentUser = Annotated[SessionUser, Depends(require_user)]
"""A route parameter: the logged-in user, any role."""
Editor = Annotated[SessionUser, Depends(require_role(can_edit))]
"""A route parameter: a user who may enter and change patient data."""
Issuer = Annotated[SessionUser, Depends(require_role(can_issue_reports))]
"""A route parameter: a user who may validate and issue reports."""
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="record id")]
"""A path parameter: a database id (positive 32-bit integer)."""
