"""The pydantic models of a case file: Patient, Covariates, Dose, Sample, Comedication, Case.

Frozen models with tolerant field parsing (case-insensitive choices, numbers that must not be
booleans, identifiers that must be quoted text) and hard plausibility limits
(:mod:`imatinib_tdm.case._limits`). Cross-field checks and plausibility warnings are in
:mod:`imatinib_tdm.case._consistency`; loading and error messages in
:mod:`imatinib_tdm.case._loading`.
"""

from __future__ import annotations

import enum
import math
import re
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from imatinib_tdm.case._consistency import (
    PlausibilityWarning,
    _administrations,
    _consistency_problems,
    _path,
    _plausibility_warnings,
)
from imatinib_tdm.case._limits import (
    LABELLED_MAX_DAILY_DOSE_MG,
    MAX_ADMINISTRATIONS,
    MAX_COMEDICATIONS,
    MAX_CONCENTRATION_NG_PER_ML,
    MAX_COUNT,
    MAX_DOSE_ENTRIES,
    MAX_GENOTYPES,
    MAX_INTERVAL_H,
    MAX_LABEL_CHARS,
    MAX_LLOQ_NG_PER_ML,
    MAX_MISSED_DOSES,
    MAX_NOTES_CHARS,
    MAX_SAMPLES,
    MAX_SINGLE_ADMINISTRATION_MG,
    MAX_TEXT_CHARS,
    MIN_INTERVAL_H,
    MIN_LLOQ_NG_PER_ML,
    MIN_SINGLE_ADMINISTRATION_MG,
)
from imatinib_tdm.case._times import CaseTime, _hours_between
from imatinib_tdm.errors import CaseError, UnitError
from imatinib_tdm.units import (
    ConcentrationUnit,
    accepted_unit_spellings,
    convert_concentration,
    parse_concentration_unit,
)

__all__ = [
    "Case",
    "Comedication",
    "Covariates",
    "Dose",
    "Indication",
    "Patient",
    "Sample",
    "SampleMatrix",
    "Sex",
]


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


class MetastaticSite(enum.StrEnum):
    """Site of metastases (advanced GIST), a feature of the ML triage (Ran 2024 selected
    "metastatic site"; its category coding is not public, these categories are this package's)."""

    NONE = "none"
    LIVER = "liver"
    PERITONEUM = "peritoneum"
    LIVER_AND_PERITONEUM = "liver_and_peritoneum"
    OTHER = "other"


def _optional_choice(enum_type: type[enum.StrEnum], what: str) -> Any:
    parse = _choice(enum_type, what)
    return lambda value: None if value is None else parse(value)


class SampleMatrix(enum.StrEnum):
    """Biological matrix in which the concentration was measured."""

    PLASMA = "plasma"
    SERUM = "serum"
    DRIED_BLOOD_SPOT = "dried_blood_spot"


# --- Field types with tolerant parsing ----------------------------------------------------------


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # YAML "yes"/"true" must not become 1.0
        raise ValueError(f"expected a number, got {value!r}")
    return value


_Number = Annotated[float, BeforeValidator(_number)]

# C0 control characters other than tab, line feed and carriage return, DEL, and the surrogate
# code points: NUL breaks PostgreSQL text, a lone surrogate cannot be encoded as UTF-8 (it failed
# at storage or at the JSON answer, with the value in the traceback).
# Also the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they
# make a screen show text in another order than it is stored ("Trojan Source", CVE-2021-42574),
# so a label or a co-medication could read as something else in a list. The marks LRM/RLM/ALM
# that right-to-left text may need stay allowed.
_FORBIDDEN_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)


def plain_text(value: str) -> str:
    """``value`` unchanged, or ValueError when it holds a control character (other than tab and
    line breaks), a lone surrogate or a bidirectional embedding, override or isolate; the
    message gives the position and code point, never the text (it may be patient data). A
    pydantic ``AfterValidator`` of every text field of a case and of a request."""
    found = _FORBIDDEN_TEXT.search(value)
    if found is not None:
        code = ord(found.group())
        if 0xD800 <= code <= 0xDFFF:
            kind = "a lone surrogate"
        elif code >= 0x202A:
            kind = "a bidirectional control (it changes the order the text is shown in)"
        else:
            kind = "a control character"
        # the position and code point only: never the text itself (it may be patient data)
        raise ValueError(
            f"contains {kind} (U+{code:04X} at position {found.start()}); use plain text"
        )
    return value


