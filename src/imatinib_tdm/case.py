"""The TDM case: patient, covariates, dose history, blood samples and co-medications.

This module owns the case file, the product's interchange format (YAML or JSON, documented in
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

This module imports only :mod:`imatinib_tdm.errors` and :mod:`imatinib_tdm.units` from the package.
"""

from __future__ import annotations

import bisect
import difflib
import enum
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from imatinib_tdm.errors import CaseError, UnitError
from imatinib_tdm.units import (
    ConcentrationUnit,
    accepted_unit_spellings,
    convert_concentration,
    parse_concentration_unit,
)

__all__ = [
    "Case",
    "CaseTime",
    "Comedication",
    "Covariates",
    "Dose",
    "Indication",
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
]

# --- Plausibility limits ------------------------------------------------------------------------
# Hard limits (violations are errors). They catch typing and unit mistakes; they are not clinical
# recommendations.

# Largest single administration accepted. The highest labelled imatinib dose is 800 mg/day, given
# as 400 mg twice daily (Glivec SmPC copy, medhub [R48]; Lexicomp copy [R49]; FDA 2020 label copy,
# rxreasoner [R52]); the EU SmPC states linear pharmacokinetics over 25-1000 mg (SmPC excerpt in
# reference/imatinib_popk_models.md). A single administration above 1000 mg is therefore not a
# plausible imatinib dose and almost always a typing or unit error.
MAX_SINGLE_ADMINISTRATION_MG = 1000.0
# Dosing interval range: software guard (labelled schedules are 12 h and 24 h [R52]); anything
# outside 4-168 h (4 hours to once weekly) is a data-entry error for an oral daily drug.
MIN_INTERVAL_H = 4.0
MAX_INTERVAL_H = 168.0
# Software guard against runaway expansion (~55 years of twice-daily dosing).
MAX_COUNT = 40_000

# Soft limits (violations are plausibility warnings, see Case.plausibility_warnings).
# Highest labelled daily dose (800 mg/day, [R48] [R49]); higher daily totals occur (patients on
# enzyme-inducing antiepileptics tolerated up to 1200 mg/day, Wen 2006 [R19]) but usually mean
# overlapping regimens in the history.
LABELLED_MAX_DAILY_DOSE_MG = 800.0
# Lowest lower limit of quantification among the assays in the knowledge base: UPLC-MS/MS linear
# over 10-2000 ng/mL (Hebei method [R30]). A *quantified* result below it is most likely a value in
# ug/mL, mg/L or umol/L entered with unit ng/mL (typical troughs ~1000 ng/mL: IRIS 979 +- 530 ng/mL
# [R4]; TOPS medians 1040-2690 ng/mL [R43]).
SUSPECT_LOW_NG_PER_ML = 10.0
# Highest group-mean trough in the knowledge base: 3844 +- 987 ng/mL at 800 mg/day (Chinese GIST,
# PMID 32293723 [R12]). Ten times that (a software margin that leaves room for peaks, 2.6 +- 0.8
# ug/mL at 400 mg [R37], and overdoses) flags the 1000-fold ng/mL <-> ug/mL mix-up (820 ug/mL).
HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML = 3844.0
SUSPECT_HIGH_FACTOR = 10.0

_SAME_TIME_TOLERANCE_H = 1.0 / 3600.0  # two events less than one second apart are simultaneous


# --- Enums --------------------------------------------------------------------------------------


class Sex(enum.StrEnum):
    """Sex of the patient as recorded (used by models with a sex covariate)."""

    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class Indication(enum.StrEnum):
    """Disease treated with imatinib; decides which concentration target applies."""

    GIST = "GIST"
    """Gastrointestinal stromal tumour."""
    CML = "CML"
    """Chronic myeloid leukaemia."""
    OTHER = "other"
    """Any other indication (e.g. Ph+ ALL, DFSP); write it in ``patient.diagnosis``."""


class SampleMatrix(enum.StrEnum):
    """Biological matrix in which the concentration was measured."""

    PLASMA = "plasma"
    SERUM = "serum"
    DRIED_BLOOD_SPOT = "dried_blood_spot"


# --- Field types with tolerant parsing ----------------------------------------------------------


def _parse_time(value: Any) -> datetime | float:
    if isinstance(value, bool):
        raise ValueError(f"expected a date-time or a number of hours, got {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        hours = float(value)
        if not math.isfinite(hours):
            raise ValueError(f"a time in hours must be a finite number, got {value!r}")
        return hours
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        raise ValueError(
            f"{value.isoformat()} is a date without a clock time; write e.g. "
            f"{value.isoformat()}T08:00"
        )
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(f"{text!r} is a date without a clock time; write e.g. {text}T08:00")
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        try:
            hours = float(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an ISO 8601 date-time (e.g. 2026-10-01T08:00 or "
                "2026-10-01T08:00+02:00) nor a number of hours since the first dose"
            ) from None
        if not math.isfinite(hours):
            raise ValueError(f"a time in hours must be a finite number, got {text!r}")
        return hours
    raise ValueError(f"expected a date-time or a number of hours, got {value!r}")


_TIME_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "description": "ISO 8601 date-time, e.g. 2026-10-01T08:00 or 2026-10-01T08:00+02:00",
        },
        {"type": "number", "description": "hours since the first dose"},
    ]
}

