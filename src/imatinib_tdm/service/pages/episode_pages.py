"""Episode pages: the episode form (new, edit), the episode with its interpretation and plot,
interpret, issue the report, preview it, and the dose what-if.

A stored case that cannot be read or computed (stored before the range checks, by an older
version, or with numbers the engine fails on) never makes these pages fail: they show why, with
what can still be shown, and the way to correct it (Edit data).
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from imatinib_tdm.case import parse_case
from imatinib_tdm.errors import CaseError, NotFoundError, PermissionDeniedError, TdmError
from imatinib_tdm.service.compute import resolve_model, what_if
from imatinib_tdm.service.compute_pool import compute_runner
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.errors import status_for
from imatinib_tdm.service.pages.episode_form import (
    LAB_FIELDS,
    METASTATIC_SITE_CHOICES,
    N_SAMPLE_ROWS,
    UNIT_CHOICES,
    case_to_values,
    errors_by_field,
    row_counts,
    values_to_case,
)
from imatinib_tdm.service.pages.rendering import model_select, render
from imatinib_tdm.service.plots import interpretation_figure
from imatinib_tdm.service.reporting import render_report_html
from imatinib_tdm.service.security import (
    CurrentUser,
    Editor,
    Issuer,
    RecordId,
    acting_user,
    audit_view,
    get_database,
    verify_csrf,
)
from imatinib_tdm.service.workflows import (
    interpret_episode,
    issue_episode_report,
    load_episode_view,
    report_facts,
)
from imatinib_tdm.store import (
    create_episode,
    episode_case,
    get_episode,
    get_patient,
    latest_interpretation,
    list_reports,
    update_episode,
)
from imatinib_tdm.tdm import interaction_names

router = APIRouter(include_in_schema=False)
_log = logging.getLogger(__name__)

# what the engine raises on numbers it cannot compute (NaN weights from a 1e-300 mg dose, a
# datetime overflow from 1e12 h): caught on the pages, which then say so instead of a 500
ENGINE_FAILURES: tuple[type[Exception], ...] = (ValueError, ArithmeticError)
_PAGE_FAILURES: tuple[type[Exception], ...] = (TdmError, *ENGINE_FAILURES)
_ENGINE_FAILURE_MESSAGE = (
    "the computation failed on this case's numbers (a dose, time or level far outside the "
    "physically sensible range?); check them with Edit data"
)


def failure_message(error: Exception) -> str:
    """What a page says about a case that could not be read or computed. A TdmError explains
    itself; any other failure gets a fixed text (its own may quote values) and is logged by type
    only, without any value of the case."""
    if isinstance(error, TdmError):
        return error.message
    _log.warning("case computation failed on a page: %s", type(error).__name__)
    return _ENGINE_FAILURE_MESSAGE


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _episode_view(request: Request, user: Any, episode_id: int) -> Any:
    """The episode and its recomputed interpretation (computed through the compute runner);
    call it from a worker thread."""
    return load_episode_view(
        get_database(request),
        user,
        episode_id,
        default_model_id=_settings(request).default_model_id,
        run=compute_runner(request),
    )


_MORE_ROWS_BUTTON = "more_rows"
# the revision the edit form was made from: ASCII digits only (str.isdigit accepts "²", and
# int() of a 4,300-digit string raises), short enough for any real revision
_REVISION = re.compile(r"[0-9]{1,12}")
_BAD_REVISION = (
    "the form has no valid revision number (it is damaged or out of date); open the episode "
    "again and redo the change"
)


def _revision(text: str) -> int | None:
    """The ``expected_revision`` of a submitted edit form, or None when it is not a revision."""
    return int(text) if _REVISION.fullmatch(text) else None


def _form_page(
    request: Request,
    patient: Any,
    *,
    action: str,
    values: dict[str, str],
    errors: dict[str, str],
    episode: Any = None,
    status_code: int = 200,
    more_rows: bool = False,
) -> Any:
    counts = row_counts(values, more=more_rows)
    return render(
        request,
        "episode_form.html.j2",
        status_code=status_code,
        patient=patient,
        episode=episode,
        action=action,
        values=values,
        errors=errors,
        n_dose_rows=counts["doses"],
        n_sample_rows=counts["samples"],
        n_comed_rows=counts["comedications"],
        units=UNIT_CHOICES,
        labs=LAB_FIELDS,
        metastatic_sites=METASTATIC_SITE_CHOICES,
        drug_names=interaction_names(),
    )


def _typed_values(form: Any) -> dict[str, str]:
    """The fields of a submitted episode form as typed (without the token and the buttons)."""
    skip = ("csrf_token", _MORE_ROWS_BUTTON)
    return {k: v for k, v in form.items() if isinstance(v, str) and k not in skip}


def _submitted_case(values: dict[str, str], patient: Any) -> tuple[Any, dict[str, str]]:
    """(case or None, errors by field) of a submitted episode form's values."""
    rows_used: dict[str, list[int]] = {}
    try:
        data, rows_used = values_to_case(
            values,
            patient_ref=f"patient-{patient.id}",
            sex=str(getattr(patient.sex, "value", patient.sex)),
            indication=str(getattr(patient.indication, "value", patient.indication)),
        )
        return parse_case(data), {}
    except CaseError as error:
        return None, errors_by_field(error, rows_used)


