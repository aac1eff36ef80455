"""Log-in and log-out pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from imatinib_tdm.service.pages.rendering import render
from imatinib_tdm.service.security import (
    client_address,
    get_database,
    log_in,
    log_out,
    session_lifetime,
    username_key,
    verify_csrf,
)
from imatinib_tdm.store import attempt_login

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    """The patient list (which asks for a login when needed)."""
    return RedirectResponse("/patients", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Any:
    """The log-in form."""
    return render(request, "login.html.j2", error=None, username="")


@router.post("/login", dependencies=[Depends(verify_csrf)])
def login_submit(
    request: Request,
    username: str = Form(default="", max_length=128),
    password: str = Form(default="", max_length=1024),
) -> Any:
    """Check the credentials; on success start a new session and go to the patient list.

    A locked-out username (too many failures) gets the form again with status 429 and the time
    to retry; the typed username is kept, the password never.
    """
    attempt = None
    if username and password:  # attempt_login runs its own short transactions
        attempt = attempt_login(
            get_database(request),
            username,
            password,
            name_key=username_key(request),
            source_address=client_address(request),
            session_lifetime=session_lifetime(request),
        )
    token = None if attempt is None else attempt.session_token
    if attempt is not None and attempt.busy:
        page = render(
            request,
            "login.html.j2",
            status_code=503,
            error="The server is busy checking other log-ins; try again in a few seconds.",
            username=username,
        )
        page.headers["Retry-After"] = "5"
        return page
    if attempt is not None and attempt.locked:
        page = render(
            request, "login.html.j2", status_code=429, error=attempt.message, username=username
        )
        page.headers["Retry-After"] = str(attempt.retry_after)
        return page
    if token is None:
        return render(
            request,
            "login.html.j2",
            status_code=401,
            error="Wrong username or password.",
            username=username,
        )
    log_in(request, token)
    return RedirectResponse("/patients", status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> RedirectResponse:
    """End the session on the server (audited ``logout``) and in the browser."""
    log_out(request)
    return RedirectResponse("/login", status_code=303)