CaseTime = Annotated[
    datetime | float, BeforeValidator(_parse_time), WithJsonSchema(_TIME_JSON_SCHEMA)
]
"""A time of a case: an ISO 8601 date-time, or hours since the first dose (see module notes)."""


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # YAML "yes"/"true" must not become 1.0
        raise ValueError(f"expected a number, got {value!r}")
    return value


_Number = Annotated[float, BeforeValidator(_number)]


def _unit(value: Any) -> ConcentrationUnit:
    try:
        return parse_concentration_unit(value)
    except UnitError as error:
        raise ValueError(error.message) from None


_UNIT_JSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "concentration unit: "
    + ", ".join(accepted_unit_spellings())
    + " (case-insensitive)",
    "examples": [unit.value for unit in ConcentrationUnit],
}


def _choice(enum_type: type[enum.StrEnum], what: str) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, enum_type):
            return value
        if isinstance(value, str):
            for member in enum_type:
                if member.value.lower() == value.strip().lower():
                    return member
        allowed = ", ".join(member.value for member in enum_type)
        hint = (
            "; for another indication (e.g. Ph+ ALL, DFSP) write 'other' and put the diagnosis "
            "in patient.diagnosis"
            if enum_type is Indication
            else ""
        )
        raise ValueError(f"{what} must be one of {allowed} (any case), got {value!r}{hint}")

    return parse


def _text_id(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'write the identifier as quoted text (e.g. id: "{value}"); YAML reads unquoted '
            "digits as a number and drops leading zeros"
        )
    return value


def _comedication_from_text(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


# --- Models -------------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True
    )


class Patient(_Frozen):
    """Who the patient is. Only ``id`` and ``indication`` are required."""

    id: Annotated[str, BeforeValidator(_text_id)] = Field(
        min_length=1, description="pseudonymous patient identifier (text)"
    )
    sex: Annotated[Sex, BeforeValidator(_choice(Sex, "sex"))] = Field(
        default=Sex.UNKNOWN, description="female, male or unknown"
    )
    age_years: _Number | None = Field(default=None, ge=0, le=120, description="age in years")
    weight_kg: _Number | None = Field(default=None, ge=2, le=300, description="body weight, kg")
    height_cm: _Number | None = Field(default=None, ge=40, le=250, description="height, cm")
    indication: Annotated[
        Indication,
        BeforeValidator(_choice(Indication, "indication")),
        WithJsonSchema({"type": "string", "description": "GIST, CML or other (case-insensitive)"}),
    ] = Field(description="GIST, CML or other")
    diagnosis: str | None = Field(
        default=None, description="free-text diagnosis, e.g. 'Ph+ ALL' (for indication other)"
    )
    gastrectomy: bool | None = Field(
        default=None, description="prior (partial) gastrectomy; null when not known"
    )
    genotypes: dict[str, str] = Field(
        default_factory=dict,
        description="genotype results, gene or variant -> result (pharmacogenes or tumour "
        "mutations), e.g. "
        "{'SLC22A1 rs683369': 'CG'}",
    )


class Covariates(_Frozen):
    """Laboratory and disease covariates, all optional; give the values nearest to the samples.

    A model that needs a value that is missing raises ``MissingCovariateError`` later, listing all
    of them; nothing is ever filled in with a default.
    """

    wbc_10e9_per_l: _Number | None = Field(None, gt=0, description="white blood cells, 10^9/L")
    hemoglobin_g_per_dl: _Number | None = Field(None, gt=0, description="haemoglobin, g/dL")
    albumin_g_per_l: _Number | None = Field(None, gt=0, description="serum albumin, g/L")
    agp_g_per_l: _Number | None = Field(None, gt=0, description="alpha1-acid glycoprotein, g/L")
    rbc_10e12_per_l: _Number | None = Field(None, gt=0, description="red blood cells, 10^12/L")
    plt_10e9_per_l: _Number | None = Field(None, gt=0, description="platelets, 10^9/L")
    neutrophils_pct: _Number | None = Field(
        None, ge=0, le=100, description="neutrophils, % of white blood cells"
    )
    neutrophils_10e9_per_l: _Number | None = Field(
        None, ge=0, description="absolute neutrophil (granulocyte) count, 10^9/L"
    )
    egfr_ml_per_min_per_1_73m2: _Number | None = Field(
        None, gt=0, description="estimated glomerular filtration rate, mL/min/1.73 m^2"
    )
    crcl_ml_per_min: _Number | None = Field(
        None, gt=0, description="creatinine clearance (e.g. Cockcroft-Gault), mL/min"
    )
    liver_metastasis_volume_cm3: _Number | None = Field(
        None, ge=0, description="total volume of liver metastases, cm^3 (0 = none)"
    )


