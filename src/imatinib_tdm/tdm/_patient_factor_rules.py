"""Patient factors and adherence figures (``data/patient_factors.yaml``), validated.

Each factor (BMI, AGP, albumin, WBC, haemoglobin, gastrectomy, time on therapy, sex, age) says
which way it moves imatinib exposure, where the case gives it, which popPK covariates carry it,
its quantified effect where the knowledge base gives one and its bands (thresholds) only where the
knowledge base gives them. The adherence entry holds the published adherent and non-adherent
trough figures.

The schema refuses an entry without a ``source`` (``"unknown"`` only for an ``unverified``
entry), a duplicate id or factor, and bands that overlap, leave a gap or are out of order.

Imports pydantic, PyYAML, :mod:`imatinib_tdm.errors` and the knowledge loader; never report, store
or service.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

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
    "AdherenceFigures",
    "FactorBand",
    "FactorName",
    "PatientFactor",
    "PatientFactorFile",
    "PublishedEffect",
    "SupportingEvidence",
    "load_patient_factors",
]

FactorName = Literal[
    "bmi",
    "agp",
    "albumin",
    "wbc",
    "haemoglobin",
    "gastrectomy",
    "time_on_therapy",
    "sex",
    "age",
]
"""The patient factors the troubleshooting knows."""

Direction = Literal["higher_exposure", "lower_exposure", "conflicting", "unknown"]


class PublishedEffect(_Frozen):
    """A quantified effect as published (one number, its unit and the sentence it comes from).

    Attributes
    ----------
    quantity : str
        Snake_case name used as an evidence key (``published_<quantity>``).
    value : float
    unit : str
    statement : str
    """

    quantity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: float
    unit: str = Field(min_length=1)
    statement: str = Field(min_length=1)

    @property
    def evidence_key(self) -> str:
        """Key of this effect in a finding's evidence, with its unit when it has one."""
        return f"published_{self.quantity}"


class FactorBand(_Frozen):
    """A range of a factor with its exposure relative to the reference band.

    ``lower`` is inclusive and ``upper`` exclusive; either may be open (None).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    lower: float | None = None
    upper: float | None = None
    unit: str = Field(min_length=1)
    exposure: Literal["higher", "lower", "reference"]
    effect_pct: float | None = None
    versus: str | None = None

    def contains(self, value: float) -> bool:
        """True when ``lower <= value < upper`` (open ends unbounded)."""
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value < self.upper
        )


class SupportingEvidence(_Frozen):
    """Further evidence on a factor, each with its own source and grade."""

    statement: str = Field(min_length=1)
    source: Source
    verification: Verification


class PatientFactor(_Entry):
    """One patient factor and its published effect on imatinib exposure.

    Attributes
    ----------
    factor : FactorName
    case_fields : tuple of str
        Case fields it is read from (empty when derived from the dose history).
    model_covariates : tuple of str
        PopPK covariate names that carry it in a model.
    direction : {"higher_exposure", "lower_exposure", "conflicting", "unknown"}
        Effect on exposure under ``condition``.
    condition : str
    effect : PublishedEffect or None
        Only where the knowledge base gives a number.
    bands : tuple of FactorBand
        Only where the knowledge base gives thresholds; contiguous and ordered.
    supporting : tuple of SupportingEvidence
    reference_models : tuple of str
        Library models that carry the factor as a covariate; when the chosen model does not,
        the factor's size is read from the first of these that can be evaluated for the case.
    """

    factor: FactorName
    case_fields: tuple[str, ...] = ()
    model_covariates: tuple[str, ...] = ()
    direction: Direction
    condition: str = Field(min_length=1)
    effect: PublishedEffect | None = None
    bands: tuple[FactorBand, ...] = ()
    supporting: tuple[SupportingEvidence, ...] = ()
    reference_models: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_bands(self) -> PatientFactor:
        bands = self.bands
        if not bands:
            return self
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            raise ValueError(f"factor {self.id!r}: duplicate band names {names}")
        if bands[0].lower is not None or bands[-1].upper is not None:
            raise ValueError(f"factor {self.id!r}: the first and last bands must be open-ended")
        for band in bands:
            if band.lower is not None and band.upper is not None and band.lower >= band.upper:
                raise ValueError(f"factor {self.id!r}: band {band.name!r} has lower >= upper")
            if band.versus is not None and band.versus not in names:
                raise ValueError(
                    f"factor {self.id!r}: band {band.name!r} compares with unknown band "
                    f"{band.versus!r}"
                )
        for left, right in itertools.pairwise(bands):
            if left.upper != right.lower:
                raise ValueError(
                    f"factor {self.id!r}: bands {left.name!r} and {right.name!r} must meet "
                    f"(upper {left.upper} != lower {right.lower})"
                )
        if len({b.unit for b in bands}) != 1:
            raise ValueError(f"factor {self.id!r}: all bands must share one unit")
        return self

    def band_for(self, value: float) -> FactorBand | None:
        """The band containing ``value``; None when the factor has no bands."""
        for band in self.bands:
            if band.contains(value):
                return band
        return None


class AdherenceFigures(_Entry):
    """Published mean troughs of adherent and non-adherent patients (ng/mL)."""

    population: str = Field(min_length=1)
    adherent_cmin: float = Field(gt=0)
    non_adherent_cmin: float = Field(gt=0)
    non_adherence_cutoff: float | None = Field(default=None, gt=0)
    unit: Literal["ng/mL"]


class PatientFactorFile(_Frozen):
    """The whole of ``patient_factors.yaml``; look factors up with :meth:`for_factor`."""

    schema_name: Literal["imatinib_tdm.patient_factors"] = Field(alias="schema")
    version: int
    factors: tuple[PatientFactor, ...] = Field(min_length=1)
    adherence: AdherenceFigures

    @model_validator(mode="after")
    def _check_file(self) -> PatientFactorFile:
        _check_unique_ids([f.id for f in self.factors] + [self.adherence.id])
        kinds = [f.factor for f in self.factors]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"each factor may appear once, got {kinds}")
        return self

    @property
    def by_factor(self) -> Mapping[str, PatientFactor]:
        """Factors by name (``"bmi"``, ``"agp"`` ...)."""
        return {f.factor: f for f in self.factors}

    def for_factor(self, name: str) -> PatientFactor | None:
        """The entry of factor ``name``; None when the file has none."""
        return self.by_factor.get(name)


@functools.cache
def _builtin() -> PatientFactorFile:
    return _load(_data_path("patient_factors.yaml"), PatientFactorFile)


def load_patient_factors(path: str | PathLike[str] | None = None) -> PatientFactorFile:
    """Patient factors and adherence figures (``data/patient_factors.yaml``), validated.

    Parameters
    ----------
    path : path-like, optional
        A centre's own file of the same format; default the package file (read once, cached).

    Returns
    -------
    PatientFactorFile
        Frozen.

    Raises
    ------
    KnowledgeBaseError
        The file is unreadable or invalid (an entry without a source, overlapping bands, a
        duplicate factor; all problems listed).

    Examples
    --------
    >>> rules = load_patient_factors()
    >>> rules.for_factor("bmi").band_for(17.0).name
    'underweight'
    >>> rules.adherence.non_adherent_cmin, rules.adherence.unit
    (737.68, 'ng/mL')
    """
    if path is None:
        return _builtin()
    return _load(Path(path), PatientFactorFile)
