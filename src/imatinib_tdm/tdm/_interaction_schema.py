"""Interaction knowledge: the schema of ``data/interactions.yaml`` and its loader.

Owns the frozen pydantic models of the file (:class:`Interaction`, :class:`Effect`,
:class:`Action`, :class:`ClassDefinition`, :class:`InteractionSet`) with their guards (an entry
without a source is refused; ``citation: unknown`` only with ``verification: unverified``; an
unverified entry carries no number; a drug without an imatinib-specific figure says so in its
notes; directions agree with the class and the figures; a name points to one entry), the index
of names built on load, and :func:`load_interactions` (package file read once and cached).
Re-exported by :mod:`imatinib_tdm.tdm._interactions`.

This module imports only the standard library, pydantic, PyYAML, :mod:`imatinib_tdm.errors`, the
shared knowledge types of :mod:`imatinib_tdm.tdm._knowledge` and the name keys of
:mod:`imatinib_tdm.tdm._interaction_names`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from os import PathLike
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from imatinib_tdm.errors import KnowledgeBaseError
from imatinib_tdm.tdm._interaction_names import MatchKind, normalize_drug_name
from imatinib_tdm.tdm._knowledge import (
    Source,
    Verification,
    _check_unique_ids,
    _data_path,
    _Entry,
    _Frozen,
    _load,
)

__all__ = [
    "Action",
    "AffectedDrug",
    "ClassDefinition",
    "Direction",
    "DrugClass",
    "Effect",
    "EffectBasis",
    "Interaction",
    "InteractionSet",
    "load_interactions",
]

CLASS_EFFECT_NOTE = "no imatinib-specific figure"
"""Phrase the notes of a drug without a quantified effect must contain."""


class DrugClass(enum.Enum):
    """Interaction class of a co-medication."""

    STRONG_CYP3A4_INDUCER = "strong_cyp3a4_inducer"
    MODERATE_CYP3A4_INDUCER = "moderate_cyp3a4_inducer"
    CYP3A4_INDUCER = "cyp3a4_inducer"
    """Inducer whose strength is not graded."""
    STRONG_CYP3A4_INHIBITOR = "strong_cyp3a4_inhibitor"
    MODERATE_CYP3A4_INHIBITOR = "moderate_cyp3a4_inhibitor"
    CYP3A4_INHIBITOR = "cyp3a4_inhibitor"
    """Inhibitor whose strength is not graded."""
    PGP_BCRP = "pgp_bcrp"
    ACID_REDUCING_NO_EFFECT = "acid_reducing_no_effect"
    OTHER = "other"

    @property
    def is_inducer(self) -> bool:
        """True for the CYP3A4 inducer classes."""
        return self in _INDUCERS

    @property
    def is_inhibitor(self) -> bool:
        """True for the CYP3A4 inhibitor classes."""
        return self in _INHIBITORS


_INDUCERS = frozenset(
    {DrugClass.STRONG_CYP3A4_INDUCER, DrugClass.MODERATE_CYP3A4_INDUCER, DrugClass.CYP3A4_INDUCER}
)
_INHIBITORS = frozenset(
    {
        DrugClass.STRONG_CYP3A4_INHIBITOR,
        DrugClass.MODERATE_CYP3A4_INHIBITOR,
        DrugClass.CYP3A4_INHIBITOR,
    }
)


class Direction(enum.Enum):
    """Direction of the change in exposure of the affected drug."""

    DECREASES = "decreases"
    INCREASES = "increases"
    NO_EFFECT = "no_effect"
    UNKNOWN = "unknown"


class AffectedDrug(enum.Enum):
    """Whose exposure an entry describes."""

    IMATINIB = "imatinib"
    """The co-medication changes imatinib exposure (the usual case)."""
    COMEDICATION = "comedication"
    """Imatinib changes the co-medication's exposure."""


class EffectBasis(enum.Enum):
    """Whether a published figure is specific to the drug or pooled over its class."""

    DRUG_SPECIFIC = "drug_specific"
    CLASS_POOLED = "class_pooled"
    """A figure for a group, e.g. all enzyme-inducing antiepileptics together."""


PkParameter = Literal[
    "AUC0-inf",
    "AUC0-24",
    "AUC",
    "Cmax",
    "Cmin",
    "C48h",
    "CL/F",
    "CL",
    "t1/2",
    "exposure",
    "concentration",
]
_EXPOSURE_PARAMETERS = frozenset(
    {"AUC0-inf", "AUC0-24", "AUC", "Cmax", "Cmin", "C48h", "exposure", "concentration"}
)
_CLEARANCE_PARAMETERS = frozenset({"CL/F", "CL"})