class Dose(_Frozen):
    """One dose entry: a single administration, or ``count`` administrations every ``interval_h``.

    ``interval_h`` and ``count`` go together; an entry without them is a single dose.
    """

    time: CaseTime = Field(description="time of the (first) administration")
    amount_mg: _Number = Field(
        gt=0,
        description="amount per administration, mg of imatinib as prescribed, "
        f"at most {MAX_SINGLE_ADMINISTRATION_MG:g} mg",
        json_schema_extra={"maximum": MAX_SINGLE_ADMINISTRATION_MG},
    )
    interval_h: _Number | None = Field(
        default=None,
        ge=MIN_INTERVAL_H,
        le=MAX_INTERVAL_H,
        description="hours between administrations (e.g. 24 once daily, 12 twice daily)",
    )
    count: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="number of administrations (>= 1)"
    )

    @field_validator("amount_mg")
    @classmethod
    def _plausible_amount(cls, amount_mg: float) -> float:
        if amount_mg > MAX_SINGLE_ADMINISTRATION_MG:
            raise ValueError(
                f"{amount_mg:g} mg is not a plausible imatinib dose for one administration "
                f"(at most {MAX_SINGLE_ADMINISTRATION_MG:g} mg; the highest labelled dose is "
                f"{LABELLED_MAX_DAILY_DOSE_MG:g} mg/day, given as 400 mg twice daily); check the "
                "amount and its unit"
            )
        return amount_mg

    @model_validator(mode="after")
    def _interval_with_count(self) -> Dose:
        if (self.interval_h is None) != (self.count is None):
            raise ValueError(
                "interval_h and count go together: give both for repeated administrations "
                "(e.g. interval_h: 24, count: 30), or neither for a single dose"
            )
        return self

    @property
    def n_administrations(self) -> int:
        """Number of administrations this entry stands for."""
        return 1 if self.count is None else self.count


class Sample(_Frozen):
    """One blood sample with its measured imatinib concentration.

    A result below the limit of quantification is written as ``concentration: 0`` (or any value
    below ``lloq``) with ``lloq`` given; it is then censored data, never replaced by a number.
    """

    id: Annotated[str, BeforeValidator(_text_id)] | None = Field(
        default=None, min_length=1, description="sample identifier (unique within the case)"
    )
    time: CaseTime = Field(description="time of the blood draw")
    concentration: _Number = Field(ge=0, description="measured concentration, in `unit`")
    unit: Annotated[
        ConcentrationUnit, BeforeValidator(_unit), WithJsonSchema(_UNIT_JSON_SCHEMA)
    ] = Field(description="unit of concentration and lloq")
    lloq: _Number | None = Field(
        default=None, gt=0, description="lower limit of quantification of the assay, in `unit`"
    )
    assay: str | None = Field(default=None, description="analytical method, e.g. LC-MS/MS")
    matrix: Annotated[SampleMatrix, BeforeValidator(_choice(SampleMatrix, "matrix"))] | None = (
        Field(default=None, description="plasma, serum or dried_blood_spot")
    )

    @property
    def is_below_lloq(self) -> bool:
        """True when an LLOQ is given and the reported concentration is below it."""
        return self.lloq is not None and self.concentration < self.lloq


class Comedication(_Frozen):
    """A co-medication (name, optionally when it was started and stopped).

    In a case file a bare name (``- rifampicin``) stands for ``{name: rifampicin}``.
    """

    name: str = Field(min_length=1, description="drug name (INN), e.g. rifampicin")
    start: CaseTime | None = Field(default=None, description="when it was started")
    stop: CaseTime | None = Field(default=None, description="when it was stopped")


_ComedicationEntry = Annotated[Comedication, BeforeValidator(_comedication_from_text)]


@dataclass(frozen=True)
class PlausibilityWarning:
    """A value that is allowed but looks wrong (e.g. a concentration in the wrong unit).

    The TDM layer turns these into findings; they never stop the analysis.

    Attributes
    ----------
    code : str
        Stable identifier, e.g. ``"concentration_suspiciously_low"``.
    field : str
        Dotted path of the value, e.g. ``"samples[0].concentration"``.
    message : str
        What looks wrong, why, and what to check.
    """

    code: str
    field: str
    message: str


_Loc = tuple[str | int, ...]