@router.get("/patients/{patient_id}/episodes/new")
def new_episode_page(request: Request, patient_id: RecordId, user: Editor) -> Any:
    """The empty episode form."""
    with get_database(request).transaction() as session:
        patient = get_patient(session, patient_id)
    values = {f"samples[{i}].unit": "ng/mL" for i in range(N_SAMPLE_ROWS)}
    return _form_page(
        request,
        patient,
        action=f"/patients/{patient_id}/episodes/new",
        values=values,
        errors={},
    )


@router.post("/patients/{patient_id}/episodes/new", dependencies=[Depends(verify_csrf)])
async def new_episode_submit(request: Request, patient_id: RecordId, user: Editor) -> Any:
    """Save the new episode, or show the form again with every value kept and errors marked."""
    form = await request.form()
    database = get_database(request)
    with database.transaction() as session:
        patient = get_patient(session, patient_id)
    values = _typed_values(form)
    action = f"/patients/{patient_id}/episodes/new"
    if _MORE_ROWS_BUTTON in form:  # not a save: the same form with more empty rows
        return _form_page(request, patient, action=action, values=values, errors={}, more_rows=True)
    case, errors = _submitted_case(values, patient)
    if case is None:
        return _form_page(
            request, patient, action=action, values=values, errors=errors, status_code=422
        )
    try:
        with database.transaction() as session:
            episode = create_episode(
                session,
                patient_id,
                actor=acting_user(session, user),
                case=case,
                label=values.get("label", "").strip(),
            )
            episode_id = episode.id
    except TdmError as error:
        return _form_page(
            request,
            patient,
            action=action,
            values=values,
            errors={str(error.fields.get("field") or ""): error.message},
            status_code=status_for(error),
        )
    return RedirectResponse(f"/episodes/{episode_id}", status_code=303)


@router.get("/episodes/{episode_id}/edit")
def edit_episode_page(request: Request, episode_id: RecordId, user: Editor) -> Any:
    """The episode form filled with the current case."""
    with get_database(request).transaction() as session:
        episode = get_episode(session, episode_id)
        patient = get_patient(session, episode.patient_id)
        audit_view(session, user, "episode", episode.id, patient_id=patient.id)
    values = case_to_values(episode.case_json)
    values["label"] = episode.label
    return _form_page(
        request,
        patient,
        action=f"/episodes/{episode_id}/edit",
        values=values,
        errors={},
        episode=episode,
    )


