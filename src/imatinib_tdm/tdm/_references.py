"""Look up the source of any knowledge entry by its id, across every knowledge file.

Findings cite knowledge entries by id (``rifampicin``, ``trough_window_once_daily``,
``adherence_cmin_bjc2025`` ...). The entries live in several files (``targets.yaml``,
``dosing.yaml``, ``trough_correction.yaml``, ``interactions.yaml``, ``patient_factors.yaml``,
``sampling.yaml``), each with its own loader; this module gives one read-only id index over the
package's files so that a report can print the full citation behind an id.

Imports only the tdm knowledge loaders (no pk, case or report).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel

from imatinib_tdm.tdm._interaction_schema import load_interactions
from imatinib_tdm.tdm._knowledge import (
    Source,
    _Entry,
    load_dosing_rules,
    load_targets,
    load_trough_correction,
)
from imatinib_tdm.tdm._patient_factor_rules import load_patient_factors
from imatinib_tdm.tdm._sampling_rules import load_sampling_rules

__all__ = ["KnowledgeReference", "find_knowledge_reference"]


@dataclass(frozen=True)
class KnowledgeReference:
    """The sources of one knowledge entry.

    Attributes
    ----------
    entry_id : str
        The entry's id, as cited in ``Finding.references``.
    knowledge_file : str
        File of the package's ``data/`` directory that holds it, e.g. ``"interactions.yaml"``.
    verification : str
        Grade of the entry: ``"verified"``, ``"secondhand"`` or ``"unverified"``.
    sources : tuple of Source
        The entry's own ``source`` first, then every further distinct source cited inside it
        (quantified effects, recommended action, supporting evidence), in file order. Each has
        ``citation``, ``doi``, ``pmid`` and ``location`` (table, page or URL).
    """

    entry_id: str
    knowledge_file: str
    verification: str
    sources: tuple[Source, ...]


def _sources_in(value: object) -> Iterator[Source]:
    if isinstance(value, Source):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _sources_in(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _sources_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _sources_in(item)


def _entries_in(value: object) -> Iterator[_Entry]:
    if isinstance(value, _Entry):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _entries_in(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _entries_in(item)


def _reference(entry: _Entry, knowledge_file: str) -> KnowledgeReference:
    distinct: dict[tuple[str, str | None], Source] = {}
    for source in _sources_in(entry):
        distinct.setdefault((source.citation, source.doi), source)
    primary = (entry.source.citation, entry.source.doi)
    ordered = (distinct[primary], *(s for key, s in distinct.items() if key != primary))
    return KnowledgeReference(
        entry_id=entry.id,
        knowledge_file=knowledge_file,
        verification=entry.verification.value,
        sources=ordered,
    )


@functools.cache
def _index() -> Mapping[str, KnowledgeReference]:
    files: tuple[tuple[str, object], ...] = (
        ("targets.yaml", load_targets()),
        ("dosing.yaml", load_dosing_rules()),
        ("trough_correction.yaml", load_trough_correction()),
        ("sampling.yaml", load_sampling_rules().file),
        ("interactions.yaml", load_interactions()),
        ("patient_factors.yaml", load_patient_factors()),
    )
    index: dict[str, KnowledgeReference] = {}
    for knowledge_file, contents in files:
        for entry in _entries_in(contents):
            # ids are unique within a file (checked by each schema); across files the first
            # file in the order above wins, and tests/tdm/test_references.py checks there is
            # no clash in the package's own files
            index.setdefault(entry.id, _reference(entry, knowledge_file))
    return MappingProxyType(index)


def find_knowledge_reference(entry_id: str) -> KnowledgeReference | None:
    """The sources of the knowledge entry ``entry_id``, from the package's knowledge files.

    Parameters
    ----------
    entry_id : str
        An id as cited in a finding's ``references`` (e.g. ``"rifampicin"``,
        ``"trough_window_once_daily"``) or a threshold id (``"gist_trough_demetri2009"``).

    Returns
    -------
    KnowledgeReference or None
        None when no entry of the package's files has this id (the caller says so rather than
        dropping the id).

    Raises
    ------
    KnowledgeBaseError
        A knowledge file of the package is invalid (raised by its loader).

    Examples
    --------
    >>> ref = find_knowledge_reference("rifampicin")
    >>> ref.knowledge_file, ref.sources[0].doi
    ('interactions.yaml', '10.1007/s00280-003-0722-9')
    >>> find_knowledge_reference("no_such_entry") is None
    True
    """
    return _index().get(entry_id)
