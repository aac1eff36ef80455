"""The TDM interpretation report of one episode: self-contained HTML, and PDF through WeasyPrint.

One to two A4 pages: patient identifiers, the sample and dosing facts, the status against the
target and alert (with their sources), the trough estimate, the figure, the ranked findings, the
dose advice, the model, assumptions and warnings, the full references of every knowledge entry
cited, the validation block (DRAFT until a pharmacologist issues it) and the decision-support
notice. Every value from a case, a knowledge file or the caller is escaped by Jinja2's
autoescaping; the only markup inserted unescaped is the figure, which this package draws.

Imports tdm, pk and case public API; never store, service or the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from markupsafe import Markup

from imatinib_tdm.case import Case
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.report._html import DEVICE_NOTICE, _environment
from imatinib_tdm.report._interpretation_plot import plot_interpretation
from imatinib_tdm.report._pdf import html_to_pdf
from imatinib_tdm.report._report_inputs import ReportPatient, ReportValidation
from imatinib_tdm.tdm import (
    Interpretation,
    check_sampling,
    find_knowledge_reference,
)

__all__ = [
    "ReportPatient",
    "ReportValidation",
    "render_interpretation_html",
    "write_interpretation_report",
]

_HOURS_PER_DAY = 24.0
_STATUS_LABELS = {
    "below_lloq": "Below the limit of quantification",
    "subtherapeutic": "Below target",
    "on_target": "On target",
    "above_alert": "Above the alert threshold",
    "not_interpretable": "Not interpretable",
}


# --- formatting -------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}".replace(",", "\u2009")


def _sig(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.3g}" if math.isfinite(value) else "–"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100.0 * value:.0f}%"


def _clock(value: datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M")
    offset = value.strftime("%z")
    return text if not offset else f"{text} (UTC{offset[:3]}:{offset[3:]})"


def _at(case: Case, hours_since_first_dose: float) -> str:
    """A time on the case's own clock: date-time when the case uses them, else hours."""
    origin = case.time_origin
    if isinstance(origin, datetime):
        # the case's own wall clock: its offset is the same for every time of the case
        return (origin + timedelta(hours=hours_since_first_dose)).strftime("%Y-%m-%d %H:%M")
    return f"{hours_since_first_dose:g} h after the first dose"


# --- context pieces ---------------------------------------------------------------------------


def _patient(case: Case, patient: ReportPatient | None) -> dict[str, Any]:
    p = case.patient
    return {
        "name": None if patient is None else patient.display_name,
        "mrn": None if patient is None else patient.mrn,
        "birth_date": None
        if patient is None or patient.birth_date is None
        else patient.birth_date.isoformat(),
        "sex": (patient.sex if patient is not None and patient.sex else p.sex.value),
        "case_id": p.id,
        "indication": p.indication.value + (f" ({p.diagnosis})" if p.diagnosis else ""),
        "age": None if p.age_years is None else f"{p.age_years:g} years",
        "weight": None if p.weight_kg is None else f"{p.weight_kg:g} kg",
        "height": None if p.height_cm is None else f"{p.height_cm:g} cm",
        "comedications": [c.name for c in case.comedications],
    }


def _regimen(case: Case) -> str:
    last = max(case.doses, key=lambda d: case.hours_since_first_dose(d.time))
    if last.interval_h is None:
        return f"single dose of {last.amount_mg:g} mg (no regular regimen)"
    daily = last.amount_mg * _HOURS_PER_DAY / last.interval_h
    return f"{last.amount_mg:g} mg every {last.interval_h:g} h ({daily:g} mg/day)"