class Case(_Frozen):
    """A validated TDM case (frozen). Build it with :func:`parse_case` or :func:`load_case`.

    Direct construction (``Case(...)``/``Case.model_validate``) raises pydantic's
    ``ValidationError``; :func:`parse_case` converts it into a :class:`CaseError` listing every
    problem. Change a case with :meth:`replace`, which validates again.

    Examples
    --------
    >>> case = load_demo_case("demo-001")
    >>> case.patient.indication
    <Indication.GIST: 'GIST'>
    >>> len(case.dose_events()), float(case.sample_times_h()[0])
    (50, 1199.5)
    """

    format_version: Literal[1] = Field(default=1, description="version of the case-file format")
    patient: Patient
    covariates: Covariates = Field(default_factory=Covariates)
    doses: tuple[Dose, ...] = Field(min_length=1, description="the dose history")
    missed_doses: tuple[CaseTime, ...] = Field(
        default=(), description="times of scheduled administrations that were not taken"
    )
    samples: tuple[Sample, ...] = Field(default=(), description="blood samples")
    comedications: tuple[_ComedicationEntry, ...] = Field(
        default=(), description="co-medications: names, or {name, start, stop}"
    )
    notes: str | None = Field(default=None, description="free-text remarks")

    @model_validator(mode="after")
    def _check_consistency(self) -> Case:
        problems = _consistency_problems(self)
        if problems:
            loc, message = problems[0]
            raise CaseError(
                message,
                field=_path(loc),
                problems=[{"loc": list(p_loc), "message": p_msg} for p_loc, p_msg in problems],
            )
        return self

    # -- time ------------------------------------------------------------------------------------

    @property
    def uses_clock_times(self) -> bool:
        """True when the times are date-times, False when they are hours since the first dose."""
        return isinstance(self.doses[0].time, datetime)

    @property
    def time_origin(self) -> datetime | float:
        """Time of the first dose (t = 0 h): a date-time, or hours as written in the case."""
        return min((dose.time for dose in self.doses), key=self._raw_hours)

    def _raw_hours(self, time: datetime | float) -> float:
        return _hours_between(self.doses[0].time, time)

    def hours_since_first_dose(self, time: datetime | float) -> float:
        """Convert a time of this case (same kind as its dose times) to hours since the first dose.

        Parameters
        ----------
        time : datetime or float
            A date-time (naive or aware, as the case) or hours as written in the case.

        Returns
        -------
        float
            Hours since the first dose (negative before it).
        """
        return _hours_between(self.time_origin, time)

    def dose_events(self, *, include_missed: bool = False) -> list[tuple[float, float]]:
        """Every administration as ``(time_h_since_first_dose, amount_mg)``, sorted by time.

        Parameters
        ----------
        include_missed : bool, default=False
            Keep missed administrations with amount 0 mg (instead of leaving them out).

        Returns
        -------
        list of (float, float)
            Times in hours since the first dose, amounts in mg.
        """
        administrations, _ = _administrations(self)
        return [
            (time_h, 0.0 if missed else amount_mg)
            for _, time_h, amount_mg, missed in administrations
            if include_missed or not missed
        ]

    def missed_dose_times_h(self) -> tuple[float, ...]:
        """Times of the missed administrations, hours since the first dose, sorted."""
        return tuple(sorted(self.hours_since_first_dose(t) for t in self.missed_doses))

    def sample_times_h(self) -> NDArray[np.float64]:
        """Sample times in hours since the first dose, shape ``(n_samples,)``, in file order."""
        return np.array(
            [self.hours_since_first_dose(s.time) for s in self.samples], dtype=np.float64
        )

    # -- concentrations ----------------------------------------------------------------------------

    def concentrations_ng_per_ml(self) -> NDArray[np.float64]:
        """Reported concentrations converted to ng/mL, shape ``(n_samples,)``, in file order.

        Molar units are converted with the imatinib free-base molar mass (493.6 g/mol).
        """
        return np.array(
            [convert_concentration(s.concentration, s.unit, "ng/mL") for s in self.samples],
            dtype=np.float64,
        )

    def lloq_ng_per_ml(self) -> NDArray[np.float64]:
        """LLOQ of each sample in ng/mL, shape ``(n_samples,)``; NaN where no LLOQ was given."""
        return np.array(
            [
                math.nan if s.lloq is None else convert_concentration(s.lloq, s.unit, "ng/mL")
                for s in self.samples
            ],
            dtype=np.float64,
        )

    def is_below_lloq(self) -> NDArray[np.bool_]:
        """Boolean mask of censored samples (reported below their LLOQ), shape ``(n_samples,)``."""
        return np.array([s.is_below_lloq for s in self.samples], dtype=np.bool_)

    # -- covariates --------------------------------------------------------------------------

    def covariate_values(self) -> dict[str, float]:
        """Covariates actually given, under the canonical names used by the popPK models.

        Returns
        -------
        dict of str to float
            ``weight_kg``, ``height_cm``, ``age_years``; ``sex_male`` (1.0 male, 0.0 female; absent
            when unknown); ``indication_gist`` (1.0 GIST, 0.0 CML; absent otherwise);
            ``gastrectomy`` (1.0/0.0 when known); and every laboratory value under its case name
            (``wbc_10e9_per_l``, ``agp_g_per_l`` ...). Values not given are absent, never defaulted.
        """
        patient = self.patient
        values: dict[str, float] = {}
        for name in ("weight_kg", "height_cm", "age_years"):
            value = getattr(patient, name)
            if value is not None:
                values[name] = float(value)
        if patient.sex is Sex.MALE:
            values["sex_male"] = 1.0
        elif patient.sex is Sex.FEMALE:
            values["sex_male"] = 0.0
        if patient.indication is Indication.GIST:
            values["indication_gist"] = 1.0
        elif patient.indication is Indication.CML:
            values["indication_gist"] = 0.0
        if patient.gastrectomy is not None:
            values["gastrectomy"] = 1.0 if patient.gastrectomy else 0.0
        for name in type(self.covariates).model_fields:
            value = getattr(self.covariates, name)
            if value is not None:
                values[name] = float(value)
        return values

    # -- plausibility ------------------------------------------------------------------------------

    def plausibility_warnings(self) -> tuple[PlausibilityWarning, ...]:
        """Values that are accepted but look wrong; see the thresholds at the top of this module.

        Checks: a quantified concentration below 10 ng/mL (lowest LLOQ of the assays in the
        knowledge base) or above 10 x 3844 ng/mL (ten times the highest published group-mean
        trough) once converted to ng/mL, which suggests a wrong unit; a concentration of 0 without
        an LLOQ; more than 800 mg (the highest labelled daily dose) within any 24 h.

        Returns
        -------
        tuple of PlausibilityWarning
            Empty when nothing looks odd.
        """
        warnings: list[PlausibilityWarning] = []
        concentrations = self.concentrations_ng_per_ml()
        high_ng_per_ml = SUSPECT_HIGH_FACTOR * HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML
        for index, (sample, c_ng) in enumerate(zip(self.samples, concentrations, strict=True)):
            where = f"samples[{index}].concentration"
            shown = f"{sample.concentration:g} {sample.unit.value}"
            if sample.is_below_lloq:
                continue
            if sample.concentration == 0:
                warnings.append(
                    PlausibilityWarning(
                        "concentration_zero_without_lloq",
                        where,
                        f"{where}: a concentration of 0 without an LLOQ; if the result was below "
                        "the limit of quantification, give the assay's lloq so that it is "
                        "treated as censored",
                    )
                )
            elif c_ng < SUSPECT_LOW_NG_PER_ML:
                warnings.append(
                    PlausibilityWarning(
                        "concentration_suspiciously_low",
                        where,
                        f"{where}: {shown} is below {SUSPECT_LOW_NG_PER_ML:g} ng/mL, the lowest "
                        "limit of quantification of published imatinib assays; check the unit "
                        f"(as ug/mL it would be {sample.concentration * 1000:g} ng/mL, as umol/L "
                        f"{convert_concentration(sample.concentration, 'umol/L', 'ng/mL'):.0f} "
                        "ng/mL; typical troughs are around 1000 ng/mL)",
                    )
                )
            elif c_ng > high_ng_per_ml:
                warnings.append(
                    PlausibilityWarning(
                        "concentration_suspiciously_high",
                        where,
                        f"{where}: {shown} is {c_ng:.0f} ng/mL, more than {SUSPECT_HIGH_FACTOR:g} "
                        f"times the highest published mean trough "
                        f"({HIGHEST_GROUP_MEAN_TROUGH_NG_PER_ML:g} ng/mL at 800 mg/day); check the "
                        "unit (was it ng/mL or nmol/L?)",
                    )
                )
        daily = _max_amount_in_24_h(self.dose_events())
        if daily is not None and daily[1] > LABELLED_MAX_DAILY_DOSE_MG:
            start_h, total_mg = daily
            warnings.append(
                PlausibilityWarning(
                    "daily_dose_above_label",
                    "doses",
                    f"doses: {total_mg:g} mg are given within 24 h from {start_h:g} h after the "
                    f"first dose, above the highest labelled dose of "
                    f"{LABELLED_MAX_DAILY_DOSE_MG:g} mg/day; check for overlapping dose entries",
                )
            )
        return tuple(warnings)

    # -- change ------------------------------------------------------------------------------

    def replace(self, **changes: Any) -> Case:
        """A new case with some top-level fields replaced, validated again.

        Parameters
        ----------
        **changes
            Top-level fields (``patient``, ``doses``, ``samples`` ...) as models or plain data.

        Raises
        ------
        CaseError
            The changed case is invalid.
        """
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise CaseError(f"unknown case field(s): {', '.join(sorted(unknown))}")
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return parse_case(data)


