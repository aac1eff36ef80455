"""Sessions, CSRF tokens and role checks: the dependencies every route declares.

* Sessions: Starlette's ``SessionMiddleware`` keeps ``{"sid": session token, "csrf": token}``
  in a cookie signed with the secret key (HttpOnly, SameSite=Lax, ``Secure`` when
  configured). The token names a server-side session (``store.start_session``: only its
  SHA-256 is stored); every request checks that the session exists, is not revoked or expired
  and that the account is active, so logout, a password change and a deactivation end every
  copy of the cookie at once, and a changed role takes effect at the next request. Nothing
  else, and no patient data, is put in the cookie.
* Client address: :func:`client_address`, the peer of the connection, or, when the peer is a
  configured trusted proxy (``Settings.trusted_proxies``), the last address before it in
  ``X-Forwarded-For``; the login throttle counts failures per address.
* CSRF: a random per-session token; every state-changing form carries it as ``csrf_token`` and
  every API write sends it as ``X-CSRF-Token``. Compared in constant time.
* Authorisation: :func:`require_user` (any role) and :func:`require_role` (capabilities of the
  store's ``Role``). An anonymous API request gets 401; an anonymous page request is redirected
  to the login page (303).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from imatinib_tdm.store import (
    Database,
    Role,
    can_administer,
    can_edit,
    can_issue_reports,
    end_session,
    find_session,
    get_user,
    record_event,
)

__all__ = [
    "CSRF_HEADER",
    "Administrator",
    "CurrentUser",
    "Editor",
    "Issuer",
    "NotAuthenticatedError",
    "RecordId",
    "SessionUser",
    "acting_user",
    "client_address",
    "csrf_token",
    "get_database",
    "install_auth_handlers",
    "log_in",
    "log_out",
    "require_role",
    "require_user",
    "session_lifetime",
    "session_token",
    "username_key",
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
    session_id: int
    """The server-side session this request came with (``user_sessions.id``)."""

    @property
    def can_edit(self) -> bool:
        """May enter and change patient data (clinician and above)."""
        return can_edit(self.role)

    @property
    def can_issue_reports(self) -> bool:
        """May validate and issue reports (pharmacologist, admin)."""
        return can_issue_reports(self.role)

    @property
    def can_administer(self) -> bool:
        """May manage accounts (admin)."""
        return can_administer(self.role)


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


def client_address(request: Request) -> str | None:
    """The client's address, for the login throttle and the audit log (``None`` if unknown).

    The peer of the connection; when that peer is one of ``Settings.trusted_proxies`` (a TLS
    proxy in front of the service), the right-most address of ``X-Forwarded-For`` that is not
    itself a trusted proxy. Headers from any other peer are ignored: a client cannot choose
    the address it is throttled under.
    """
    peer = request.client.host if request.client is not None else None
    trusted: frozenset[str] = getattr(request.app.state.settings, "trusted_proxies", frozenset())
    if peer is None or peer not in trusted:
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    for candidate in reversed([part.strip() for part in forwarded.split(",")]):
        if candidate in trusted:
            continue
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer  # a malformed entry: fall back to the proxy itself
    return peer


def username_key(request: Request) -> bytes:
    """The key that turns unknown typed usernames into keyed hashes in the audit log
    (``store.hashed_username``), derived from the service's secret key (never stored)."""
    key: bytes = request.app.state.settings.username_hash_key()
    return key


def session_token(request: Request) -> str | None:
    """The server-side session token carried by this request's cookie, if any."""
    token = request.session.get("sid")
    return token if isinstance(token, str) and token else None


def session_lifetime(request: Request) -> timedelta:
    """The lifetime of a new server-side session (``Settings.session_max_age_s``)."""
    return timedelta(seconds=request.app.state.settings.session_max_age_s)


def log_in(request: Request, token: str) -> str:
    """Start a fresh cookie session carrying the server-side session ``token`` (dropping
    anything from before); returns its CSRF token."""
    request.session.clear()
    request.session["sid"] = token
    return csrf_token(request)


def log_out(request: Request) -> None:
    """End the session: revoked on the server (audited ``logout``), then the cookie cleared.

    Synchronous (a database write): call it from a plain ``def`` route.
    """
    token = session_token(request)
    if token is not None:
        with get_database(request).transaction() as session:
            end_session(session, token, source_address=client_address(request))
    request.session.clear()


async def verify_csrf(request: Request) -> None:
    """Refuse a state-changing request without this session's CSRF token (403).

    Without a valid session the answer is "log in first" (401 / redirect), as for reads, so an
    anonymous client, or one with a revoked session, learns nothing more from a write than
    from a read. The session is checked against the database here too (in the threadpool).
    """
    if request.method in _SAFE_METHODS:
        return
    if request.url.path not in _ANONYMOUS_FORMS:
        user = await run_in_threadpool(_load_user, request)
        if user is None:
            request.session.clear()
            raise NotAuthenticatedError
        request.state.user = user
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
    token = session_token(request)
    if token is None:
        return None
    with get_database(request).read() as session:
        found = find_session(session, token)
        if found is None:  # unknown, revoked, expired, or the account is deactivated
            return None
        row, user = found
        return SessionUser(
            id=user.id,
            username=user.username,
            full_name=user.full_name or user.username,
            role=Role(user.role),
            session_id=row.id,
        )


def require_user(request: Request) -> SessionUser:
    """Dependency: the logged-in user (any role), else 401 / redirect to login.

    A plain ``def`` on purpose: the user is read from the database synchronously, so FastAPI
    runs it in its threadpool; as ``async def`` it would stall the event loop, and every other
    request with it, for the length of the query.
    """
    cached = getattr(request.state, "user", None)  # checked by verify_csrf in this request
    user = cached if isinstance(cached, SessionUser) else _load_user(request)
    if user is None:
        request.session.clear()
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
Administrator = Annotated[SessionUser, Depends(require_role(can_administer))]
"""A route parameter: a user who may manage accounts (admin)."""
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1, description="record id")]
"""A path parameter: a database id (positive 32-bit integer)."""
