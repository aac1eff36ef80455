"""Every exception the package raises, in one place.

Errors keep structured fields (so a caller can act on them) and build their message from them; they
pickle, so they survive being sent between worker processes. Clinical caveats are *not* exceptions:
they are findings in results. Exceptions here mean "this input cannot be used" or "this computation
could not be done".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CaseError",
    "ConflictError",
    "EstimationError",
    "ImmutableRecordError",
    "KnowledgeBaseError",
    "MissingCovariateError",
    "ModelDefinitionError",
    "ModelDomainError",
    "NoFeasibleDoseError",
    "NotFoundError",
    "PermissionDeniedError",
    "TdmError",
    "TrainingDataError",
    "TriageModelFileError",
    "UnitError",
    "UnknownModelError",
]


class TdmError(Exception):
    """Base class of every error raised by imatinib_tdm."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.message, self.fields))


def _rebuild_error(cls: type[TdmError], message: str, fields: dict[str, Any]) -> TdmError:
    error = cls.__new__(cls)
    TdmError.__init__(error, message, **fields)
    for name, value in fields.items():  # subclass attributes such as CaseError.field
        setattr(error, name, value)
    return error


class CaseError(TdmError, ValueError):
    """A case (patient, doses, samples) is inconsistent or implausible.

    ``field`` names the offending field (dotted path, e.g. ``samples[0].time``) when known.
    """

    def __init__(self, message: str, *, field: str | None = None, **fields: Any) -> None:
        super().__init__(message, field=field, **fields)
        self.field = field


class UnitError(TdmError, ValueError):
    """A unit is unknown, or a conversion between two units is not possible."""


class ModelDefinitionError(TdmError, ValueError):
    """A population PK model definition (built-in or custom file) is invalid."""


class UnknownModelError(TdmError, KeyError):
    """No model with the requested id exists in the library."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class MissingCovariateError(TdmError, ValueError):
    """A model needs covariates that were not given. ``missing`` lists all of them."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), **fields: Any) -> None:
        super().__init__(message, missing=list(missing), **fields)
        self.missing = list(missing)


class ModelDomainError(TdmError, ValueError):
    """A covariate lies outside a model's hard domain (where the model must not be used)."""


class EstimationError(TdmError, RuntimeError):
    """An estimation could not start or did not converge."""


class NoFeasibleDoseError(TdmError, ValueError):
    """No candidate regimen satisfies the constraints."""


class KnowledgeBaseError(TdmError, ValueError):
    """A knowledge-base file is invalid (e.g. an entry without a source)."""


# --- Storage (imatinib_tdm.store) ---------------------------------------------------------------


class NotFoundError(TdmError, LookupError):
    """A stored record does not exist; ``entity`` (e.g. ``"patient"``) and ``entity_id`` name it."""

    def __init__(
        self, message: str, *, entity: str | None = None, entity_id: Any = None, **fields: Any
    ) -> None:
        super().__init__(message, entity=entity, entity_id=entity_id, **fields)
        self.entity = entity
        self.entity_id = entity_id


class ConflictError(TdmError):
    """A write conflicts with what is stored: a duplicate (username, MRN), a stale revision, or a
    report that was already issued or corrected. ``field`` names the conflicting field when known.
    """

    def __init__(self, message: str, *, field: str | None = None, **fields: Any) -> None:
        super().__init__(message, field=field, **fields)
        self.field = field


class ImmutableRecordError(TdmError):
    """A change to a record that must never change (an issued report, the audit log, an
    interpretation, or an episode with an issued report)."""

    def __init__(
        self, message: str, *, entity: str | None = None, entity_id: Any = None, **fields: Any
    ) -> None:
        super().__init__(message, entity=entity, entity_id=entity_id, **fields)
        self.entity = entity
        self.entity_id = entity_id


class PermissionDeniedError(TdmError):
    """The acting user's role does not allow the action (``action``, ``role``)."""

    def __init__(
        self, message: str, *, action: str | None = None, role: str | None = None, **fields: Any
    ) -> None:
        super().__init__(message, action=action, role=role, **fields)
        self.action = action
        self.role = role


# --- Machine-learning triage (imatinib_tdm.ml) ---------------------------------------------------


class TrainingDataError(TdmError, ValueError):
    """A table of patients cannot be used for training or prediction; ``column`` names the column
    and ``rows`` the 1-based data rows (header excluded) at fault, when known."""

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rows: Sequence[int] = (),
        **fields: Any,
    ) -> None:
        super().__init__(message, column=column, rows=tuple(rows), **fields)
        self.column = column
        self.rows = tuple(rows)


class TriageModelFileError(TdmError, ValueError):
    """A saved triage model is refused: wrong format or version, or its content does not match the
    recorded SHA-256 (a damaged or edited file). ``path`` names the file."""

    def __init__(self, message: str, *, path: str | None = None, **fields: Any) -> None:
        super().__init__(message, path=path, **fields)
        self.path = path