# --- Consistency checks (across fields) ---------------------------------------------------------


def _hours_between(origin: datetime | float, time: datetime | float) -> float:
    if isinstance(origin, datetime) and isinstance(time, datetime):
        if origin.tzinfo is not None and time.tzinfo is not None:
            # In UTC: subtracting datetimes sharing one tzinfo object would give wall-clock time.
            return (time.astimezone(UTC) - origin.astimezone(UTC)).total_seconds() / 3600.0
        return (time - origin).total_seconds() / 3600.0
    if isinstance(origin, datetime) or isinstance(time, datetime):
        raise CaseError("cannot compare a date-time with a number of hours")
    return float(time) - float(origin)


def _show(time: datetime | float) -> str:
    if isinstance(time, datetime):
        return time.isoformat(sep=" ", timespec="minutes")
    return f"{time:g} h"


def _times(case: Case) -> Iterator[tuple[_Loc, datetime | float]]:
    for i, dose in enumerate(case.doses):
        yield ("doses", i, "time"), dose.time
    for i, missed in enumerate(case.missed_doses):
        yield ("missed_doses", i), missed
    for i, sample in enumerate(case.samples):
        yield ("samples", i, "time"), sample.time
    for i, comedication in enumerate(case.comedications):
        if comedication.start is not None:
            yield ("comedications", i, "start"), comedication.start
        if comedication.stop is not None:
            yield ("comedications", i, "stop"), comedication.stop


def _kind(time: datetime | float) -> str:
    if not isinstance(time, datetime):
        return "a number of hours since the first dose"
    if time.tzinfo is None:
        return "a date-time without UTC offset (local clock time)"
    return "a date-time with UTC offset"


def _expand(case: Case) -> list[tuple[int, float, float]]:
    """(dose entry index, hours since first dose, amount mg) of every scheduled administration."""
    events: list[tuple[int, float, float]] = []
    origin = case.time_origin
    for index, dose in enumerate(case.doses):
        start_h = _hours_between(origin, dose.time)
        interval_h = dose.interval_h or 0.0
        for k in range(dose.n_administrations):
            events.append((index, start_h + k * interval_h, dose.amount_mg))
    return events