# Text of at most N characters without control characters or surrogates (explicit aliases, so
# that mypy sees types)
_Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS), AfterValidator(plain_text)]
_Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS), AfterValidator(plain_text)]
_Notes = Annotated[str, Field(max_length=MAX_NOTES_CHARS), AfterValidator(plain_text)]


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

    id: Annotated[_Label, BeforeValidator(_text_id)] = Field(
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
    diagnosis: _Text | None = Field(
        default=None, description="free-text diagnosis, e.g. 'Ph+ ALL' (for indication other)"
    )
    gastrectomy: bool | None = Field(
        default=None, description="prior (partial) gastrectomy; null when not known"
    )
    metastatic_site: Annotated[
        MetastaticSite | None,
        BeforeValidator(_optional_choice(MetastaticSite, "metastatic_site")),
    ] = Field(
        default=None,
        description="metastases (advanced GIST): none, liver, peritoneum, liver_and_peritoneum, "
        "other; null when not known (used by the ML triage)",
    )
    genotypes: dict[_Label, _Label] = Field(
        default_factory=dict,
        max_length=MAX_GENOTYPES,
        description="genotype results, gene or variant -> result (pharmacogenes or tumour "
        "mutations), e.g. "
        "{'SLC22A1 rs683369': 'CG'}",
    )


class Covariates(_Frozen):
    """Laboratory and disease covariates, all optional; give the values nearest to the samples.

    A model that needs a value that is missing raises ``MissingCovariateError`` later, listing all
    of them; nothing is ever filled in with a default.
    """

    wbc_10e9_per_l: _Number | None = Field(
        None, gt=0, le=1000, description="white blood cells, 10^9/L"
    )
    hemoglobin_g_per_dl: _Number | None = Field(None, ge=1, le=30, description="haemoglobin, g/dL")
    albumin_g_per_l: _Number | None = Field(None, ge=5, le=100, description="serum albumin, g/L")
    agp_g_per_l: _Number | None = Field(
        None, ge=0.05, le=20, description="alpha1-acid glycoprotein, g/L"
    )
    rbc_10e12_per_l: _Number | None = Field(
        None, ge=0.3, le=15, description="red blood cells, 10^12/L"
    )
    plt_10e9_per_l: _Number | None = Field(None, gt=0, le=10000, description="platelets, 10^9/L")
    neutrophils_pct: _Number | None = Field(
        None, ge=0, le=100, description="neutrophils, % of white blood cells"
    )
    neutrophils_10e9_per_l: _Number | None = Field(
        None, ge=0, le=1000, description="absolute neutrophil (granulocyte) count, 10^9/L"
    )
    egfr_ml_per_min_per_1_73m2: _Number | None = Field(
        None, ge=1, le=300, description="estimated glomerular filtration rate, mL/min/1.73 m^2"
    )
    crcl_ml_per_min: _Number | None = Field(
        None, ge=1, le=400, description="creatinine clearance (e.g. Cockcroft-Gault), mL/min"
    )
    liver_metastasis_volume_cm3: _Number | None = Field(
        None, ge=0, le=10000, description="total volume of liver metastases, cm^3 (0 = none)"
    )


class Dose(_Frozen):
    """One dose entry: a single administration, or ``count`` administrations every ``interval_h``.

    ``interval_h`` and ``count`` go together; an entry without them is a single dose.
    """

    time: CaseTime = Field(description="time of the (first) administration")
    amount_mg: _Number = Field(
        ge=MIN_SINGLE_ADMINISTRATION_MG,
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

    id: Annotated[_Label, BeforeValidator(_text_id)] | None = Field(
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
    assay: _Text | None = Field(default=None, description="analytical method, e.g. LC-MS/MS")
    matrix: Annotated[SampleMatrix, BeforeValidator(_choice(SampleMatrix, "matrix"))] | None = (
        Field(default=None, description="plasma, serum or dried_blood_spot")
    )

    @model_validator(mode="after")
    def _plausible_concentration(self) -> Sample:
        # bounded after conversion, so that every unit has the same physical limits
        problems = []
        in_ng_per_ml = convert_concentration(self.concentration, self.unit, "ng/mL")
        if in_ng_per_ml > MAX_CONCENTRATION_NG_PER_ML:
            message = (
                f"{self.concentration:g} {self.unit.value} is not a plausible imatinib "
                f"concentration (at most {MAX_CONCENTRATION_NG_PER_ML:g} ng/mL); check the "
                "value and its unit"
            )
            problems.append({"loc": ["concentration"], "message": message})
        if self.lloq is not None:
            lloq = convert_concentration(self.lloq, self.unit, "ng/mL")
            if not MIN_LLOQ_NG_PER_ML <= lloq <= MAX_LLOQ_NG_PER_ML:
                message = (
                    f"an LLOQ of {self.lloq:g} {self.unit.value} is out of range (from "
                    f"{MIN_LLOQ_NG_PER_ML:g} to {MAX_LLOQ_NG_PER_ML:g} ng/mL); check the value "
                    "and its unit"
                )
                problems.append({"loc": ["lloq"], "message": message})
        if problems:
            raise CaseError(str(problems[0]["message"]), problems=problems)
        return self

    @property
    def is_below_lloq(self) -> bool:
        """True when an LLOQ is given and the reported concentration is below it."""
        return self.lloq is not None and self.concentration < self.lloq


class Comedication(_Frozen):
    """A co-medication (name, optionally when it was started and stopped).

    In a case file a bare name (``- rifampicin``) stands for ``{name: rifampicin}``.
    """

    name: _Label = Field(min_length=1, description="drug name (INN), e.g. rifampicin")
    start: CaseTime | None = Field(default=None, description="when it was started")
    stop: CaseTime | None = Field(default=None, description="when it was stopped")


_ComedicationEntry = Annotated[Comedication, BeforeValidator(_comedication_from_text)]


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
    doses: tuple[Dose, ...] = Field(
        min_length=1, max_length=MAX_DOSE_ENTRIES, description="the dose history"
    )
    missed_doses: tuple[CaseTime, ...] = Field(
        default=(),
        max_length=MAX_MISSED_DOSES,
        description="times of scheduled administrations that were not taken",
    )
    samples: tuple[Sample, ...] = Field(
        default=(), max_length=MAX_SAMPLES, description="blood samples"
    )
    comedications: tuple[_ComedicationEntry, ...] = Field(
        default=(),
        max_length=MAX_COMEDICATIONS,
        description="co-medications: names, or {name, start, stop}",
    )
    notes: _Notes | None = Field(default=None, description="free-text remarks")

    @field_validator("doses")
    @classmethod
    def _bounded_administrations(cls, doses: tuple[Dose, ...]) -> tuple[Dose, ...]:
        # before the cross-field checks, which expand every entry
        total = sum(dose.n_administrations for dose in doses)
        if total > MAX_ADMINISTRATIONS:
            raise ValueError(
                f"the dose entries expand to {total} administrations; at most "
                f"{MAX_ADMINISTRATIONS} are accepted (68 years of twice-daily dosing): check "
                "the counts"
            )
        return doses

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

    @cached_property
    def time_origin(self) -> datetime | float:
        """Time of the first dose (t = 0 h): a date-time, or hours as written in the case."""
        # cached: every time conversion needs it, and finding it walks all dose entries (the
        # engine converts about as many times as there are entries: quadratic without the cache)
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
        """Values that are accepted but look wrong; thresholds in :mod:`imatinib_tdm.case._limits`.

        Checks: a quantified concentration below 10 ng/mL (lowest LLOQ of published imatinib
        assays) or above 10 x 3844 ng/mL (ten times the highest published group-mean trough) once
        converted to ng/mL, which suggests a wrong unit; a concentration of 0 without an LLOQ; more
        than 800 mg (the highest labelled daily dose) within any 24 h.

        Returns
        -------
        tuple of PlausibilityWarning
            Empty when nothing looks odd.
        """
        return _plausibility_warnings(self)

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
        # deferred: _loading imports this module (parse_case formats errors with these models)
        from imatinib_tdm.case._loading import parse_case

        return parse_case(data)