def _facts(case: Case) -> dict[str, Any]:
    """Sample and dosing facts of the latest sample, as the tdm sampling checks see them."""
    sampling = check_sampling(case)
    events = case.dose_events()
    facts: dict[str, Any] = {
        "regimen": _regimen(case),
        "therapy_start": _at(case, 0.0)
        if case.uses_clock_times
        else "the first dose (t = 0 h; times are hours since then)",
        "missed_doses": len(case.missed_doses),
        "n_samples": len(case.samples),
        "sample": None,
    }
    latest = sampling.latest
    if latest is None:
        last_time, last_amount = events[-1]
        facts["last_dose"] = f"{last_amount:g} mg at {_at(case, last_time)}"
        return facts
    sample = case.samples[latest.sample_index]
    if latest.last_dose_time_h is None or latest.last_dose_mg is None:
        facts["last_dose"] = "none before the sample"
    else:
        facts["last_dose"] = f"{latest.last_dose_mg:g} mg at {_at(case, latest.last_dose_time_h)}"
    unit = str(sample.unit)
    measured = f"{sample.concentration:g} {unit}"
    if unit != "ng/mL":
        measured += f" = {_num(latest.concentration_ng_per_ml)} ng/mL"
    if latest.is_below_lloq:
        measured += " (below the LLOQ)"
    window = (
        "no published trough window for this interval"
        if latest.window_lower_h is None or latest.window_upper_h is None
        else f"trough window {latest.window_lower_h:g}–{latest.window_upper_h:g} h "
        f"({latest.trough_window_id})"
    )
    lloq_origin = (
        "laboratory's value"
        if latest.lloq_origin.value == "sample"
        else f"knowledge-base default {latest.lloq_source_id or ''}".strip()
    )
    facts["sample"] = {
        "label": latest.sample_label,
        "time": _at(case, latest.sample_time_h),
        "time_after_dose": "–"
        if latest.time_since_last_dose_h is None
        else f"{latest.time_since_last_dose_h:.1f} h",
        "window": window,
        "is_trough": latest.is_trough,
        "measured": measured,
        "lloq": f"{_num(latest.lloq_ng_per_ml)} ng/mL ({lloq_origin})",
        "assay": latest.assay or "not stated",
        "matrix": latest.matrix or "not stated",
        "days_on_therapy": f"{latest.days_on_therapy:.0f}",
        "steady_state": "yes" if latest.is_steady_state else "no",
    }
    return facts


def _threshold(
    threshold_id: str | None, value: float | None, cites: Mapping[str, str]
) -> dict[str, Any] | None:
    if threshold_id is None or value is None:
        return None
    return {"id": threshold_id, "value": _num(value), "cite": cites.get(threshold_id, "")}


def _trough(interpretation: Interpretation) -> dict[str, Any] | None:
    trough = interpretation.trough_ng_per_ml
    if trough is None:
        return None
    regimen = (
        f"{trough['dose_mg']:g} mg every {trough['interval_h']:g} h"
        if trough.get("dose_mg") is not None and trough.get("interval_h") is not None
        else None
    )
    return {
        "value": _num(trough.get("value")),
        "interval": f"{_num(trough.get('lower'))}–{_num(trough.get('upper'))}",
        "method": str(trough.get("method", "")),
        "regimen": regimen,
    }


def _evidence(evidence: Mapping[str, Any], explained_frac: float | None) -> list[str]:
    items = [f"{key} {_sig(value)}" for key, value in evidence.items()]
    if explained_frac is not None:
        items.append(f"explained_frac {_sig(explained_frac)}")
    return items


def _findings(interpretation: Interpretation, cites: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "severity": str(f["severity"]),
            "category": str(f["category"]).replace("_", " "),
            "code": str(f["code"]),
            "message": str(f["message"]),
            "evidence": _evidence(f.get("evidence") or {}, f.get("explained_frac")),
            "recommendation": f.get("recommendation") or "",
            "references": [
                {"id": str(r), "cite": cites.get(str(r), "")} for r in f.get("references") or ()
            ],
            "sample_id": f.get("sample_id"),
        }
        for f in interpretation.findings
    ]


_ADVICE_HEADINGS = {
    "recommended": "Suggested regimen",
    "continue": "Continue the current regimen",
    "no_regimen_qualifies": "No regimen meets the decision rule; closest",
}


