"""``run_server``: uvicorn on one address, with an access log that carries no patient data.

URLs of this service hold only numeric ids, but a query string (a search box, an autocomplete
query) may hold a name: the access log drops every query string.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from imatinib_tdm.service.app import create_app
from imatinib_tdm.service.settings import Settings

__all__ = ["QueryStringFilter", "log_config", "run_server"]


class QueryStringFilter(logging.Filter):
    """Drops the query string from uvicorn access-log records (``/patients?q=Doe`` is logged
    as ``/patients``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access records: (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def run_server(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None) -> None:
    """Serve the web application until interrupted.

    Parameters
    ----------
    host : str, default "127.0.0.1"
        Address to bind (loopback by default: put a TLS proxy in front for other machines).
    port : int, default 8000
    settings : Settings, optional
        Default :meth:`Settings.from_env`.
    """
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_config=log_config(), proxy_headers=False)


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`QueryStringFilter` on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query"] = {"()": QueryStringFilter}
    config["handlers"]["access"]["filters"] = ["no_query"]
    return config
