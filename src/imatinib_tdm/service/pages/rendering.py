"""Template rendering for the pages (Jinja2, autoescaped) and the model select box.

Every template is autoescaped whatever its file name: the templates end in ``.html.j2``, which
Starlette's default (``select_autoescape()``, on for ``.html``/``.htm``/``.xml`` only) would
leave unescaped, so stored and reflected user text would become markup (issue 12). Markup built
in Python (:func:`model_select`) is assembled from escaped pieces only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

from imatinib_tdm.pk.library import list_models
from imatinib_tdm.service.security import user_context

__all__ = ["model_select", "page_environment", "render", "render_error_page"]

_TEMPLATE_FOLDER = Path(str(resources.files("imatinib_tdm.service"))) / "templates"


def page_environment() -> Environment:
    """The Jinja2 environment of the pages: autoescaping on for every template and string."""
    return Environment(loader=FileSystemLoader(_TEMPLATE_FOLDER), autoescape=True)


_TEMPLATES = Jinja2Templates(env=page_environment())


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Any:
    """Render template ``name`` with the user, the CSRF token and ``context``."""
    context.setdefault("message", None)
    return _TEMPLATES.TemplateResponse(
        request, name, {**user_context(request), **context}, status_code=status_code
    )


def model_select(selected: str, *, name: str = "model", auto: bool = False) -> Markup:
    """A labelled ``<select>`` of the library models (ids with their citation's first author);
    with ``auto``, first the automatic choice (the model fitting the patient's levels best)."""
    options = []
    field = escape(name)
    if auto:
        options.append(
            '<option value="auto">auto — the library model that fits the levels best</option>'
        )
    for model in list_models():
        chosen = " selected" if model.id == selected else ""
        options.append(
            f'<option value="{escape(model.id)}"{chosen}>{escape(model.id)} — '
            f"{escape(model.name)}</option>"
        )
    return Markup(
        f'<label for="{field}-select">Model</label>'
        f'<select id="{field}-select" name="{field}">{"".join(options)}</select>'
    )


def render_error_page(request: Request, status: int, title: str, detail: str) -> Any:
    """The error page (no stack trace, no internals)."""
    return render(
        request, "error.html.j2", status_code=status, status=status, title=title, detail=detail
    )