def _administrations(case: Case) -> tuple[list[tuple[int, float, float, bool]], list[int]]:
    """Scheduled administrations sorted by time as (entry, hours, mg, missed), and the indices of
    ``missed_doses`` that match no administration.

    Each missed time cancels one administration at that time, preferring a repeated entry over a
    single dose (a single dose written next to a regimen is a dose that was taken), then the
    first-listed entry.
    """
    events = [[i, t, a, False] for i, t, a in sorted(_expand(case), key=lambda e: (e[1], e[0]))]
    times = [float(event[1]) for event in events]
    unmatched: list[int] = []
    for index, missed in enumerate(case.missed_doses):
        t = case.hours_since_first_dose(missed)
        lo = bisect.bisect_left(times, t - _SAME_TIME_TOLERANCE_H)
        hi = bisect.bisect_right(times, t + _SAME_TIME_TOLERANCE_H)
        candidates = [k for k in range(lo, hi) if not events[k][3]]
        if not candidates:
            unmatched.append(index)
            continue
        best = min(candidates, key=lambda k: (case.doses[int(events[k][0])].count is None, k))
        events[best][3] = True
    return [(int(i), float(t), float(a), bool(m)) for i, t, a, m in events], unmatched


def _consistency_problems(case: Case) -> list[tuple[_Loc, str]]:
    problems: list[tuple[_Loc, str]] = []
    # 1. one kind of time per case
    first_loc, first_time = ("doses", 0, "time"), case.doses[0].time
    for loc, time in _times(case):
        if _kind(time) != _kind(first_time):
            problems.append(
                (
                    loc,
                    f"{_show(time)} is {_kind(time)}, but {_path(first_loc)} is "
                    f"{_kind(first_time)}; all times of a case must be of one kind (all "
                    "date-times with offset, all without, or all hours since the first dose)",
                )
            )
    if problems:
        return problems
    origin = case.time_origin
    # 2. missed doses must be scheduled administrations, listed once
    administrations, unmatched = _administrations(case)
    scheduled = [t for _, t, _, _ in administrations]
    seen_missed: set[int] = set()
    for index, missed in enumerate(case.missed_doses):
        t = _hours_between(origin, missed)
        second = round(t * 3600.0)  # compare at one-second resolution
        if second in seen_missed:
            problems.append((("missed_doses", index), f"{_show(missed)} is listed twice"))
            continue
        seen_missed.add(second)
        if index in unmatched:
            nearest = min(scheduled, key=lambda s: abs(s - t))
            problems.append(
                (
                    ("missed_doses", index),
                    f"{_show(missed)} matches no scheduled administration (nearest: "
                    f"{_show(_time_at(case, origin, nearest))}); a missed dose must be one of the "
                    "administrations of the dose entries",
                )
            )
    # 3. overlapping dose entries: two administrations taken at the same moment ...
    taken = [(i, t) for i, t, _, missed in administrations if not missed]
    reported: set[tuple[int, int]] = set()
    for (i, t_i), (j, t_j) in itertools.pairwise(taken):
        if t_j - t_i < _SAME_TIME_TOLERANCE_H and (min(i, j), max(i, j)) not in reported:
            reported.add((min(i, j), max(i, j)))
            first, second = min(i, j), max(i, j)
            problems.append(
                (
                    ("doses", second),
                    f"doses[{second}] and doses[{first}] both schedule an administration at "
                    f"{_show(_time_at(case, origin, t_j))}; overlapping dose entries (end the "
                    "first regimen with its count before the next one starts)",
                )
            )
    # ... or two regimens with different intervals running at the same time
    for i, a in enumerate(case.doses):
        for j in range(i + 1, len(case.doses)):
            b = case.doses[j]
            if a.count is None or b.count is None or a.interval_h == b.interval_h:
                continue  # same interval, different clock time: an interleaved schedule
            a0, b0 = _hours_between(origin, a.time), _hours_between(origin, b.time)
            a1 = a0 + (a.count - 1) * (a.interval_h or 0.0)
            b1 = b0 + (b.count - 1) * (b.interval_h or 0.0)
            if a0 <= b1 and b0 <= a1 and (min(i, j), max(i, j)) not in reported:
                reported.add((i, j))
                problems.append(
                    (
                        ("doses", j),
                        f"doses[{j}] (every {b.interval_h:g} h from {_show(b.time)}) overlaps "
                        f"doses[{i}] (every {a.interval_h:g} h from {_show(a.time)}); a regimen "
                        "change must start after the previous regimen's last administration "
                        "(shorten its count)",
                    )
                )
    # 4. samples after the first dose, unique ids
    seen_ids: dict[str, int] = {}
    for index, sample in enumerate(case.samples):
        if _hours_between(origin, sample.time) < 0:
            problems.append(
                (
                    ("samples", index, "time"),
                    f"{_show(sample.time)} is before the first recorded dose "
                    f"({_show(origin)}); check the dose history or the sample time",
                )
            )
        if sample.id is not None:
            if sample.id in seen_ids:
                problems.append(
                    (
                        ("samples", index, "id"),
                        f"sample id {sample.id!r} is also used by samples[{seen_ids[sample.id]}]",
                    )
                )
            seen_ids.setdefault(sample.id, index)
    # 5. co-medication periods
    for index, comedication in enumerate(case.comedications):
        start, stop = comedication.start, comedication.stop
        if start is not None and stop is not None and _hours_between(start, stop) < 0:
            problems.append(
                (
                    ("comedications", index, "stop"),
                    f"{comedication.name} stopped ({_show(stop)}) before it started "
                    f"({_show(start)})",
                )
            )
    return problems


