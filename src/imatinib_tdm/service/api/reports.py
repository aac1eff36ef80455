"""Reports: issue/correct (pharmacologist), list, download HTML and PDF (audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from imatinib_tdm.service.api.responses import ENTITY_READ, ENTITY_WRITE
from imatinib_tdm.service.compute_pool import compute_runner
from imatinib_tdm.service.schemas import ReportIssueRequest, ReportOut
from imatinib_tdm.service.security import (
    CurrentUser,
    Issuer,
    RecordId,
    SessionUser,
    acting_user,
    audit_view,
    get_database,
    verify_csrf,
)
from imatinib_tdm.service.workflows import issue_episode_report
from imatinib_tdm.store import (
    get_episode,
    get_report,
    list_reports,
    record_event,
)

router = APIRouter(tags=["reports"], dependencies=[Depends(verify_csrf)])

REPORT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of a stored report's HTML: no script, form, frame or plug-in runs,
nothing is fetched (the reports are self-contained: inline SVG, styles, data: images)."""


def report_out(report: Any) -> ReportOut:
    """Metadata of a stored report, with the URLs of its documents."""
    return ReportOut(
        id=report.id,
        episode_id=report.episode_id,
        version=report.version,
        supersedes_id=report.supersedes_id,
        validated_here=not report.is_imported,
        validator_name=None if report.is_imported else report.validator_name,
        validation=report.validation_text,
        imported_from=report.imported_from,
        issued_at=report.issued_at,
        html_url=f"/api/reports/{report.id}/html",
        pdf_url=f"/api/reports/{report.id}/pdf",
    )


@router.post(
    "/api/episodes/{episode_id}/reports",
    status_code=201,
    response_model=ReportOut,
    responses=ENTITY_WRITE,
)
def issue_report_endpoint(
    body: ReportIssueRequest,
    request: Request,
    episode_id: RecordId,
    user: Issuer,
) -> ReportOut:
    """Validate and issue the report of the latest interpretation (pharmacologist, admin).

    When the episode has a report already, this issues a corrected version and ``reason`` is
    required.
    """
    report = issue_episode_report(
        get_database(request),
        user,
        episode_id,
        reason=body.reason,
        default_model_id=request.app.state.settings.default_model_id,
        run=compute_runner(request),  # the PDF is rendered in a compute process when there are
    )
    return report_out(report)


@router.get("/api/episodes/{episode_id}/reports", responses=ENTITY_READ)
def list_reports_endpoint(
    request: Request, episode_id: RecordId, user: CurrentUser
) -> list[dict[str, Any]]:
    """Every version of the episode's report, oldest first."""
    with get_database(request).transaction() as session:
        episode = get_episode(session, episode_id)
        reports = list_reports(session, episode.id)
        audit_view(
            session,
            user,
            "report",
            None,
            patient_id=episode.patient_id,
            detail={"episode_id": episode.id, "n_reports": len(reports)},
        )
        return [report_out(r).model_dump(mode="json") for r in reports]


def _download(request: Request, report_id: int, user: SessionUser, kind: str) -> Any:
    with get_database(request).transaction() as session:
        report = get_report(session, report_id)
        episode = get_episode(session, report.episode_id)
        record_event(
            session,
            actor=acting_user(session, user),
            action="download",
            entity_type="report",
            entity_id=report.id,
            patient_id=episode.patient_id,
            detail={"format": kind, "version": report.version},
        )
        return report


@router.get(
    "/api/reports/{report_id}/html",
    response_class=HTMLResponse,
    responses={**ENTITY_READ, 200: {"content": {"text/html": {}}}},
)
def report_html(request: Request, report_id: RecordId, user: CurrentUser) -> HTMLResponse:
    """The issued report as HTML (exactly as stored), in a sandbox: an imported report's HTML
    came from elsewhere, and even a report made here needs no script, form or plug-in."""
    report = _download(request, report_id, user, "html")
    return HTMLResponse(report.html, headers={"Content-Security-Policy": REPORT_CSP})


@router.get(
    "/api/reports/{report_id}/pdf",
    response_class=Response,
    responses={**ENTITY_READ, 200: {"content": {"application/pdf": {}}}},
)
def report_pdf(request: Request, report_id: RecordId, user: CurrentUser) -> Response:
    """The issued report as PDF (exactly as stored)."""
    report = _download(request, report_id, user, "pdf")
    return Response(
        content=report.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="tdm-report-{report.id}'
            f'-v{report.version}.pdf"'
        },
    )
