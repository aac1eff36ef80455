"""Identifiers and names that cannot look like someone else's.

A hospital identifier (MRN) or a name typed with an invisible character (a zero-width space, a
soft hyphen), a bidirectional control (which reorders what the screen shows) or in another case
reads the same on screen as an existing one, and a second record of the same patient slips in.
So:

* :func:`clean_identifier` normalises text to NFKC (full-width ``ＤＥＭＯ`` becomes ``DEMO``),
  strips surrounding space and refuses invisible, formatting, private-use, surrogate and
  bidirectional control characters (Unicode categories Cf, Cc, Co, Cs, Zl, Zp, and a few
  invisible letters such as the Hangul fillers), naming the field and the code point but never
  the value;
* :func:`mrn_key` is the MRN as compared for uniqueness (``Patient.mrn_key``): NFKC, case-folded,
  dashes unified, runs of spaces collapsed, invisible characters dropped (they cannot be typed
  any more, but older rows may hold them);
* :func:`name_key` folds a name for the near-duplicate check (:func:`similar_patients`): same
  family and given name, ignoring case, accents, spaces and punctuation, in either order, with
  the same birth date.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from imatinib_tdm.errors import CaseError
from imatinib_tdm.store._models import Patient

__all__ = [
    "BIDI_CONTROLS",
    "REFUSED_CATEGORIES",
    "clean_identifier",
    "fold_for_search",
    "invisible_character",
    "mrn_key",
    "name_key",
    "similar_patients",
]

REFUSED_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cs", "Zl", "Zp"})
"""Unicode categories refused in identifiers: format (zero-width, bidi), control, private use,
surrogates, line and paragraph separators."""

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Bidirectional controls (all of category Cf; listed so that the rule is explicit)."""

# Characters that render as nothing but belong to other categories (letters, marks, symbols):
# combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian variation
# selectors, braille blank, variation selectors.
_INVISIBLE_OTHERS = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(chr(code) for code in range(0xFE00, 0xFE10))
    + "".join(chr(code) for code in range(0xE0100, 0xE01F0))
)

# Dashes that look like the ASCII hyphen-minus (NFKC keeps them apart).
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d")


def invisible_character(text: str) -> str | None:
    """The first refused character of ``text`` as ``"U+200B"``, or ``None``."""
    for char in text:
        if (
            unicodedata.category(char) in REFUSED_CATEGORIES
            or char in BIDI_CONTROLS
            or char in _INVISIBLE_OTHERS
        ):
            return f"U+{ord(char):04X}"
    return None


def clean_identifier(value: object, *, field: str, max_length: int) -> str:
    """``value`` as stored: NFKC, stripped, non-empty, at most ``max_length`` characters, without
    invisible or bidirectional control characters.

    Raises
    ------
    CaseError
        Naming ``field`` (and the offending code point), never the value.
    """
    if not isinstance(value, str):
        raise CaseError(f"{field}: must be text, got {type(value).__name__}", field=field)
    # checked before normalising too: NFKC keeps these characters, but be explicit
    code_point = invisible_character(value.strip())
    if code_point is not None:
        raise CaseError(
            f"{field}: contains control characters ({code_point}): invisible, formatting and "
            "bidirectional control characters are not allowed; retype the text without it",
            field=field,
        )
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise CaseError(f"{field}: must not be empty", field=field)
    if len(text) > max_length:
        raise CaseError(
            f"{field}: too long ({len(text)} characters); at most {max_length}", field=field
        )
    code_point = invisible_character(text)
    if code_point is not None:  # pragma: no cover - NFKC does not create them
        raise CaseError(
            f"{field}: contains an invisible or control character ({code_point})", field=field
        )
    return text


def mrn_key(mrn: str) -> str:
    """The MRN as compared for uniqueness: ``"demo-001"``, ``"DEMO-001"``, ``"ＤＥＭＯ－００１"``
    and ``"DEMO-001"`` followed by a zero-width space all give ``"demo-001"``."""
    text = unicodedata.normalize("NFKC", mrn)
    text = "".join(
        "-" if char in _DASHES else char for char in text if invisible_character(char) is None
    )
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())


def fold_for_search(text: str) -> str:
    """``text`` without accents and case: ``"Müller-Ößt"`` gives ``"muller-osst"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return stripped.casefold()


def name_key(name: str) -> str:
    """A name without case, accents, spaces or punctuation: ``"Müller-Lüdenscheidt"`` and
    ``"muller ludenscheidt"`` give the same key."""
    return "".join(char for char in fold_for_search(name) if char.isalnum())


def _pair(family_name: str, given_name: str) -> frozenset[str]:
    return frozenset({name_key(family_name), name_key(given_name)})


def similar_patients(
    session: Session,
    *,
    family_name: str,
    given_name: str,
    birth_date: date | None,
    other_than: int | None = None,
) -> list[int]:
    """Ids of patients (archived too) with the same birth date and the same names, compared
    with :func:`name_key` and in either order (a swapped family and given name is a common
    entry error). Without a birth date there is nothing to compare: returns ``[]``.
    """
    if birth_date is None:
        return []
    wanted = _pair(family_name, given_name)
    query = select(Patient.id, Patient.family_name, Patient.given_name).where(
        Patient.birth_date == birth_date
    )
    if other_than is not None:
        query = query.where(Patient.id != other_than)
    return sorted(
        row.id
        for row in session.execute(query.order_by(Patient.id))
        if _pair(row.family_name, row.given_name) == wanted
    )
