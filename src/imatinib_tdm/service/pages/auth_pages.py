"""Log-in and log-out pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from imatinib_tdm.service.pages.rendering import render
from imatinib_tdm.service.security import get_database, log_in, log_out, verify_csrf
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
    with get_database(request).transaction() as session:
        attempt = attempt_login(session, username, password) if username and password else None
        user_id = None if attempt is None or attempt.user is None else attempt.user.id
    if attempt is not None and attempt.locked:
        page = render(
            request, "login.html.j2", status_code=429, error=attempt.message, username=username
        )
        page.headers["Retry-After"] = str(attempt.retry_after)
        return page
    if user_id is None:
        return render(
            request,
            "login.html.j2",
            status_code=401,
            error="Wrong username or password.",
            username=username,
        )
    log_in(request, user_id)
    return RedirectResponse("/patients", status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> RedirectResponse:
    """End the session."""
    log_out(request)
    return RedirectResponse("/login", status_code=303)
