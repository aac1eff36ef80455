"""The episode form <-> the case-file data: flat form fields named by their case path.

Every input is named by the path of the case field it fills (``doses[0].amount_mg``,
``samples[1].unit``, ``covariates.agp_g_per_l``), so a validation error of
:func:`imatinib_tdm.case.parse_case` lands next to the input it is about, and the form is
re-rendered with everything the user typed. Values are passed on as typed text: the case model
parses numbers and date-times and says what is wrong with them. Empty rows are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from imatinib_tdm.case import Covariates, MetastaticSite
from imatinib_tdm.errors import CaseError

__all__ = [
    "LAB_FIELDS",
    "METASTATIC_SITE_CHOICES",
    "N_COMEDICATION_ROWS",
    "N_DOSE_ROWS",
    "N_SAMPLE_ROWS",
    "UNIT_CHOICES",
    "case_to_values",
    "errors_by_field",
    "row_counts",
    "values_to_case",
]

# Rows shown for an empty form; a case with more entries shows them all plus one empty row,
# and the form's "More rows" button adds MORE_ROWS empty rows to each group (nothing typed is
# lost: the form reads every row it is sent, whatever its number).
N_DOSE_ROWS = 4
N_SAMPLE_ROWS = 3
N_COMEDICATION_ROWS = 4
MORE_ROWS = 3
MAX_ROWS = 500
"""Rows per group the form accepts (a bound on what one submission makes the server parse)."""
_DEFAULT_ROWS = {
    "doses": N_DOSE_ROWS,
    "samples": N_SAMPLE_ROWS,
    "comedications": N_COMEDICATION_ROWS,
}
UNIT_CHOICES = [
    ("ng/mL", "ng/mL"),
    ("µg/mL", "µg/mL"),
    ("mg/L", "mg/L"),
    ("µmol/L", "µmol/L"),
    ("nmol/L", "nmol/L"),
]
_DOSE_KEYS = ("time", "amount_mg", "interval_h", "count")
_SAMPLE_KEYS = ("id", "time", "concentration", "unit", "lloq", "assay")
_PATIENT_KEYS = ("age_years", "weight_kg", "height_cm")
_ROW_PATH = re.compile(r"^(doses|samples|comedications)\[(\d+)\](.*)$")


def _lab_label(name: str) -> str:
    description = Covariates.model_fields[name].description or name
    return description[0].upper() + description[1:]


METASTATIC_SITE_CHOICES = [("", "not known")] + [
    (site.value, site.value.replace("_", " and ")) for site in MetastaticSite
]
LAB_FIELDS: list[tuple[str, str]] = [(name, _lab_label(name)) for name in Covariates.model_fields]


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _rows_per_group(names: Iterable[str]) -> dict[str, int]:
    """For each row group, one more than the highest row index among the field ``names``."""
    highest: dict[str, int] = {}
    for name in names:
        match = _ROW_PATH.match(name)
        if match:
            group, index = match.group(1), int(match.group(2))
            highest[group] = max(highest.get(group, 0), index + 1)
    return highest


def row_counts(values: Mapping[str, Any], *, more: bool = False) -> dict[str, int]:
    """Rows to show per group (``doses``, ``samples``, ``comedications``) for these values.

    Every row that holds a value is shown, then at least one empty row (the default count for
    an empty form); ``more`` adds :data:`MORE_ROWS` empty rows to each group.
    """
    filled = _rows_per_group(
        name
        for name, value in values.items()
        if isinstance(value, str) and value.strip() and not name.endswith(".unit")
    )
    counts = {}
    for group, default in _DEFAULT_ROWS.items():
        shown = max(default, filled.get(group, 0) + 1)
        counts[group] = min(MAX_ROWS, shown + (MORE_ROWS if more else 0))
    return counts


def _rows(
    form: Mapping[str, Any],
    prefix: str,
    keys: tuple[str, ...],
    n: int,
    *,
    needs: tuple[str, ...],
    rows_used: dict[str, list[int]],
) -> list[dict[str, str]]:
    rows = []
    used = rows_used.setdefault(prefix, [])
    for i in range(n):
        row = {k: _text(form, f"{prefix}[{i}].{k}") for k in keys}
        # a row counts once any field that defines it is filled (a unit select alone is not)
        if any(row[k] for k in needs):
            rows.append({k: v for k, v in row.items() if v})
            used.append(i)
    return rows


def values_to_case(
    form: Mapping[str, Any], *, patient_ref: str, sex: str, indication: str
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Case-file data from the form fields (text as typed; validation is the case model's).

    Parameters
    ----------
    form : mapping of str to str
        The submitted fields.
    patient_ref : str
        Pseudonymous id put in the case (the database id, never the MRN or a name).
    sex, indication : str
        From the patient record.

    Returns
    -------
    (dict, dict of str to list of int)
        The case data, and for each row group (``doses``, ``samples``, ``comedications``) the
        form row behind each case entry (empty rows are skipped), for :func:`errors_by_field`.
    """
    rows_used: dict[str, list[int]] = {}
    present = _rows_per_group(form)
    for group, count in present.items():
        if count > MAX_ROWS:
            raise CaseError(
                f"{group}: at most {MAX_ROWS} rows per form; use the JSON API for more",
                field=group,
            )
    patient: dict[str, Any] = {"id": patient_ref, "sex": sex, "indication": indication}
    for key in _PATIENT_KEYS:
        value = _text(form, f"patient.{key}")
        if value:
            patient[key] = value
    gastrectomy = _text(form, "patient.gastrectomy")
    if gastrectomy in ("yes", "no"):
        patient["gastrectomy"] = gastrectomy == "yes"
    site = _text(form, "patient.metastatic_site")
    if site:
        patient["metastatic_site"] = site
    covariates = {
        name: _text(form, f"covariates.{name}")
        for name, _ in LAB_FIELDS
        if _text(form, f"covariates.{name}")
    }
    data: dict[str, Any] = {
        "patient": patient,
        "covariates": covariates,
        "doses": _rows(
            form,
            "doses",
            _DOSE_KEYS,
            present.get("doses", 0),
            needs=("time", "amount_mg", "interval_h"),
            rows_used=rows_used,
        ),
        "samples": _rows(
            form,
            "samples",
            _SAMPLE_KEYS,
            present.get("samples", 0),
            needs=("time", "concentration"),
            rows_used=rows_used,
        ),
        "comedications": _rows(
            form,
            "comedications",
            ("name",),
            present.get("comedications", 0),
            needs=("name",),
            rows_used=rows_used,
        ),
    }
    missed = [t.strip() for t in _text(form, "missed_doses").split(",") if t.strip()]
    if missed:
        data["missed_doses"] = missed
    notes = _text(form, "notes")
    if notes:
        data["notes"] = notes
    return data, rows_used


