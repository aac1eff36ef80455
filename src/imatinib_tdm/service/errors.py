"""One place that turns package errors into HTTP answers (the web edge of ``errors.py``).

Every :class:`~imatinib_tdm.errors.TdmError` becomes a JSON answer with a 4xx status and the
offending field, shaped like FastAPI's own validation errors
(``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``), so a client handles both alike.
Pages catch errors themselves and re-render their form; this handler is for the JSON API and for
anything a page did not foresee.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from imatinib_tdm.errors import TdmError

__all__ = [
    "PageRenderer",
    "error_detail",
    "install_error_handlers",
    "safe_validation_errors",
    "status_for",
]

PageRenderer = Callable[[Request, int, str, str], Response]

# By class name, so the handler needs no import of the store's errors (the lowest matching class
# of the error's MRO wins); anything else of the package is input that cannot be used: 422.
_STATUS_BY_NAME = {
    "NotFoundError": 404,
    "ConflictError": 409,
    "ImmutableRecordError": 409,
    "PermissionDeniedError": 403,
    "ComputeUnavailableError": 503,  # over the time limit, pool busy or client gone
}
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def status_for(error: TdmError) -> int:
    """HTTP status for a package error: 404, 409, 403 or 422."""
    for cls in type(error).__mro__:
        status = _STATUS_BY_NAME.get(cls.__name__)
        if status is not None:
            return status
    return 422


def _split_path(path: str) -> list[str | int]:
    """``samples[0].time`` -> ``["samples", 0, "time"]``."""
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(path):
        parts.append(int(index) if index else name)
    return parts


def error_detail(error: TdmError, *, loc_prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The error as FastAPI-style detail entries; one per problem when the error lists several.

    Parameters
    ----------
    error : TdmError
    loc_prefix : tuple of str
        Put before each field path, e.g. ``("body", "case")`` for a case inside a request body.
    """
    kind = _snake(type(error).__name__)
    problems = error.fields.get("problems")
    if isinstance(problems, list) and problems:
        entries = []
        for problem in problems:
            field = problem.get("field") if isinstance(problem, dict) else None
            if field is None and isinstance(problem, dict) and "loc" in problem:
                loc: list[str | int] = [p for p in problem["loc"] if isinstance(p, str | int)]
            else:
                loc = _split_path(str(field)) if field else []
            message = problem.get("message", error.message) if isinstance(problem, dict) else ""
            entries.append(
                {"loc": [*loc_prefix, *loc], "msg": _safe_text(str(message)), "type": kind}
            )
        return entries
    field = error.fields.get("field")
    loc = _split_path(str(field)) if field else []
    return [{"loc": [*loc_prefix, *loc], "msg": _safe_text(error.message), "type": kind}]


_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_MAX_ECHO_CHARS = 100


def _safe_text(value: str, limit: int = 1000) -> str:
    """Text that encodes as UTF-8 and prints safely: controls and lone surrogates as U+FFFD."""
    text = _UNSAFE_CHARS.sub("\ufffd", value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_value(value: Any) -> Any:
    """A JSON-safe echo of an input or context value: finite numbers, booleans, None and short
    text as they are; non-finite numbers and anything else as short text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**15 else "(a very large integer)"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _safe_text(value, _MAX_ECHO_CHARS)
    return None


def _safe_ctx(value: Any) -> Any:
    if isinstance(value, BaseException):
        return _safe_text(str(value), 300)
    echoed = _safe_value(value)
    return echoed if echoed is not None or value is None else _safe_text(str(value), 300)


def safe_validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic/FastAPI validation errors as JSON-safe detail entries.

    The errors carry the invalid input and a context that may hold NaN, an exception, a lone
    surrogate or a whole request body; serialising those as they are made the 422 itself fail
    (a 500). Kept: ``type``, ``loc`` and ``msg`` as safe text, a number or boolean ``input``
    (finite; text, objects and lists are left out: typed text may be patient data, and a refused
    one may hold the very control or bidirectional character it was refused for) and ``ctx``
    with safe values.
    """
    safe: list[dict[str, Any]] = []
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        entry: dict[str, Any] = {
            "type": _safe_text(str(error.get("type", "value_error")), 100),
            "loc": [
                part if isinstance(part, int) else _safe_text(str(part), 200)
                for part in error.get("loc", ())
            ],
            "msg": _safe_text(str(error.get("msg", ""))),
        }
        if "input" in error and not isinstance(error["input"], str):
            echoed = _safe_value(error["input"])
            if echoed is not None or error["input"] is None:
                entry["input"] = echoed
        ctx = error.get("ctx")
        if isinstance(ctx, Mapping):
            entry["ctx"] = {_safe_text(str(key), 100): _safe_ctx(v) for key, v in ctx.items()}
        safe.append(entry)
    return safe


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Invalid input",
    413: "Request too large",
    429: "Too many attempts",
    503: "Try again later",
}


def install_error_handlers(app: FastAPI, render_page: PageRenderer) -> None:
    """Register the handlers: JSON under ``/api/``, an HTML page elsewhere.

    Parameters
    ----------
    render_page : callable
        ``render_page(request, status, title, detail) -> Response`` for page requests.
    """

    def answer(request: Request, status: int, detail: Any) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(status_code=status, content={"detail": detail})
        text = (
            detail
            if isinstance(detail, str)
            else "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}"
                for d in detail
                if isinstance(d, dict)
            )
        )
        return render_page(request, status, _TITLES.get(status, "Error"), text)

    async def handle_tdm_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TdmError)
        return answer(request, status_for(exc), error_detail(exc))

    async def handle_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        loc = getattr(exc, "loc", None)  # the request guard's 422 (limits.RequestRefused)
        if loc is not None:
            detail = [{"loc": [loc], "msg": str(exc.detail), "type": "invalid_text"}]
            return answer(request, exc.status_code, detail)
        if request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        return answer(request, exc.status_code, str(exc.detail))

    async def handle_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return answer(request, 422, safe_validation_errors(exc.errors()))

    async def handle_unencodable_text(request: Request, exc: Exception) -> Response:
        # a lone surrogate that got past validation (e.g. inside a free-form JSON document)
        # fails when stored or answered; the text itself is neither answered nor logged
        return answer(
            request,
            422,
            [
                {
                    "loc": ["body"],
                    "msg": "the request contains text that is not valid Unicode (a lone "
                    "surrogate); use plain text",
                    "type": "invalid_text",
                }
            ],
        )

    app.add_exception_handler(TdmError, handle_tdm_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(UnicodeEncodeError, handle_unencodable_text)
