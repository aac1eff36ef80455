"""A reader for one mapping of a model specification, with precise error messages.

Used by :mod:`imatinib_tdm.pk._model_spec`; every message names the model and the block
(``thetas[2]``, ``parameters.cl_l_per_h``) where the problem is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from imatinib_tdm.errors import ModelDefinitionError


class _Spec:
    """Reads one mapping of a model specification and builds precise error messages."""

    def __init__(self, model_id: str, where: str, value: Any) -> None:
        self.model_id = model_id
        self.where = where
        if not isinstance(value, Mapping):
            raise self.error(f"expected a mapping, got {type(value).__name__}")
        self.data: Mapping[str, Any] = value

    def error(self, message: str) -> ModelDefinitionError:
        return ModelDefinitionError(
            f"model {self.model_id!r}, {self.where or 'top level'}: {message}",
            model_id=self.model_id,
            where=self.where,
        )

    def check_keys(self, required: Sequence[str], optional: Sequence[str]) -> None:
        missing = [k for k in required if self.data.get(k) is None]
        if missing:
            raise self.error(f"missing required key(s): {', '.join(missing)}")
        unknown = sorted(set(self.data) - set(required) - set(optional))
        if unknown:
            raise self.error(
                f"unknown key(s) {', '.join(map(str, unknown))}; allowed keys are "
                f"{', '.join([*required, *optional])}"
            )

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(f"{key!r} must be text, got {type(value).__name__}")
        text = str(value).strip()
        if required and not text:
            raise self.error(f"{key!r} must not be empty")
        return text or None

    def number(self, key: str, *, required: bool = True) -> float | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is required (a number)")
            return None
        return _to_float(value, lambda msg: self.error(f"{key!r} {msg}"))

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{key!r} must be an integer, got {value!r}")
        return value

    def sub(self, key: str, *, required: bool = True) -> _Spec | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is required")
            return None
        return _Spec(self.model_id, f"{self.where}.{key}" if self.where else key, value)

    def items(self, key: str) -> list[_Spec]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.error(f"{key!r} must be a list")
        return [_Spec(self.model_id, f"{key}[{i}]", item) for i, item in enumerate(value)]


def _to_float(value: Any, error: Any) -> float:
    """A finite float from a number or a numeric string (PyYAML reads ``1e-3`` as a string)."""
    if isinstance(value, bool):
        raise error(f"must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise error(f"must be a number, got {value!r}") from None
    elif isinstance(value, int | float):
        result = float(value)
    else:
        raise error(f"must be a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise error(f"must be finite, got {value!r}")
    return result