def _advice(interpretation: Interpretation) -> dict[str, Any]:
    """The dose advice as the interpretation states it (keys read defensively: no invention)."""
    rec = interpretation.recommendation
    if rec is None or rec.get("dose_mg") is None or rec.get("interval_h") is None:
        if rec is not None and rec.get("reason"):
            why = str(rec["reason"])
        elif interpretation.status_reason:
            why = interpretation.status_reason
        else:
            why = "no candidate regimen could be evaluated"
        # the tdm reason may already start with "No dose advice"; the template says it once
        for prefix in ("No dose advice:", "No dose advice"):
            if why.startswith(prefix):
                why = why[len(prefix) :].strip()
                break
        return {"available": False, "why": why.rstrip(".")}
    status = str(rec.get("status", ""))
    lower = rec.get("predicted_trough_lower_ng_per_ml")
    upper = rec.get("predicted_trough_upper_ng_per_ml")
    dose_mg, interval_h = float(rec["dose_mg"]), float(rec["interval_h"])
    daily_mg = dose_mg * _HOURS_PER_DAY / interval_h
    return {
        "available": True,
        "heading": _ADVICE_HEADINGS.get(status, status.replace("_", " ").capitalize()),
        "regimen": f"{dose_mg:g} mg every {interval_h:g} h ({daily_mg:g} mg/day)",
        "basis": rec.get("basis"),
        "trough": _num(rec.get("predicted_trough_ng_per_ml")),
        "trough_interval": None
        if lower is None or upper is None
        else f"{_num(lower)}–{_num(upper)}",
        "p_target": _pct(rec.get("probability_on_target")),
        "p_alert": _pct(rec.get("probability_above_alert")),
        "reason": str(rec.get("reason", "")),
        "rule": rec.get("rule"),
    }


