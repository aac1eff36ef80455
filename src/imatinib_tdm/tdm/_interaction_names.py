"""Drug-name keys and edit distance for co-medication matching.

Owns :class:`MatchKind`, :func:`normalize_drug_name` (the key that ignores accents, case, spaces
and punctuation), the name variants without dose, salt and dosage-form words, and the
optimal-string-alignment distance with the misspelling it tolerates per name length. Knows
nothing of the knowledge file: used by :mod:`imatinib_tdm.tdm._interaction_schema` (index of
names) and :mod:`imatinib_tdm.tdm._interactions` (matching), which re-exports these names.

This module imports only the standard library.
"""

from __future__ import annotations

import enum
import re
import unicodedata

__all__ = ["MatchKind", "normalize_drug_name"]


class MatchKind(enum.Enum):
    """How a co-medication name matched an entry."""

    EXACT = "exact"
    """The generic name (after normalisation)."""
    SYNONYM = "synonym"
    BRAND = "brand"
    FUZZY = "fuzzy"
    """A small misspelling of a name: check the suggestion."""
    NONE = "none"
    """No entry: an unknown drug, or an ambiguous misspelling (see ``suggestions``)."""


_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Words that carry no identity: salts, dose units, dosage forms (dropped only after an exact
# match of the whole name failed, so "magnesium hydroxide" still matches as a name).
_NOISE_WORDS = frozenset(
    [
        "hydrochloride",
        "hcl",
        "sodium",
        "potassium",
        "magnesium",
        "calcium",
        "mesylate",
        "mesilate",
        "maleate",
        "phosphate",
        "sulfate",
        "sulphate",
        "acetate",
        "tartrate",
        "succinate",
        "ethylsuccinate",
        "stearate",
        "estolate",
        "lactobionate",
        "citrate",
        "besilate",
        "besylate",
        "dihydrate",
        "monohydrate",
        "trihydrate",
        "mg",
        "g",
        "mcg",
        "ug",
        "ml",
        "tablet",
        "tablets",
        "tab",
        "tabs",
        "capsule",
        "capsules",
        "cap",
        "caps",
        "oral",
        "iv",
        "po",
        "injection",
        "suspension",
        "solution",
        "syrup",
        "er",
        "xr",
        "sr",
        "cr",
        "la",
        "retard",
        "daily",
        "bid",
        "tid",
        "qd",
        "od",
    ]
)


def normalize_drug_name(name: str) -> str:
    """Key used to compare drug names: no accents, case, spaces or punctuation.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        Lower-case ASCII letters and digits only.

    Examples
    --------
    >>> normalize_drug_name("St. John's Wort")
    'stjohnswort'
    >>> normalize_drug_name("Rifampicine ")
    'rifampicine'
    """
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_ALNUM.sub("", stripped.casefold())


def _words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return [w for w in re.split(r"[^0-9a-z']+", stripped) if w]


def _variants(text: str) -> list[str]:
    """Normalised keys to try for one name: whole, then without dose and salt words."""
    keys = [normalize_drug_name(text)]
    words = _words(text)
    kept = [w for w in words if w not in _NOISE_WORDS and not re.search(r"\d", w)]
    reduced = normalize_drug_name(" ".join(kept))
    if reduced and reduced not in keys:
        keys.append(reduced)
    return [k for k in keys if k]


def _max_distance(length: int) -> int:
    """Edit distance tolerated for a name of this length (no fuzzy match below 5 characters)."""
    if length < 5:
        return 0
    if length < 10:
        return 1
    return 2


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment (restricted Damerau-Levenshtein) distance, capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