class Effect(_Frozen):
    """A published effect of a co-medication on one pharmacokinetic parameter.

    Attributes
    ----------
    parameter : str
        ``"AUC0-inf"``, ``"AUC0-24"``, ``"AUC"``, ``"Cmax"``, ``"Cmin"``, ``"C48h"``, ``"CL/F"``,
        ``"CL"``, ``"t1/2"``, ``"exposure"`` or ``"concentration"``.
    change_pct : float or None
        Relative change in percent as published (negative = lower); None when the source gives
        only the two values (then see ``comparison``).
    fold_change : float or None
        Ratio as published (``3.8`` for "x3.8"); None otherwise.
    confidence_interval : str or None
        Interval as published, in words.
    approximate : bool
        The source says "about".
    significant : bool
        False when the source reports no significant change.
    comparison : str
        The published numbers in words, as read.
    basis : EffectBasis
        Specific to this drug, or pooled over its class.
    population : str
        Study population and regimen.
    source : Source
    verification : Verification
    """

    parameter: PkParameter
    change_pct: float | None = None
    fold_change: float | None = Field(default=None, gt=0)
    confidence_interval: str | None = None
    approximate: bool = False
    significant: bool = True
    comparison: str = Field(min_length=1)
    basis: EffectBasis
    population: str = Field(min_length=1)
    source: Source
    verification: Verification

    @model_validator(mode="after")
    def _unknown_source_is_unverified(self) -> Effect:
        if self.source.is_unknown:
            raise ValueError("a quantified effect needs a known source (citation is 'unknown')")
        if self.verification is Verification.UNVERIFIED:
            raise ValueError(
                "a quantified effect cannot be 'unverified': leave the number out (effect: null)"
            )
        return self

    def _sign(self) -> int | None:
        """+1 when exposure goes up, -1 when down, None when the figure has no sign."""
        if self.parameter in _EXPOSURE_PARAMETERS:
            flip = 1
        elif self.parameter in _CLEARANCE_PARAMETERS:
            flip = -1
        else:
            return None
        if self.change_pct is not None and self.change_pct != 0:
            return flip if self.change_pct > 0 else -flip
        if self.fold_change is not None and self.fold_change != 1:
            return flip if self.fold_change > 1 else -flip
        return None


class Action(_Frozen):
    """Recommended action for a co-medication.

    Attributes
    ----------
    text : str
        The recommendation (label wording where one exists).
    sources : tuple of Source
        At least one.
    verification : Verification
        Grade of the wording's source (not of the drug's membership of its class).
    """

    text: str = Field(min_length=1)
    sources: tuple[Source, ...] = Field(min_length=1)
    verification: Verification


class ClassDefinition(_Entry):
    """Definition of a :class:`DrugClass`, with the source of its grade (``classes`` in the file).

    Attributes
    ----------
    description : str
    """

    description: str = Field(min_length=1)


class Interaction(_Entry):
    """One co-medication (or class member) and its interaction with imatinib.

    Attributes
    ----------
    id : str
    generic_name : str
        International non-proprietary name.
    synonyms, brands : tuple of str
        Other names; only widely known brand names.
    drug_class : DrugClass
    affected_drug : AffectedDrug
        Whose exposure ``direction`` and the effects describe (usually imatinib).
    direction : Direction
    effect : Effect or None
        The headline published figure; None when no imatinib-specific figure was published (the
        direction then comes from the class).
    other_effects : tuple of Effect
        Further published figures (other parameters, other studies).
    action : Action
    source : Source
        Evidence that this drug interacts in ``direction``.
    verification : Verification
        Grade of that evidence; an unverified entry carries no number.
    """

    generic_name: str = Field(min_length=1)
    synonyms: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    drug_class: DrugClass
    affected_drug: AffectedDrug = AffectedDrug.IMATINIB
    direction: Direction
    effect: Effect | None
    other_effects: tuple[Effect, ...] = ()
    action: Action

    @property
    def effects(self) -> tuple[Effect, ...]:
        """The headline effect (if any) followed by the other effects."""
        return ((self.effect,) if self.effect is not None else ()) + self.other_effects

    @property
    def is_class_effect(self) -> bool:
        """True when no imatinib-specific figure exists (the direction comes from the class)."""
        return self.effect is None

    @property
    def changes_imatinib_exposure(self) -> bool:
        """True when the entry lowers or raises imatinib exposure."""
        return self.affected_drug is AffectedDrug.IMATINIB and self.direction in (
            Direction.DECREASES,
            Direction.INCREASES,
        )

    @model_validator(mode="after")
    def _check_entry(self) -> Interaction:
        if self.other_effects and self.effect is None:
            raise ValueError(
                f"interaction {self.id!r}: other_effects given without a headline effect"
            )
        if self.verification is Verification.UNVERIFIED and self.effects:
            raise ValueError(
                f"interaction {self.id!r} is unverified and cannot carry published figures; "
                "set effect: null and remove other_effects"
            )
        if self.affected_drug is AffectedDrug.IMATINIB:
            expected = None
            if self.drug_class.is_inducer:
                expected = Direction.DECREASES
            elif self.drug_class.is_inhibitor:
                expected = Direction.INCREASES
            elif self.drug_class is DrugClass.ACID_REDUCING_NO_EFFECT:
                expected = Direction.NO_EFFECT
            if expected is not None and self.direction is not expected:
                raise ValueError(
                    f"interaction {self.id!r}: class {self.drug_class.value!r} implies direction "
                    f"{expected.value!r}, got {self.direction.value!r}"
                )
        if (
            self.effect is None
            and self.direction in (Direction.DECREASES, Direction.INCREASES)
            and CLASS_EFFECT_NOTE not in (self.notes or "")
        ):
            raise ValueError(
                f"interaction {self.id!r} has no published figure: its notes must say "
                f"'class effect, {CLASS_EFFECT_NOTE}'"
            )
        want = {Direction.INCREASES: 1, Direction.DECREASES: -1}.get(self.direction)
        for effect in self.effects:
            sign = effect._sign()
            if not effect.significant:
                if self.direction is not Direction.NO_EFFECT:
                    raise ValueError(
                        f"interaction {self.id!r}: a non-significant {effect.parameter} effect "
                        f"contradicts direction {self.direction.value!r}"
                    )
            elif want is not None and sign is not None and sign != want:
                figure = effect.change_pct if effect.change_pct is not None else effect.fold_change
                raise ValueError(
                    f"interaction {self.id!r}: the {effect.parameter} figure ({figure}) "
                    f"contradicts direction {self.direction.value!r}"
                )
        return self

    def names(self) -> tuple[tuple[str, MatchKind], ...]:
        """Every name of the entry with the kind of match it gives (generic first)."""
        return (
            (self.generic_name, MatchKind.EXACT),
            *((name, MatchKind.SYNONYM) for name in self.synonyms),
            *((name, MatchKind.BRAND) for name in self.brands),
        )


