"""The clinical web service: JSON API (FastAPI) and server-rendered pages (Jinja2).

* :func:`create_app` — build the application (its own database and settings);
* :class:`Settings` — database URL, session secret, cookie flags;
* :func:`run_server` — serve it with uvicorn (access log without query strings).

A thin shell over ``case``, ``pk``, ``tdm``, ``report`` and ``store``: no PK math or clinical
rule lives here. See ``docs/service.md``.
"""

from imatinib_tdm.service.app import create_app
from imatinib_tdm.service.server import run_server
from imatinib_tdm.service.settings import Settings

__all__ = ["Settings", "create_app", "run_server"]
