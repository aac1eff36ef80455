"""Documented error answers shared by the API routes (so the OpenAPI schema lists them)."""

from __future__ import annotations

from typing import Any

_ERROR: dict[str, Any] = {
    "content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}
}

READ: dict[int | str, dict[str, Any]] = {
    401: {"description": "not logged in", **_ERROR},
    403: {"description": "role not allowed", **_ERROR},
}
WRITE: dict[int | str, dict[str, Any]] = {
    **READ,
    400: {"description": "malformed request body", **_ERROR},
    422: {"description": "invalid input; detail names the field", **_ERROR},
}
ENTITY_READ: dict[int | str, dict[str, Any]] = {
    **READ,
    404: {"description": "no such record", **_ERROR},
    422: {"description": "invalid path or query parameter", **_ERROR},
}
ENTITY_WRITE: dict[int | str, dict[str, Any]] = {
    **WRITE,
    404: {"description": "no such record", **_ERROR},
    409: {"description": "conflicting or immutable record", **_ERROR},
}