def _form_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    # datetime-local inputs take "YYYY-MM-DDTHH:MM" (seconds optional, no offset)
    if len(text) >= 16 and text[10:11] == "T" and text[:4].isdigit():
        return text[:19] if text[16:19] not in ("", ":00") else text[:16]
    return text


def case_to_values(
    case_json: Mapping[str, Any], *, birth_date: date | None = None
) -> dict[str, str]:
    """Form fields filled from a stored case (for editing)."""
    values: dict[str, str] = {}
    patient = case_json.get("patient") or {}
    for key in (*_PATIENT_KEYS, "gastrectomy", "metastatic_site"):
        values[f"patient.{key}"] = _form_text(patient.get(key))
    for name, value in (case_json.get("covariates") or {}).items():
        values[f"covariates.{name}"] = _form_text(value)
    for i, dose in enumerate(case_json.get("doses") or []):
        for key in _DOSE_KEYS:
            values[f"doses[{i}].{key}"] = _form_text(dose.get(key))
    for i, sample in enumerate(case_json.get("samples") or []):
        for key in _SAMPLE_KEYS:
            values[f"samples[{i}].{key}"] = _form_text(sample.get(key))
    for i, comedication in enumerate(case_json.get("comedications") or []):
        name = comedication.get("name") if isinstance(comedication, dict) else comedication
        values[f"comedications[{i}].name"] = _form_text(name)
    values["missed_doses"] = ", ".join(_form_text(t) for t in case_json.get("missed_doses") or [])
    values["notes"] = _form_text(case_json.get("notes"))
    return values


def errors_by_field(
    error: CaseError, rows_used: Mapping[str, list[int]] | None = None
) -> dict[str, str]:
    """Messages keyed by form field name (the case path); ``""`` for the case as a whole.

    ``rows_used`` (from :func:`values_to_case`) maps case entries back to their form rows.
    """
    errors: dict[str, str] = {}
    problems = error.fields.get("problems")
    if isinstance(problems, list) and problems:
        for problem in problems:
            if not isinstance(problem, dict):
                continue
            field = problem.get("field")
            if field is None and "loc" in problem:
                field = _loc_path(problem["loc"])
            key = _form_name(str(field or ""), rows_used or {})
            errors.setdefault(key, str(problem.get("message", error.message)))
    else:
        key = _form_name(str(error.fields.get("field") or ""), rows_used or {})
        errors[key] = error.message
    return errors


def _form_name(path: str, rows_used: Mapping[str, list[int]]) -> str:
    if path == "(case)":
        return ""
    match = _ROW_PATH.match(path)
    if match is not None:
        group, index, rest = match.group(1), int(match.group(2)), match.group(3)
        rows = rows_used.get(group)
        if rows is not None and index < len(rows):
            return f"{group}[{rows[index]}]{rest}"
    return path


def _loc_path(loc: Any) -> str:
    path = ""
    for part in loc if isinstance(loc, list | tuple) else []:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