@router.post("/episodes/{episode_id}/edit", dependencies=[Depends(verify_csrf)])
async def edit_episode_submit(request: Request, episode_id: RecordId, user: Editor) -> Any:
    """Save the changed case (refused with a message when someone saved in between)."""
    form = await request.form()
    database = get_database(request)
    with database.transaction() as session:
        episode = get_episode(session, episode_id)
        patient = get_patient(session, episode.patient_id)
    values = _typed_values(form)
    action = f"/episodes/{episode_id}/edit"
    if _MORE_ROWS_BUTTON in form:
        return _form_page(
            request,
            patient,
            action=action,
            values=values,
            errors={},
            episode=episode,
            more_rows=True,
        )
    case, errors = _submitted_case(values, patient)
    if case is None:
        return _form_page(
            request,
            patient,
            action=action,
            values=values,
            errors=errors,
            episode=episode,
            status_code=422,
        )
    expected = _revision(values.get("expected_revision", ""))
    if expected is None:  # never saved without the revision the form was made from
        return _form_page(
            request,
            patient,
            action=action,
            values=values,
            errors={"": _BAD_REVISION},
            episode=episode,
            status_code=422,
        )
    try:
        with database.transaction() as session:
            update_episode(
                session,
                episode_id,
                actor=acting_user(session, user),
                case=case,
                expected_revision=expected,
                label=values.get("label", "").strip(),
            )
    except TdmError as error:
        return _form_page(
            request,
            patient,
            action=action,
            values=values,
            errors={"": error.message},
            episode=episode,
            status_code=status_for(error),
        )
    return RedirectResponse(f"/episodes/{episode_id}", status_code=303)


@router.get("/episodes/{episode_id}")
def episode_page(request: Request, episode_id: RecordId, user: CurrentUser) -> Any:
    """The episode: case, latest interpretation with its plot, reports. The view is audited."""
    return _episode_page(request, episode_id, user)


def _episode_page(
    request: Request,
    episode_id: int,
    user: Any,
    *,
    interpret_error: str | None = None,
    status_code: int = 200,
) -> Any:
    settings = _settings(request)
    try:
        view = _episode_view(request, user, episode_id)
        figure = None
        if view.interpretation is not None and view.model is not None:
            assert view.interpretation_case is not None
            figure = interpretation_figure(
                view.interpretation_case, view.model, view.interpretation
            )
    except (NotFoundError, PermissionDeniedError):
        raise
    except _PAGE_FAILURES as error:
        return _unreadable_episode_page(
            request,
            episode_id,
            user,
            problem=failure_message(error),
            interpret_error=interpret_error,
            status_code=status_code,
        )
    selected = view.model.id if view.model is not None else settings.default_model_id
    return render(
        request,
        "episode.html.j2",
        status_code=status_code,
        interpret_error=interpret_error,
        patient=view.patient,
        episode=view.episode,
        case=view.case,
        interpretation=(
            to_jsonable(view.interpretation.to_dict()) if view.interpretation else None
        ),
        interpretation_id=(
            view.stored_interpretation.id if view.stored_interpretation is not None else None
        ),
        figure=figure,
        reports=view.reports,
        model_select=model_select(selected, auto=True),
    )


def _unreadable_episode_page(
    request: Request,
    episode_id: int,
    user: Any,
    *,
    problem: str,
    interpret_error: str | None,
    status_code: int,
) -> Any:
    """The episode page when its case or its stored interpretation cannot be computed: the
    record, the case if it can still be read, the reports, and ``problem``."""
    settings = _settings(request)
    case = case_error = None
    with get_database(request).transaction() as session:
        episode = get_episode(session, episode_id)
        patient = get_patient(session, episode.patient_id)
        reports = list(list_reports(session, episode.id))
        interpreted = latest_interpretation(session, episode.id) is not None
        try:
            case = episode_case(episode)
        except CaseError as error:
            case_error = error.message
            # the episode view's transaction failed on this case and was rolled back: audit
            # the view here (when the case reads, the view was audited before the failure)
            audit_view(session, user, "episode", episode.id, patient_id=patient.id)
    return render(
        request,
        "episode.html.j2",
        status_code=status_code,
        interpret_error=interpret_error or (None if case_error else problem),
        case_error=case_error,
        patient=patient,
        episode=episode,
        case=case,
        interpretation=None,
        interpretation_unavailable=interpreted,
        interpretation_id=None,
        figure=None,
        reports=reports,
        model_select=model_select(settings.default_model_id, auto=True),
    )


