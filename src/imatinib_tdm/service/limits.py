"""The request guard: body size limits, hostile text in the URL and in forms, relative redirects.

A pure ASGI middleware (no buffering of the body): it counts the bytes of the body as they
arrive and refuses a body over its limit with 413, whether the ``Content-Length`` header is
absent, honest or lies (the count, not the header, decides). Control characters (NUL above all:
PostgreSQL refuses it in text, and the failed statement was logged with the value) in the path,
the query string or a URL-encoded form are refused with 422 before any route sees them; JSON
bodies are checked field by field by the schemas and the case model. Every ``Location`` of a
response is made relative, so that a forged ``Host`` header never reaches a redirect (Starlette's
trailing-slash redirect builds an absolute URL from it).

No request value is ever put into a message or a log line here: only sizes and positions.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes, urlsplit, urlunsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuard", "RequestRefused", "relative_location"]

# C0 controls other than tab, line feed and carriage return, and DEL
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# the same, percent-encoded, as they appear in a URL-encoded form body
_ENCODED_CONTROL = re.compile(rb"%(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])")
# in a JSON body: escapes of controls (\u0000-\u001f but tab, LF, CR; \u007f) and of lone
# surrogates (a high one not followed by a low one, a low one not preceded by a high one)
_JSON_CONTROL = re.compile(rb"\\u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])")
_JSON_LONE_HIGH = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")
_JSON_LONE_LOW = re.compile(rb"(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_JSON_TAIL = 12  # bytes kept from the previous chunk: an escape pair split across two chunks
_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_CONTENT_LENGTH_DIGITS = 18


class RequestRefused(StarletteHTTPException):
    """A request refused by the guard (413 too large, 422 hostile text, 400 bad length).

    An ``HTTPException``, so that raised while a route reads its body it reaches the usual
    handlers (JSON under ``/api/``, an error page elsewhere); ``loc`` names the part of the
    request for a 422 (``["body"]``).
    """

    def __init__(self, status_code: int, detail: str, *, loc: str | None = None) -> None:
        super().__init__(status_code, detail)
        self.loc = loc


def _json_problem(window: bytes, *, final: bool) -> str | None:
    """A control-character or lone-surrogate escape in JSON text (``window``), or None.

    A high surrogate at the very end of a chunk is judged with the next one (``final`` False).
    """
    if _JSON_CONTROL.search(window):
        return "a text in the JSON body contains a control character (e.g. \\u0000)"
    if _JSON_LONE_LOW.search(window):
        return "a text in the JSON body contains a lone surrogate"
    for match in _JSON_LONE_HIGH.finditer(window):
        if final or match.end() <= len(window) - 6:
            return "a text in the JSON body contains a lone surrogate"
    return None


def relative_location(location: str) -> str:
    """``location`` without scheme and host, and never protocol-relative (``//host``).

    >>> relative_location("http://evil.example/patients/?q=1")
    '/patients/?q=1'
    >>> relative_location("//evil.example/x")
    '/x'
    >>> relative_location("http://testserver//evil.example/x")
    '/evil.example/x'
    """
    parts = urlsplit(location)
    path = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    # "//host/..." and "/\host/..." are read by browsers as another host
    return "/" + path.lstrip("/\\") if path.startswith(("/", "\\")) else path


def _text_problem(scope: Scope) -> tuple[str, str] | None:
    """(where, what is wrong) with the path or the query string (no value quoted), or None."""
    if _CONTROL_TEXT.search(scope.get("path", "")):
        return "path", "the URL path contains a control character"
    raw = scope.get("query_string", b"")
    if raw:
        decoded = unquote_to_bytes(raw.replace(b"+", b" "))
        if _CONTROL_BYTES.search(decoded):
            return "query", "a query parameter contains a control character (e.g. NUL)"
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return "query", "a query parameter is not valid UTF-8 text"
    return None


async def _answer(
    send: Send, scope: Scope, status: int, message: str, loc: str | None = None
) -> None:
    """A short answer from the guard itself: JSON under ``/api/`` (a 422 shaped like FastAPI's
    validation errors, as the OpenAPI schema documents), plain text elsewhere."""
    if scope.get("path", "").startswith("/api/"):
        detail: object = message
        if loc is not None:
            detail = [{"loc": [loc], "msg": message, "type": "invalid_text"}]
        body = json.dumps({"detail": detail}).encode()
        media = b"application/json"
    else:
        body = message.encode()
        media = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: body limits (413), control characters in URL and forms (422), and
    relative ``Location`` headers.

    Parameters
    ----------
    app : ASGI app
    max_body_bytes : int
        Largest request body (JSON, forms) in bytes.
    large_body_paths : mapping of str to int
        Paths with their own, larger limit (e.g. the patient import).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        large_body_paths: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large_body_paths = dict(large_body_paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _text_problem(scope)
        if problem is not None:
            where, message = problem
            await _answer(send, scope, 422, message, loc=where)
            return
        limit = self.large_body_paths.get(scope.get("path", ""), self.max_body_bytes)
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            text = declared.strip()
            if not text.isdigit() or len(text) > _MAX_CONTENT_LENGTH_DIGITS:
                await _answer(send, scope, 400, "invalid Content-Length header")
                return
            if int(text) > limit:
                await _answer(send, scope, 413, _too_large(limit))
                return
        content_type = headers.get("content-type", "").lower()
        is_form = content_type.startswith(_FORM_TYPE)
        # the service takes no file uploads: a multipart form carries text fields only
        is_multipart = content_type.startswith("multipart/form-data")
        is_json = content_type.startswith("application/json")
        received = 0
        tail = b""
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                received += len(chunk)
                if received > limit:  # counted, whatever Content-Length said
                    raise RequestRefused(413, _too_large(limit))
                if is_form and chunk:
                    window = tail + chunk  # an escape split across two chunks
                    if _ENCODED_CONTROL.search(window) or _CONTROL_BYTES.search(chunk):
                        raise RequestRefused(
                            422, "a form field contains a control character (e.g. NUL)", loc="body"
                        )
                    tail = window[-2:]
                elif is_multipart and _CONTROL_BYTES.search(chunk):
                    raise RequestRefused(
                        422, "a form field contains a control character (e.g. NUL)", loc="body"
                    )
                elif is_json:
                    window = tail + chunk
                    problem = _json_problem(window, final=not message.get("more_body", False))
                    if problem is not None:
                        raise RequestRefused(422, problem, loc="body")
                    tail = window[-_JSON_TAIL:]
            return message

        async def send_relative(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    (name, relative_location(value.decode("latin-1")).encode("latin-1"))
                    if name.lower() == b"location"
                    else (name, value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        try:
            await self.app(scope, guarded_receive, send_relative)
        except RequestRefused as refused:
            # raised where no handler caught it (e.g. a body read by a middleware)
            if not started:
                await _answer(
                    send, scope, refused.status_code, str(refused.detail), loc=refused.loc
                )


def _too_large(limit: int) -> str:
    return (
        f"the request body is too large: at most {limit:,} bytes are accepted "
        "(see docs/service.md, limits)"
    )
