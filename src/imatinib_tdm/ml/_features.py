"""The six triage features of Ran et al. (BMC Cancer 2024): units, coding, plausibility bounds.

Variable choice (sex, daily dose, metastatic site, RBC, PLT, NEU%) follows Ran et al. 2024, as
summarised in the clinical reference ``imatinib_clinical_kb.md`` section 1 [R1]. That paper's
units and category coding were not readable (KB section 1, row "Variable coding/units": [NV]); the
units below are the conventional ones and the metastatic-site categories are this package's choice.

The sanity bounds are **software choices** that catch unit and entry errors (e.g. platelets
written per µL instead of 10^9/L); they are not clinical reference ranges.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from imatinib_tdm.case import MetastaticSite as CaseMetastaticSite

__all__ = [
    "FEATURES",
    "FeatureKind",
    "FeatureSpec",
    "MetastaticSite",
    "encoded_feature_names",
]


class FeatureKind(enum.StrEnum):
    """How a feature is coded in the design matrix."""

    NUMERIC = "numeric"
    BINARY = "binary"
    CATEGORICAL = "categorical"


# one definition of the categories, shared with the case file (patient.metastatic_site)
MetastaticSite = CaseMetastaticSite


@dataclass(frozen=True)
class FeatureSpec:
    """One input variable.

    Attributes
    ----------
    name : str
        Canonical column name (units in the name).
    unit : str
        Unit, or the coding for binary/categorical features.
    kind : FeatureKind
    description : str
    categories : tuple of str
        Allowed values of a categorical feature; the first is the reference level (not encoded).
    sanity_min, sanity_max : float or None
        Software bounds (inclusive) outside which a value is refused as a probable unit or entry
        error; not reference ranges.
    unit_hint : str
        What to do when a value falls outside the bounds (named in the error).
    """

    name: str
    unit: str
    kind: FeatureKind
    description: str
    categories: tuple[str, ...] = ()
    sanity_min: float | None = None
    sanity_max: float | None = None
    unit_hint: str = ""


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "sex_male",
        "1 = male, 0 = female (also accepts male/female, M/F)",
        FeatureKind.BINARY,
        "sex",
    ),
    FeatureSpec(
        "daily_dose_mg",
        "mg/day",
        FeatureKind.NUMERIC,
        "total daily imatinib dose",
        sanity_min=50.0,
        sanity_max=1200.0,
        unit_hint="give the total daily dose in mg (e.g. 400), not the number of tablets",
    ),
    FeatureSpec(
        "metastatic_site",
        "category",
        FeatureKind.CATEGORICAL,
        "metastatic site",
        categories=tuple(site.value for site in MetastaticSite),
    ),
    FeatureSpec(
        "rbc_10e12_per_l",
        "10^12/L (the same number as 10^6/µL)",
        FeatureKind.NUMERIC,
        "red blood cell count",
        sanity_min=0.5,
        sanity_max=10.0,
        unit_hint="RBC in 10^12/L or 10^6/µL (same number, e.g. 4.2); a count per µL "
        "(e.g. 4200000) must be divided by 10^6",
    ),
    FeatureSpec(
        "plt_10e9_per_l",
        "10^9/L (the same number as 10^3/µL)",
        FeatureKind.NUMERIC,
        "platelet count",
        sanity_min=1.0,
        sanity_max=3000.0,
        unit_hint="PLT in 10^9/L or 10^3/µL (same number, e.g. 250); a count per µL "
        "(e.g. 250000) must be divided by 1000",
    ),
    FeatureSpec(
        "neu_pct",
        "% of white blood cells (0-100)",
        FeatureKind.NUMERIC,
        "neutrophil percentage",
        sanity_min=0.0,
        sanity_max=100.0,
        unit_hint="NEU% in percent (e.g. 62), not as a fraction (0.62)",
    ),
)
"""The feature set, in design-matrix order."""


def encoded_feature_names(features: Sequence[FeatureSpec] = FEATURES) -> list[str]:
    """Column names of the design matrix: categorical features one-hot, reference level dropped.

    >>> encoded_feature_names()[:3]
    ['sex_male', 'daily_dose_mg', 'metastatic_site=liver']
    """
    names: list[str] = []
    for spec in features:
        if spec.kind is FeatureKind.CATEGORICAL:
            names.extend(f"{spec.name}={level}" for level in spec.categories[1:])
        else:
            names.append(spec.name)
    return names


def encode_rows(
    values: Mapping[str, Sequence[float | str]], features: Sequence[FeatureSpec] = FEATURES
) -> NDArray[np.float64]:
    """Design matrix of shape (n_patients, n_encoded) from validated canonical columns.

    ``values`` maps each feature name to its per-patient values: floats for numeric and binary
    features, category strings for categorical ones (already checked by the loader).
    """
    columns: list[NDArray[np.float64]] = []
    for spec in features:
        column = values[spec.name]
        if spec.kind is FeatureKind.CATEGORICAL:
            text = np.asarray([str(v) for v in column])
            columns.extend((text == level).astype(np.float64) for level in spec.categories[1:])
        else:
            columns.append(np.asarray(column, dtype=np.float64))
    return np.column_stack(columns) if columns else np.empty((0, 0))