@router.post("/episodes/{episode_id}/interpret", dependencies=[Depends(verify_csrf)])
async def interpret_submit(request: Request, episode_id: RecordId, user: Editor) -> Any:
    """Interpret the current case with the chosen model and store it."""
    form = await request.form()
    model_id = form.get("model")
    try:
        # on a worker thread, computing in the compute pool: never on the event loop
        await run_in_threadpool(
            interpret_episode,
            get_database(request),
            user,
            episode_id,
            model_id=model_id if isinstance(model_id, str) and model_id else None,
            default_model_id=_settings(request).default_model_id,
            run=compute_runner(request),
        )
    except (NotFoundError, PermissionDeniedError):
        raise
    except _PAGE_FAILURES as error:  # cannot be interpreted: say why on the page
        return await run_in_threadpool(
            _episode_page,
            request,
            episode_id,
            user,
            interpret_error=failure_message(error),
            status_code=status_for(error) if isinstance(error, TdmError) else 422,
        )
    return RedirectResponse(f"/episodes/{episode_id}#interpretation", status_code=303)


@router.post("/episodes/{episode_id}/reports", dependencies=[Depends(verify_csrf)])
async def issue_report_submit(
    request: Request,
    episode_id: RecordId,
    user: Issuer,
) -> Any:
    """Validate and issue (or correct) the report, then show the episode."""
    form = await request.form()
    reason = form.get("reason")
    try:
        # the recomputation and the PDF (WeasyPrint, ~0.9 s) in the compute pool, waited for
        # on a worker thread: never on the event loop
        await run_in_threadpool(
            issue_episode_report,
            get_database(request),
            user,
            episode_id,
            reason=reason.strip() if isinstance(reason, str) and reason.strip() else None,
            default_model_id=_settings(request).default_model_id,
            run=compute_runner(request),
        )
    except ENGINE_FAILURES as error:
        if isinstance(error, TdmError):
            raise  # explains itself on the error page, with its status
        return await run_in_threadpool(
            _episode_page,
            request,
            episode_id,
            user,
            interpret_error=failure_message(error),
            status_code=422,
        )
    return RedirectResponse(f"/episodes/{episode_id}", status_code=303)


@router.get("/episodes/{episode_id}/report/preview")
def report_preview(request: Request, episode_id: RecordId, user: CurrentUser) -> HTMLResponse:
    """The report of the latest interpretation as a DRAFT (not stored, not valid for care)."""
    try:
        view = _episode_view(request, user, episode_id)
        if view.interpretation is None or view.model is None or view.interpretation_case is None:
            raise CaseError("interpret the episode before previewing its report", field="episode")
        html = render_report_html(
            view.interpretation_case, view.interpretation, view.model, report_facts(view.patient)
        )
    except ENGINE_FAILURES as error:
        if isinstance(error, TdmError):
            raise
        raise CaseError(failure_message(error), field="episode") from None
    return HTMLResponse(html)


@router.get("/episodes/{episode_id}/whatif")
def what_if_page(
    request: Request,
    episode_id: RecordId,
    user: CurrentUser,
    model: Annotated[str, Query(max_length=64)] = "",
) -> Any:
    """Predicted steady-state trough of each allowed regimen for this patient."""
    settings = _settings(request)
    with get_database(request).transaction() as session:
        episode = get_episode(session, episode_id)
        audit_view(
            session,
            user,
            "episode",
            episode.id,
            patient_id=episode.patient_id,
            detail={"page": "whatif"},
        )
    chosen = model or settings.default_model_id
    table = advice = notice = error = None
    try:
        case = episode_case(episode)
        run = compute_runner(request)
        recommendation, _ = run(what_if, case, resolve_model(chosen, settings.default_model_id))
        table = to_jsonable(recommendation.advice.table.to_dict())
        advice = to_jsonable(recommendation.advice.to_dict())
        notice = recommendation.estimate.notice
    except (NotFoundError, PermissionDeniedError):
        raise
    except _PAGE_FAILURES as failure:
        error = failure_message(failure)
    return render(
        request,
        "whatif.html.j2",
        episode=episode,
        table=table,
        advice=advice,
        notice=notice,
        error=error,
        model_select=model_select(chosen),
    )
