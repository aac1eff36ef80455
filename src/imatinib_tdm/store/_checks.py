"""Checks shared by the repository functions: the acting user, record look-ups, text fields."""

from __future__ import annotations

import unicodedata
from typing import TypeVar

from sqlalchemy.orm import Session

from imatinib_tdm.errors import CaseError, NotFoundError, PermissionDeniedError
from imatinib_tdm.store._models import Base, User
from imatinib_tdm.store._roles import require

__all__ = ["check_actor", "fetch", "require_text"]

_Row = TypeVar("_Row", bound=Base)


def check_actor(actor: User, *, allowed: bool, action: str) -> None:
    """Refuse an inactive account, or a role for which ``allowed`` is false."""
    if not actor.is_active:
        raise PermissionDeniedError(
            f"the account {actor.username!r} is deactivated and may not {action}",
            action=action,
            role=actor.role.value,
        )
    require(allowed, action=action, role=actor.role)


def fetch(session: Session, table: type[_Row], record_id: int, entity: str) -> _Row:
    """The row of ``table`` with primary key ``record_id``, or :class:`NotFoundError`."""
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise NotFoundError(
            f"{entity} id must be a whole number, got {record_id!r}",
            entity=entity,
            entity_id=record_id,
        )
    row = session.get(table, record_id)
    if row is None:
        raise NotFoundError(f"no {entity} with id {record_id}", entity=entity, entity_id=record_id)
    return row


def require_text(value: object, *, field: str, max_length: int, multiline: bool = False) -> str:
    """``value`` stripped of surrounding spaces: non-empty text of at most ``max_length``
    characters, without control characters (except line breaks and tabs when ``multiline``).

    Raises
    ------
    CaseError
        Naming ``field``.
    """
    if not isinstance(value, str):
        raise CaseError(f"{field}: must be text, got {type(value).__name__}", field=field)
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise CaseError(f"{field}: must not be empty", field=field)
    if len(text) > max_length:
        raise CaseError(
            f"{field}: too long ({len(text)} characters); at most {max_length}", field=field
        )
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(char) == "Cc" and char not in allowed for char in text):
        raise CaseError(f"{field}: contains control characters", field=field)
    return text