def _time_at(case: Case, origin: datetime | float, hours: float) -> datetime | float:
    if isinstance(origin, datetime):
        return origin + timedelta(hours=hours)
    return origin + hours


def _max_amount_in_24_h(events: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(window start h, total mg) of the 24 h window [t, t + 24 h) with the largest total."""
    if not events:
        return None
    best: tuple[float, float] = (events[0][0], 0.0)
    total, left = 0.0, 0
    for t_right, amount in events:
        total += amount
        while events[left][0] <= t_right - 24.0:
            total -= events[left][1]
            left += 1
        if total > best[1]:
            best = (events[left][0], total)
    return best


# --- Validation messages ------------------------------------------------------------------------

_UNIT_SUFFIXES = (
    ("_ml_per_min_per_1_73m2", "mL/min/1.73 m²"),
    ("_ml_per_min", "mL/min"),
    ("_10e9_per_l", "×10⁹/L"),
    ("_10e12_per_l", "×10¹²/L"),
    ("_g_per_dl", "g/dL"),
    ("_g_per_l", "g/L"),
    ("_years", "years"),
    ("_pct", "%"),
    ("_cm3", "cm³"),
    ("_kg", "kg"),
    ("_cm", "cm"),
    ("_mg", "mg"),
    ("_h", "h"),
)
_BOUND_WORDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}


def _path(loc: _Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "(case)"


def _known_field_names() -> list[str]:
    names: set[str] = set()
    for model in (Case, Patient, Covariates, Dose, Sample, Comedication):
        names.update(model.model_fields)
    return sorted(names)


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    name = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = _known_field_names()
        # a name without its unit suffix ("agp", "weight") first, then a likely typo
        hint = [k for k in known if k.startswith(name.lower() + "_")][:1] or (
            difflib.get_close_matches(name, known, n=1)
        )
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown field {name!r} (not part of the case-file format){suggestion}"
    if kind in _BOUND_WORDS:
        unit = next((u for suffix, u in _UNIT_SUFFIXES if name.endswith(suffix)), "")
        limit = next(iter(ctx.values()), "?")
        limit = f"{limit:g}" if isinstance(limit, int | float) else limit
        shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
        unit_text = f" {unit}" if unit else ""
        return (
            f"{shown}{unit_text} is out of range: must be {_BOUND_WORDS[kind]} {limit}{unit_text}"
        )
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
        return f"must be a number, got {value!r}"
    if kind == "int_from_float":
        return f"must be a whole number, got {value!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {value!r}"
    if kind in ("string_type",):
        return f"must be text, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields (key: value), got {value!r}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, got {value!r}"
    if kind == "too_short" and name == "doses":
        return "at least one dose entry is required"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        cause = ctx.get("error")
        return cause.message if isinstance(cause, CaseError) else str(cause)
    return str(error["msg"])


def _problems(error: ValidationError) -> list[tuple[_Loc, str]]:
    problems: list[tuple[_Loc, str]] = []
    errors = error.errors()
    for item in errors:
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(item["loc"]) and other["loc"][: len(item["loc"])] == item["loc"]
            for other in errors
        ):
            continue  # pydantic also reports the list as too short when its items are invalid
        loc: _Loc = tuple(
            part
            for part in item["loc"]
            if isinstance(part, int) or ("[" not in part and part not in ("float", "datetime"))
        )
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, CaseError) and "problems" in cause.fields:
            # cross-field problems found by Case._check_consistency, each with its own path
            for problem in cause.fields["problems"]:
                problems.append(((*loc, *problem["loc"]), problem["message"]))
            continue
        problems.append((loc, _describe(item)))
    return problems


def format_validation_error(error: ValidationError, *, source: str | None = None) -> str:
    """Render a pydantic ``ValidationError`` as lines ``field.path: message``, one per problem.

    Parameters
    ----------
    error : pydantic.ValidationError
        Raised while validating a case.
    source : str, optional
        File name to put in the heading.

    Returns
    -------
    str
        A heading and one line per problem, e.g.
        ``"  - patient.age_years: 150 years is out of range: must be at most 120 years"``.
    """
    return _render(_problems(error), source=source)


def _render(
    problems: list[tuple[_Loc, str]],
    *,
    source: str | None,
    lines: Mapping[_Loc, int] | None = None,
) -> str:
    where = f"{source}: " if source else ""
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    rendered = []
    for loc, message in problems:
        line = (lines or {}).get(loc)
        at = f" (line {line})" if line is not None else ""
        rendered.append(f"  - {_path(loc)}{at}: {message}")
    return f"{where}the case has {count}:\n" + "\n".join(rendered)


# --- Parsing and loading ------------------------------------------------------------------------


def parse_case(data: Mapping[str, Any], *, source: str | None = None) -> Case:
    """Validate a case given as plain data (as read from YAML or JSON).

    Parameters
    ----------
    data : mapping
        The case (keys ``patient``, ``covariates``, ``doses``, ``samples`` ...).
    source : str, optional
        Where the data came from, for messages.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        Every problem found, one per line as ``field.path: message``; ``field`` is the first
        problem's path and ``fields["problems"]`` lists all of them.

    Examples
    --------
    >>> case = parse_case({
    ...     "patient": {"id": "p1", "indication": "cml"},
    ...     "doses": [{"time": 0, "amount_mg": 400, "interval_h": 24, "count": 30}],
    ...     "samples": [{"time": 719, "concentration": 1.1, "unit": "mg/L"}],
    ... })
    >>> case.concentrations_ng_per_ml()
    array([1100.])
    """
    return _parse(data, source=source, lines=None)


def _parse(data: Any, *, source: str | None, lines: Mapping[_Loc, int] | None) -> Case:
    where = f"{source}: " if source else ""
    if data is None:
        raise CaseError(f"{where}the case is empty", field=None, source=source)
    if not isinstance(data, Mapping):
        raise CaseError(
            f"{where}a case must be a mapping with patient, doses and samples, "
            f"got {type(data).__name__}",
            field=None,
        )
    try:
        return Case.model_validate(data)
    except ValidationError as error:
        problems = _problems(error)
        raise CaseError(
            _render(problems, source=source, lines=lines),
            field=_path(problems[0][0]) if problems else None,
            problems=[{"field": _path(loc), "message": message} for loc, message in problems],
            source=source,
        ) from error


class _CaseYamlLoader(yaml.SafeLoader):
    """Safe loader that leaves date-times as text, so that one parser reads every time."""


_CaseYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_lines(node: yaml.Node | None) -> dict[_Loc, int]:
    """1-based line of every path in a composed YAML document."""
    lines: dict[_Loc, int] = {}

    def walk(current: yaml.Node, loc: _Loc) -> None:
        lines[loc] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[(*loc, key.value)] = key.start_mark.line + 1
                    walk(value, (*loc, key.value))
                    lines[(*loc, key.value)] = key.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*loc, index))

    if node is not None:
        walk(node, ())
    return lines


def _read_yaml(text: str, source: str) -> tuple[Any, dict[_Loc, int]]:
    loader = _CaseYamlLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise CaseError(
            f"{source}:{at}: YAML syntax error: {problem}", field=None, source=source
        ) from None
    finally:
        loader.dispose()
    return data, _node_lines(node)


def load_case(path: str | Path) -> Case:
    """Read and validate a case file (``.yaml``, ``.yml`` or ``.json``).

    Parameters
    ----------
    path : str or pathlib.Path
        The case file.

    Returns
    -------
    Case

    Raises
    ------
    CaseError
        The file is missing or unreadable, has a syntax error (message with file name and line),
        or describes an invalid case (every problem listed with its field and line).
    """
    file = Path(path)
    source = str(file)
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise CaseError(
            f"{source}: unsupported case-file type {file.suffix!r}; use .yaml, .yml or .json",
            source=source,
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{source}: case file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CaseError(f"{source}: cannot read the case file ({error})", source=source) from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CaseError(
                f"{source}: line {error.lineno}, column {error.colno}: JSON syntax error: "
                f"{error.msg}",
                source=source,
            ) from None
        try:  # JSON is YAML: reuse the YAML composer for line numbers (best effort)
            _, lines = _read_yaml(text, source)
        except CaseError:
            lines = {}
    else:
        data, lines = _read_yaml(text, source)
    return _parse(data, source=source, lines=lines)


_DEMO_NAME = re.compile(r"[A-Za-z0-9_-]+")


def demo_case_names() -> tuple[str, ...]:
    """Names of the demo cases shipped with the package (e.g. ``"demo-001"``)."""
    folder = resources.files("imatinib_tdm") / "data" / "demo"
    return tuple(
        sorted(
            item.name[: -len(".yaml")] for item in folder.iterdir() if item.name.endswith(".yaml")
        )
    )


def load_demo_case(name: str = "demo-001") -> Case:
    """Load a demo case shipped with the package (``imatinib_tdm/data/demo/<name>.yaml``).

    Parameters
    ----------
    name : str, default="demo-001"
        Demo case name; see :func:`demo_case_names`.

    Raises
    ------
    CaseError
        No demo case with that name.

    Examples
    --------
    >>> load_demo_case().patient.id
    'demo-001'
    """
    if not _DEMO_NAME.fullmatch(name) or name not in demo_case_names():
        raise CaseError(
            f"no demo case named {name!r}; available: {', '.join(demo_case_names())}",
            field=None,
        )
    resource = resources.files("imatinib_tdm") / "data" / "demo" / f"{name}.yaml"
    with resources.as_file(resource) as file:
        return load_case(file)


def case_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the case file, generated from the pydantic models.

    The committed ``schemas/case.schema.json`` must equal this (a test checks it).

    Returns
    -------
    dict
        The schema, JSON-serialisable.
    """
    schema = Case.model_json_schema(mode="validation")
    # a bare name stands for {name: ...} (validated by _comedication_from_text)
    comedications = schema["properties"]["comedications"]
    comedications["items"] = {"anyOf": [{"type": "string", "minLength": 1}, comedications["items"]]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://imatinib-tdm.invalid/schemas/case.schema.json",
        **schema,
        "title": "imatinib-tdm case file",
    }