def _unique(ids: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for i in ids:
        if i:
            seen.setdefault(i, None)
    return list(seen)


def _references(
    interpretation: Interpretation,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Numbered distinct sources of every knowledge entry cited (thresholds, then findings).

    Returns the citation mark of each entry id (its grade and source numbers, e.g.
    ``"verified [1, 2]"``) and the numbered sources.
    """
    ids = _unique(
        [interpretation.target_id, interpretation.alert_id]
        + [r for f in interpretation.findings for r in f.get("references") or ()]
    )
    numbers: dict[tuple[str, str | None], int] = {}
    sources: list[dict[str, Any]] = []
    cites: dict[str, str] = {}
    for entry_id in ids:
        ref = find_knowledge_reference(entry_id)
        if ref is None:
            cites[entry_id] = "not in the knowledge base"
            continue
        cited: list[int] = []
        for source in ref.sources:
            key = (source.citation, source.doi)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                sources.append(
                    {
                        "number": numbers[key],
                        "citation": source.citation,
                        "doi": source.doi,
                        "pmid": source.pmid,
                        "location": source.location,
                    }
                )
            cited.append(numbers[key])
        cites[entry_id] = f"{ref.verification} [{', '.join(str(n) for n in cited)}]"
    return cites, sources


def _two_columns(items: list[Any], text: Any) -> list[list[Any]]:
    """Split a list in two by printed length, first column the longer (CSS columns are slow)."""
    lengths = [len(text(item)) for item in items]
    half, running = sum(lengths) / 2.0, 0
    for k, length in enumerate(lengths):
        running += length
        if running >= half:
            return [items[: k + 1], items[k + 1 :]]
    return [items, []]


def _validation(validation: ReportValidation) -> dict[str, Any]:
    return {
        "issued": validation.is_issued,
        "validator_name": validation.validator_name,
        "validated_at": None
        if validation.validated_at is None
        else _clock(validation.validated_at),
        "version": validation.version,
        "supersedes_version": validation.supersedes_version,
        "correction_reason": validation.correction_reason,
        "comment": validation.comment,
    }


def _context(
    case: Case,
    interpretation: Interpretation,
    model: PopPKModel,
    patient: ReportPatient | None,
    validation: ReportValidation,
) -> dict[str, Any]:
    figure = plot_interpretation(case, interpretation, model)
    cites, sources = _references(interpretation)
    notice_detail = interpretation.notice
    if notice_detail.startswith(DEVICE_NOTICE):
        notice_detail = notice_detail[len(DEVICE_NOTICE) :].strip()
    return {
        "notice": DEVICE_NOTICE,
        "notice_detail": notice_detail,
        "patient": _patient(case, patient),
        "notes": case.notes,
        "facts": _facts(case),
        "status": {
            "code": interpretation.status,
            "label": _STATUS_LABELS.get(interpretation.status, interpretation.status),
            "reason": interpretation.status_reason,
        },
        "measured_trough": None
        if interpretation.measured_trough_ng_per_ml is None
        else _num(interpretation.measured_trough_ng_per_ml),
        "target": _threshold(interpretation.target_id, interpretation.target_ng_per_ml, cites),
        "alert": _threshold(interpretation.alert_id, interpretation.alert_ng_per_ml, cites),
        "trough": _trough(interpretation),
        # generated by this package from numbers, never from user text: trusted markup
        "figure": {
            "svg": None if figure.svg is None else Markup(figure.svg),
            "kind": figure.kind,
            "caption": figure.caption,
        },
        "findings": _findings(interpretation, cites),
        "advice": _advice(interpretation),
        "model": dict(interpretation.model),
        "assumption_columns": _two_columns(list(interpretation.assumptions), str),
        "warnings": list(interpretation.warnings),
        "source_columns": _two_columns(
            sources, lambda s: f"{s['citation']} {s['doi']} {s['pmid']} {s['location']}"
        ),
        "validation": _validation(validation),
        "software_version": interpretation.software_version,
    }


def render_interpretation_html(
    case: Case,
    interpretation: Interpretation,
    model: PopPKModel,
    *,
    patient: ReportPatient | None = None,
    validation: ReportValidation | None = None,
) -> str:
    """Render the interpretation of a case as a self-contained, printable HTML page.

    Parameters
    ----------
    case : Case
        The interpreted case (doses, samples, co-medications).
    interpretation : Interpretation
        Result of :func:`imatinib_tdm.tdm.interpret` for ``case`` and ``model``. Its
        ``dose_recommendation`` (posterior draws) gives the individual curve; without it (first
        visit, or a level that cannot be used) the figure is the population prediction.
    model : PopPKModel
        The model the interpretation was computed with.
    patient : ReportPatient, optional
        Identifiers to print; default only the case's (pseudonymous) patient id.
    validation : ReportValidation, optional
        Default: a draft, version 1 (DRAFT watermark on every page).

    Returns
    -------
    str
        The HTML document: inline CSS and SVG, no scripts, no external references, every text
        from the case, the knowledge files and the arguments escaped; laid out for one to two A4
        pages in print.

    Examples
    --------
    >>> from imatinib_tdm.case import load_demo_case
    >>> from imatinib_tdm.pk.library import get_model
    >>> from imatinib_tdm.tdm import interpret
    >>> case, model = load_demo_case("demo-001"), get_model("widmer2006_covariate")
    >>> html = render_interpretation_html(case, interpret(case, model), model)
    >>> "DRAFT" in html and "not a medical device" in html
    True
    """
    template = _environment().get_template("interpretation.html.j2")
    context = _context(case, interpretation, model, patient, validation or ReportValidation())
    return template.render(**context)


def write_interpretation_report(
    case: Case,
    interpretation: Interpretation,
    model: PopPKModel,
    path: str | Path,
    *,
    patient: ReportPatient | None = None,
    validation: ReportValidation | None = None,
) -> Path:
    """Write the interpretation report to ``path``: PDF when it ends in ``.pdf``, else HTML.

    Parameters
    ----------
    case, interpretation, model, patient, validation
        As for :func:`render_interpretation_html`.
    path : str or Path
        Output file, overwritten: ``*.pdf`` gets the PDF (A4, WeasyPrint), any other suffix the
        UTF-8 HTML.

    Returns
    -------
    Path
        The written file.
    """
    out = Path(path)
    html = render_interpretation_html(
        case, interpretation, model, patient=patient, validation=validation
    )
    if out.suffix.lower() == ".pdf":
        out.write_bytes(html_to_pdf(html))
    else:
        out.write_text(html, encoding="utf-8")
    return out