@dataclasses.dataclass(frozen=True)
class _IndexedName:
    name: str
    kind: MatchKind
    entry: Interaction


class InteractionSet(_Frozen):
    """All entries of ``interactions.yaml``, looked up by id or by name.

    Use ``interactions[id]`` for an entry, :meth:`class_definition` for the source of a class
    grade and :func:`match_comedications` to match free-text names.
    """

    schema_name: Literal["imatinib_tdm.interactions"] = Field(alias="schema")
    version: int
    references: dict[str, Source] = Field(default_factory=dict)
    classes: tuple[ClassDefinition, ...] = Field(min_length=1)
    interactions: tuple[Interaction, ...] = Field(min_length=1)
    _index: dict[str, _IndexedName] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_set(self) -> InteractionSet:
        _check_unique_ids(e.id for e in self.interactions)
        _check_unique_ids(c.id for c in self.classes)
        known = {c.value for c in DrugClass}
        defined = {c.id for c in self.classes}
        stray = defined - known
        if stray:
            raise ValueError(
                f"classes {sorted(stray)} are not drug classes; expected among {sorted(known)}"
            )
        missing = {e.drug_class.value for e in self.interactions} - defined
        if missing:
            raise ValueError(
                f"drug classes used but not defined under 'classes': {sorted(missing)}"
            )
        index: dict[str, _IndexedName] = {}
        for entry in self.interactions:
            for name, kind in entry.names():
                key = normalize_drug_name(name)
                if not key:
                    raise ValueError(f"interaction {entry.id!r}: name {name!r} is empty")
                other = index.get(key)
                if other is None:
                    index[key] = _IndexedName(name, kind, entry)
                elif other.entry.id != entry.id:
                    raise ValueError(
                        f"name {name!r} of {entry.id!r} is also a name of {other.entry.id!r} "
                        f"({other.name!r}); a name must point to one entry"
                    )
        self._index = index
        return self

    def __getitem__(self, entry_id: str) -> Interaction:
        for entry in self.interactions:
            if entry.id == entry_id:
                return entry
        raise KnowledgeBaseError(
            f"no interaction with id {entry_id!r}; known ids: "
            f"{', '.join(e.id for e in self.interactions)}",
            entry_id=entry_id,
        )

    def class_definition(self, drug_class: DrugClass) -> ClassDefinition:
        """Definition and grading source of a drug class."""
        for definition in self.classes:
            if definition.id == drug_class.value:
                return definition
        raise KnowledgeBaseError(f"drug class {drug_class.value!r} is not defined")


@functools.cache
def _builtin_interactions() -> InteractionSet:
    return _load(_data_path("interactions.yaml"), InteractionSet)


def load_interactions(path: str | PathLike[str] | None = None) -> InteractionSet:
    """Interaction knowledge base (``data/interactions.yaml``, or another file of the same format).

    Parameters
    ----------
    path : path-like, optional
        A centre's own file; default the package file (read once and cached).

    Returns
    -------
    InteractionSet
        Frozen; ``load_interactions()["rifampicin"].effect.change_pct`` is ``-74``.

    Raises
    ------
    KnowledgeBaseError
        The file is unreadable or invalid: an entry without a source, an unverified entry with
        numbers, a direction that contradicts the class or the figures, a name shared by two
        entries, ... (all problems are listed).

    Examples
    --------
    >>> load_interactions()["ketoconazole"].effect.change_pct
    40.0
    """
    if path is None:
        return _builtin_interactions()
    return _load(Path(path), InteractionSet)
