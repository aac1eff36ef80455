"""The TDM case: patient, covariates, dose history, blood samples and co-medications.

This package owns the case file, the product's interchange format (YAML or JSON, documented in
``docs/case-file.md``, JSON Schema in ``schemas/case.schema.json``): the frozen pydantic models,
their validation with messages a clinician can act on, loading from files, and the derived views
the PK engine needs (dose events and sample times in hours since the first dose, concentrations in
ng/mL, covariate values under canonical names).

Time conventions
----------------
Every ``time`` of a case is either an ISO 8601 date-time (``2026-10-01T08:00``, optionally with a
UTC offset ``+02:00`` or ``Z``) or a number of hours since the first dose; one case uses one kind
only. Date-times are all naive (local clock time) or all aware (with offset): never mixed. Elapsed
time between aware date-times is physical time (computed in UTC, so daylight-saving changes are
handled); between naive date-times it is the wall-clock difference (a DST change in between makes
it off by one hour, so give offsets when that matters). The time origin (t = 0 h) is the first
dose.

Modules: ``_models`` (the pydantic models), ``_times`` (time parsing and arithmetic),
``_consistency`` (cross-field checks and plausibility warnings), ``_limits`` (plausibility limits
and their sources), ``_loading`` (YAML/JSON loading with line numbers, error messages, demo cases,
JSON Schema). Import from this package, not from those modules.

This package imports only :mod:`imatinib_tdm.errors` and :mod:`imatinib_tdm.units` from the
package.
"""

from imatinib_tdm.case._consistency import PlausibilityWarning
from imatinib_tdm.case._limits import (
    HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML as HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML,
)
from imatinib_tdm.case._limits import LABELLED_MAX_DAILY_DOSE_MG as LABELLED_MAX_DAILY_DOSE_MG
from imatinib_tdm.case._limits import MAX_COUNT as MAX_COUNT
from imatinib_tdm.case._limits import MAX_INTERVAL_H as MAX_INTERVAL_H
from imatinib_tdm.case._limits import MAX_SINGLE_ADMINISTRATION_MG as MAX_SINGLE_ADMINISTRATION_MG
from imatinib_tdm.case._limits import MIN_INTERVAL_H as MIN_INTERVAL_H
from imatinib_tdm.case._limits import SUSPECT_HIGH_FACTOR as SUSPECT_HIGH_FACTOR
from imatinib_tdm.case._limits import SUSPECT_LOW_NG_PER_ML as SUSPECT_LOW_NG_PER_ML
from imatinib_tdm.case._loading import (
    case_json_schema,
    demo_case_names,
    format_validation_error,
    load_case,
    load_demo_case,
    parse_case,
)
from imatinib_tdm.case._models import (
    Case,
    Comedication,
    Covariates,
    Dose,
    Indication,
    MetastaticSite,
    Patient,
    Sample,
    SampleMatrix,
    Sex,
    plain_text,
)
from imatinib_tdm.case._times import CaseTime

__all__ = [
    "Case",
    "CaseTime",
    "Comedication",
    "Covariates",
    "Dose",
    "Indication",
    "MetastaticSite",
    "Patient",
    "PlausibilityWarning",
    "Sample",
    "SampleMatrix",
    "Sex",
    "case_json_schema",
    "demo_case_names",
    "format_validation_error",
    "load_case",
    "load_demo_case",
    "parse_case",
    "plain_text",
]
