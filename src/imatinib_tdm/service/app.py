"""The FastAPI application factory: middleware, routers, static files, error handlers.

``create_app(settings)`` builds one independent app (its own database engine and secret), so
tests can make as many as they like. The app is a thin shell: routes parse, call the library
(``compute``, ``store``, ``report``) and render.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imatinib_tdm import __version__
from imatinib_tdm.service.api import (
    auth,
    comedications,
    episodes,
    exports,
    health,
    interpret,
    models,
    patients,
    records,
    reports,
    simulate,
)
from imatinib_tdm.service.compute import configure_model_prior, configure_triage
from imatinib_tdm.service.errors import install_error_handlers
from imatinib_tdm.service.limits import RequestGuard
from imatinib_tdm.service.pages import routes as pages
from imatinib_tdm.service.pages.rendering import render_error_page
from imatinib_tdm.service.security import install_auth_handlers
from imatinib_tdm.service.settings import Settings
from imatinib_tdm.store import Database

__all__ = ["create_app", "plotly_bundle_path"]

_PACKAGE = Path(str(resources.files("imatinib_tdm.service")))
# Plotly's inline styles need 'unsafe-inline' for styles; scripts come only from this origin
# (figure data travels in <script type="application/json">, which is not executed).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def plotly_bundle_path() -> Path:
    """``plotly.min.js`` shipped inside the installed ``plotly`` package (served, not copied)."""
    return Path(str(resources.files("plotly"))) / "package_data" / "plotly.min.js"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web service.

    Parameters
    ----------
    settings : Settings, optional
        Default :meth:`Settings.from_env` (``DATABASE_URL``, secret key from the environment
        or the data directory).

    Returns
    -------
    FastAPI
        With the database migrated to the latest schema.
    """
    settings = settings or Settings.from_env()
    app = FastAPI(
        lifespan=_compute_pool_lifespan,
        title="imatinib-tdm",
        version=__version__,
        description="Therapeutic drug monitoring of imatinib: JSON API. Decision support, not a "
        "medical device. Log in with POST /api/auth/login; send the returned csrf_token as "
        "X-CSRF-Token on every write.",
    )
    app.state.settings = settings
    app.state.compute_pool = None
    configure_triage(settings.triage_model_path)
    configure_model_prior(settings.model_prior_path)
    app.state.database = Database.connect(settings.database_url)
    # innermost: its own answers (413, 422) get the security headers too
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        large_body_paths={"/api/patients/import": settings.max_import_bytes},
    )
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=settings.cookie_name,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    install_error_handlers(app, render_error_page)
    install_auth_handlers(app)
    for module in (
        health,
        auth,
        interpret,
        simulate,
        models,
        comedications,
        records,  # before patients: /api/patients/import is not a patient id
        patients,
        episodes,
        reports,
        exports,
    ):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=_PACKAGE / "static"), name="static")
    bundle = plotly_bundle_path()

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        return FileResponse(bundle, media_type="text/javascript")

    return app


@asynccontextmanager
async def _compute_pool_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the compute processes (``Settings.compute_processes``) before the first request,
    stop them at shutdown."""
    settings: Settings = app.state.settings
    if settings.compute_processes == 0:
        yield
        return
    from imatinib_tdm.service.compute_pool import ComputePool

    pool = ComputePool(
        settings.compute_processes,
        settings.default_model_id,
        triage_model_path=settings.triage_model_path,
        model_prior_path=settings.model_prior_path,
        time_limit_s=settings.compute_time_limit_s,
        queue_limit_s=settings.compute_queue_limit_s,
        large_processes=settings.compute_large_processes,
    )
    pool.start()
    app.state.compute_pool = pool
    try:
        yield
    finally:
        app.state.compute_pool = None
        pool.close()


class _SecurityHeaders:
    """Adds CSP and related headers; forbids caching of anything but static assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        cacheable = path.startswith(("/static/", "/vendor/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", _CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not cacheable:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
