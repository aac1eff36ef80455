"""``run_server``: uvicorn on one address, with an access log that carries no patient data.

URLs of this service hold only numeric ids, but a query string (a search box, an autocomplete
query) may hold a name: the access log drops every query string.

With ``workers > 1`` uvicorn runs that many processes on the same socket (interpretations are
CPU-bound and Python runs one thread at a time per process). The processes share nothing but
the database (SQLite in WAL mode or PostgreSQL) and the settings: the parent resolves them once
(so the secret key, from the environment or the data directory, is the same in every worker),
migrates the database once, and hands the settings to the workers through the environment of
its own child processes.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

from imatinib_tdm.service.app import create_app
from imatinib_tdm.service.settings import Settings
from imatinib_tdm.store import Database

__all__ = ["QueryStringFilter", "app_from_environment", "log_config", "run_server"]

# settings handed from run_server to its worker processes (JSON of Settings, secret included:
# the environment of a process is readable only by its owner)
_WORKER_SETTINGS_ENV = "IMATINIB_TDM_WORKER_SETTINGS"


class QueryStringFilter(logging.Filter):
    """Drops the query string from uvicorn access-log records (``/patients?q=Doe`` is logged
    as ``/patients``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access records: (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def run_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: Settings | None = None,
    *,
    workers: int = 1,
) -> None:
    """Serve the web application until interrupted.

    Parameters
    ----------
    host : str, default "127.0.0.1"
        Address to bind (loopback by default: put a TLS proxy in front for other machines).
    port : int, default 8000
    settings : Settings, optional
        Default :meth:`Settings.from_env`.
    workers : int, default 1
        Worker processes; one per CPU core serves concurrent interpretations in parallel.

    Raises
    ------
    ValueError
        ``workers`` < 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if workers == 1:
        app = _settled(create_app(settings))
        uvicorn.run(app, host=host, port=port, log_config=log_config(), proxy_headers=False)
        return
    settings = settings or Settings.from_env()
    # migrate here, once: workers starting together must not race on the schema
    Database.connect(settings.database_url).dispose()
    os.environ[_WORKER_SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run(
        f"{__name__}:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(),
        proxy_headers=False,
    )


def app_from_environment() -> FastAPI:
    """The application of one worker process of :func:`run_server` (uvicorn factory).

    Raises
    ------
    RuntimeError
        Not started by :func:`run_server` (its settings are not in the environment).
    """
    raw = os.environ.get(_WORKER_SETTINGS_ENV)
    if not raw:
        raise RuntimeError("app_from_environment is started by run_server(workers > 1) only")
    return _settled(create_app(Settings.model_validate_json(raw)))


def _settled(app: FastAPI) -> FastAPI:
    """The app, its process readied for requests (:func:`compute.settle_process`)."""
    from imatinib_tdm.service.compute import settle_process

    settle_process(app.state.settings.default_model_id)
    return app


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`QueryStringFilter` on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query"] = {"()": QueryStringFilter}
    config["handlers"]["access"]["filters"] = ["no_query"]
    return config
