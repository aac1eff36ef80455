"""Reading population PK model files (YAML, TOML or JSON) written by a centre or shipped built in.

The format is documented in ``docs/custom-models.md``; validation is :func:`create_model`'s. This
module only reads and parses files and puts the file name into every error message. It imports
PyYAML, :mod:`tomllib`, :mod:`json` and :mod:`imatinib_tdm.pk._model`; never ``case``, ``tdm`` or
the web layers.
"""

from __future__ import annotations

import json
import tomllib
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from imatinib_tdm.errors import ModelDefinitionError
from imatinib_tdm.pk._model import PopPKModel
from imatinib_tdm.pk._model_spec import create_model

__all__ = ["MODEL_FILE_SUFFIXES", "load_model_file", "parse_model_text"]

MODEL_FILE_SUFFIXES = (".yaml", ".yml", ".toml", ".json")
"""File name extensions :func:`load_model_file` understands."""

MAX_MODEL_FILE_BYTES = 1_000_000
"""Largest model file accepted (a model file is a few kB; this guards against a wrong file)."""


def parse_model_text(text: str, *, suffix: str, name: str = "<text>") -> dict[str, Any]:
    """Parse model-file text into a plain mapping (no validation).

    Parameters
    ----------
    text : str
        File contents.
    suffix : str
        One of ``.yaml``, ``.yml``, ``.toml``, ``.json`` (decides the parser).
    name : str, default="<text>"
        File name for error messages.

    Returns
    -------
    dict

    Raises
    ------
    ModelDefinitionError
        Unknown suffix, a syntax error (with its line when the parser gives one), or a document
        that is not a mapping.
    """
    suffix = suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ModelDefinitionError(
                f"{name}: unsupported model file type {suffix!r}; use one of "
                f"{', '.join(MODEL_FILE_SUFFIXES)}",
                file=name,
            )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ModelDefinitionError(f"{name}: invalid YAML{where}: {problem}", file=name) from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelDefinitionError(f"{name}: invalid TOML: {exc}", file=name) from None
    except json.JSONDecodeError as exc:
        raise ModelDefinitionError(
            f"{name}: invalid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}", file=name
        ) from None
    if not isinstance(data, dict):
        raise ModelDefinitionError(
            f"{name}: a model file must contain one mapping (id:, name:, ...), got "
            f"{type(data).__name__}",
            file=name,
        )
    return data


def load_model_file(path: str | PathLike[str], *, builtin: bool = False) -> PopPKModel:
    """Load and validate one model file.

    Parameters
    ----------
    path : str or path-like
        A ``.yaml``/``.yml``, ``.toml`` or ``.json`` file in the format of
        ``docs/custom-models.md``.
    builtin : bool, default=False
        Mark the model as part of the package library (used by the registry).

    Returns
    -------
    PopPKModel
        With ``source_path`` set to the file.

    Raises
    ------
    ModelDefinitionError
        The file cannot be read or parsed, or the model is invalid; the message starts with the
        file name.

    Examples
    --------
    >>> from imatinib_tdm.pk.library import model_file_path
    >>> model = load_model_file(model_file_path("widmer2006_base"))
    >>> model.id, model.structure.absorption.value
    ('widmer2006_base', 'first_order')
    """
    file = Path(path)
    name = file.name
    if file.suffix.lower() not in MODEL_FILE_SUFFIXES:
        raise ModelDefinitionError(
            f"{name}: unsupported model file type {file.suffix!r}; use one of "
            f"{', '.join(MODEL_FILE_SUFFIXES)}",
            file=str(file),
        )
    try:
        size = file.stat().st_size
        if size > MAX_MODEL_FILE_BYTES:
            raise ModelDefinitionError(
                f"{name}: {size} bytes is too large for a model file (limit "
                f"{MAX_MODEL_FILE_BYTES})",
                file=str(file),
            )
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelDefinitionError(
            f"{name}: cannot read the model file: {exc.strerror or exc}", file=str(file)
        ) from None
    except UnicodeDecodeError:
        raise ModelDefinitionError(f"{name}: the file is not UTF-8 text", file=str(file)) from None
    data = parse_model_text(text, suffix=file.suffix, name=name)
    try:
        return create_model(data, source_path=str(file), builtin=builtin)
    except ModelDefinitionError as exc:
        raise ModelDefinitionError(f"{name}: {exc.message}", file=str(file), **exc.fields) from None
