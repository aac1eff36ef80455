"""Interaction knowledge: co-medications that change imatinib exposure, and name matching.

The knowledge lives in ``imatinib_tdm/data/interactions.yaml``: one entry per drug (or class
member) with its generic name, synonyms and brand names, its class (CYP3A4 inducer or inhibitor,
acid-reducing agent without effect, other), the direction of the effect, the published
quantified effect where one exists, the recommended action, a source and a verification grade.
The file is read once, validated by the frozen pydantic schemas of :mod:`._interaction_schema`
and cached read-only. As for the other knowledge files, an entry without a ``source`` is refused
and ``citation: unknown`` is accepted only with ``verification: unverified``; in addition an
unverified entry may carry no number, and a drug without an imatinib-specific figure must say so
in its notes.

:func:`match_comedications` finds the entries for free-text co-medication names (case-, accent-,
space- and punctuation-insensitive; synonyms, brands, dose and salt words, combinations, small
misspellings). An unknown name is returned as unmatched, never dropped.

The work is split: the schema of the file and its loader are in :mod:`._interaction_schema`, the
name keys and edit distance in :mod:`._interaction_names`. This module matches names
(:class:`InteractionMatch`, :func:`match_comedications`, :func:`interaction_names`) and
re-exports the others, so that every name stays importable from here.

This module imports only the standard library and those two modules (which import pydantic,
PyYAML, :mod:`imatinib_tdm.errors` and the shared knowledge types of
:mod:`imatinib_tdm.tdm._knowledge`).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

# Re-exports: every name defined here before the split stays importable from here (the
# redundant aliases mark explicit re-exports for mypy and ruff).
# isort: off
from imatinib_tdm.tdm._interaction_names import (
    MatchKind as MatchKind,
    normalize_drug_name as normalize_drug_name,
    _max_distance as _max_distance,
    _NOISE_WORDS as _NOISE_WORDS,
    _NON_ALNUM as _NON_ALNUM,
    _osa_distance as _osa_distance,
    _variants as _variants,
    _words as _words,
)
from imatinib_tdm.tdm._interaction_schema import (
    Action as Action,
    AffectedDrug as AffectedDrug,
    CLASS_EFFECT_NOTE as CLASS_EFFECT_NOTE,
    ClassDefinition as ClassDefinition,
    Direction as Direction,
    DrugClass as DrugClass,
    Effect as Effect,
    EffectBasis as EffectBasis,
    Interaction as Interaction,
    InteractionSet as InteractionSet,
    load_interactions as load_interactions,
    PkParameter as PkParameter,
    _builtin_interactions as _builtin_interactions,
    _CLEARANCE_PARAMETERS as _CLEARANCE_PARAMETERS,
    _EXPOSURE_PARAMETERS as _EXPOSURE_PARAMETERS,
    _IndexedName as _IndexedName,
    _INDUCERS as _INDUCERS,
    _INHIBITORS as _INHIBITORS,
)
# isort: on

__all__ = [
    "Action",
    "AffectedDrug",
    "ClassDefinition",
    "Direction",
    "DrugClass",
    "Effect",
    "EffectBasis",
    "Interaction",
    "InteractionMatch",
    "InteractionSet",
    "MatchKind",
    "interaction_names",
    "load_interactions",
    "match_comedications",
    "normalize_drug_name",
]


@dataclasses.dataclass(frozen=True)
class InteractionMatch:
    """Result of matching one co-medication name (or one component of a combination).

    Attributes
    ----------
    query : str
        The name as given.
    entry : Interaction or None
        The matched entry; None when unmatched.
    kind : MatchKind
    score : float
        Match quality in [0, 1]: 1 for exact, synonym and brand matches; ``1 - d / length`` for a
        fuzzy match at Damerau-Levenshtein distance ``d``; 0 when unmatched.
    matched_name : str or None
        The name of the entry that matched (generic, synonym or brand).
    component : str or None
        The part of ``query`` that matched, when the query was a combination
        (``"rifampicin/isoniazid"``); None when the whole query was used (dose and salt words
        such as ``"Rifadin 600 mg"`` are ignored without splitting).
    suggestions : tuple of str
        For an unmatched query, the closest known names (may be empty).
    """

    query: str
    entry: Interaction | None
    kind: MatchKind
    score: float
    matched_name: str | None = None
    component: str | None = None
    suggestions: tuple[str, ...] = ()

    @property
    def is_matched(self) -> bool:
        """True when an entry was found."""
        return self.entry is not None


_SPLIT = re.compile(r"\s*(?:/|\+|,|;|&|\band\b)\s*")


def _unique_by_entry(hits: Iterable[_IndexedName]) -> tuple[str, ...]:
    """The first name of each distinct entry, in order."""
    seen: dict[str, str] = {}
    for hit in hits:
        seen.setdefault(hit.entry.id, hit.name)
    return tuple(seen.values())


def _match_one(query: str, text: str, index: Mapping[str, _IndexedName]) -> InteractionMatch:
    component = None if text == query else text
    variants = _variants(text)
    for key in variants:
        hit = index.get(key)
        if hit is not None:
            return InteractionMatch(
                query=query,
                entry=hit.entry,
                kind=hit.kind,
                score=1.0,
                matched_name=hit.name,
                component=component,
            )
    best: list[tuple[int, float, _IndexedName]] = []
    for key in variants:
        limit = _max_distance(len(key))
        if limit == 0:
            continue
        for name_key, hit in index.items():
            # A misspelling of the first letter is rare; requiring it avoids matching
            # look-alike drugs of another class (lansoprazole vs pantoprazole).
            if name_key[0] != key[0]:
                continue
            distance = _osa_distance(key, name_key, limit)
            if distance <= limit:
                score = 1.0 - distance / max(len(key), len(name_key))
                best.append((distance, score, hit))
    if best:
        best.sort(key=lambda item: (item[0], -item[1], item[2].kind is not MatchKind.EXACT))
        top_distance = best[0][0]
        tied = {hit.entry.id for d, _, hit in best if d == top_distance}
        if len(tied) == 1:
            _, score, hit = best[0]
            return InteractionMatch(
                query=query,
                entry=hit.entry,
                kind=MatchKind.FUZZY,
                score=round(score, 3),
                matched_name=hit.name,
                component=component,
            )
        names = _unique_by_entry(hit for d, _, hit in best if d == top_distance)
        return InteractionMatch(
            query=query,
            entry=None,
            kind=MatchKind.NONE,
            score=0.0,
            component=component,
            suggestions=names,
        )
    close = difflib.get_close_matches(
        variants[-1] if variants else "", list(index), n=3, cutoff=0.75
    )
    return InteractionMatch(
        query=query,
        entry=None,
        kind=MatchKind.NONE,
        score=0.0,
        component=component,
        suggestions=_unique_by_entry(index[k] for k in close),
    )


def match_comedications(
    names: Sequence[str], *, interactions: InteractionSet | None = None
) -> list[InteractionMatch]:
    """Match free-text co-medication names to the interaction knowledge base.

    Parameters
    ----------
    names : sequence of str
        Co-medications as entered (generic or brand names, any case, with or without accents,
        doses or salt words).
    interactions : InteractionSet, optional
        Default :func:`load_interactions` ``()``.

    Returns
    -------
    list of InteractionMatch
        In the order of ``names``: one match per name, or one per component when a name that does
        not match as a whole is a combination (``"rifampicin/isoniazid"``, ``"A + B"``). An unknown
        name gives an unmatched result (``kind`` ``NONE``, ``entry`` None), never nothing.

    Raises
    ------
    TypeError
        ``names`` is a single string rather than a sequence of names.

    Notes
    -----
    Matching order, each step on a key with accents, case, spaces and punctuation removed
    (:func:`normalize_drug_name`): the whole name, then the name without dose, salt and
    dosage-form words; then fuzzy matching at optimal-string-alignment (Damerau-Levenshtein)
    distance <= 1 for keys of 5-9 characters and <= 2 for 10 or more, with the same first letter
    (no fuzzy matching below 5 characters). A misspelling equally close to two entries is
    reported unmatched with both as suggestions. A fuzzy match should be confirmed by the user.

    Examples
    --------
    >>> matches = match_comedications(["Rifadin", "rifampcin", "Omeprazole 20 mg", "paracetamol"])
    >>> [(m.entry.id if m.entry else None, m.kind.value, m.score) for m in matches]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('rifampicin', 'brand', 1.0), ('rifampicin', 'fuzzy', 0.9),
     ('omeprazole', 'exact', 1.0), (None, 'none', 0.0)]
    """
    if isinstance(names, str):
        raise TypeError("names must be a sequence of names, not one string; wrap it in a list")
    index = (interactions or load_interactions())._index
    results: list[InteractionMatch] = []
    for query in names:
        whole = _match_one(query, query, index)
        parts = [p for p in _SPLIT.split(query) if p.strip()]
        if (whole.is_matched and whole.kind is not MatchKind.FUZZY) or len(parts) < 2:
            results.append(whole)
            continue
        components = [_match_one(query, part.strip(), index) for part in parts]
        if whole.is_matched and not any(c.is_matched for c in components):
            results.append(whole)
        else:
            results.extend(components)
    return results


def interaction_names(interactions: InteractionSet | None = None) -> tuple[str, ...]:
    """Every generic name, synonym and brand name, sorted, for autocompletion.

    Parameters
    ----------
    interactions : InteractionSet, optional
        Default :func:`load_interactions` ``()``.

    Returns
    -------
    tuple of str
        Unique names as written in the knowledge file, sorted case-insensitively.

    Examples
    --------
    >>> "Rifadin" in interaction_names()
    True
    """
    kb = interactions or load_interactions()
    return tuple(sorted({hit.name for hit in kb._index.values()}, key=str.casefold))
