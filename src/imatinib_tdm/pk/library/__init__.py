"""The library of published imatinib population PK models.

Each model is one YAML file in ``pk/library/models/<id>.yaml`` (format: ``docs/custom-models.md``).
The files are read lazily, once, on first use, and kept in a read-only cache; nothing changes it at
run time. Centre-defined models are loaded with :func:`load_models` and passed explicitly to
:func:`get_model` (no global registration).

This package imports only :mod:`imatinib_tdm.pk._model`, :mod:`imatinib_tdm.pk._custom` and
:mod:`imatinib_tdm.errors`.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from imatinib_tdm.errors import ModelDefinitionError, UnknownModelError
from imatinib_tdm.pk._custom import load_model_file
from imatinib_tdm.pk._model import PopPKModel

__all__ = ["get_model", "list_model_ids", "list_models", "load_models", "model_file_path"]


def _models_dir() -> Path:
    # An installed (non-zip) package: resources are real files, which load_model_file reads.
    return Path(str(importlib.resources.files(__name__).joinpath("models")))


@functools.cache
def _builtin_models() -> tuple[PopPKModel, ...]:
    directory = _models_dir()
    paths = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    models = []
    for path in paths:
        model = load_model_file(path, builtin=True)
        if model.id != path.stem:
            raise ModelDefinitionError(
                f"{path.name}: the model id {model.id!r} must equal the file name ({path.stem!r})",
                file=str(path),
            )
        models.append(model)
    return tuple(models)


def list_models() -> list[PopPKModel]:
    """All built-in models, sorted by id.

    Returns
    -------
    list of PopPKModel

    Raises
    ------
    ModelDefinitionError
        A library file is invalid (a packaging bug; the message names the file).

    Examples
    --------
    >>> "widmer2006_base" in [m.id for m in list_models()]
    True
    """
    return list(_builtin_models())


def list_model_ids() -> list[str]:
    """Ids of the built-in models, sorted."""
    return [m.id for m in _builtin_models()]


def get_model(model_id: str, *, models: Iterable[PopPKModel] | None = None) -> PopPKModel:
    """The model with this id.

    Parameters
    ----------
    model_id : str
        E.g. ``"widmer2006_base"``.
    models : iterable of PopPKModel, optional
        Where to look instead of the built-in library (e.g. built-in plus
        :func:`load_models` output); default the built-in models.

    Returns
    -------
    PopPKModel

    Raises
    ------
    UnknownModelError
        No such id; the message lists the available ids and suggests the closest one.

    Examples
    --------
    >>> get_model("widmer2006_base").structure.n_compartments
    1
    """
    pool = list(_builtin_models() if models is None else models)
    for model in pool:
        if model.id == model_id:
            return model
    ids = sorted(m.id for m in pool)
    close = difflib.get_close_matches(str(model_id), ids, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownModelError(
        f"no population PK model with id {model_id!r}.{hint} Available: {', '.join(ids) or 'none'}",
        model_id=model_id,
        available=ids,
    )


def load_models(
    paths: Iterable[str | PathLike[str]], *, include_builtin: bool = False
) -> list[PopPKModel]:
    """Load custom model files (a pure function: nothing is registered globally).

    Parameters
    ----------
    paths : iterable of str or path-like
        Model files (``.yaml``/``.yml``/``.toml``/``.json``).
    include_builtin : bool, default=False
        Prepend the built-in models, so the result can be passed to :func:`get_model`.

    Returns
    -------
    list of PopPKModel
        In the order given (built-in first when included).

    Raises
    ------
    ModelDefinitionError
        A file is invalid, or two models share an id (custom ids must also differ from built-in
        ids when ``include_builtin`` is true).
    """
    models = list(_builtin_models()) if include_builtin else []
    seen = {m.id: (m.source_path or "built-in") for m in models}
    for path in paths:
        model = load_model_file(path)
        if model.id in seen:
            raise ModelDefinitionError(
                f"{Path(path).name}: model id {model.id!r} is already used by {seen[model.id]}; "
                "give the custom model its own id (e.g. a _<centre> suffix)",
                file=str(path),
            )
        seen[model.id] = str(path)
        models.append(model)
    return models


def model_file_path(model_id: str) -> Path:
    """Path of a built-in model's YAML file (to copy as a template, or for provenance).

    Raises
    ------
    UnknownModelError
        No built-in model has this id.
    """
    return Path(str(get_model(model_id).source_path))
