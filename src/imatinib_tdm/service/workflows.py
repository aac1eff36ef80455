"""The episode workflows shared by the API and the pages: interpret, show, preview, issue.

Each function runs in one store transaction and records what was seen or done (the store audits
its own writes; views are recorded here). The interpretation shown and printed is recomputed
from the stored case and options with the stored seed, so it is the one that was saved; the
stored ``result_json`` stays the record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imatinib_tdm.case import Case, parse_case
from imatinib_tdm.errors import CaseError, ConflictError
from imatinib_tdm.pk import PopPKModel
from imatinib_tdm.service.compute import AUTO_MODEL, interpret_auto, interpret_case, resolve_model
from imatinib_tdm.service.encoding import to_jsonable
from imatinib_tdm.service.reporting import ReportFacts, render_report_html, render_report_pdf
from imatinib_tdm.service.security import SessionUser, acting_user, audit_view
from imatinib_tdm.store import (
    Database,
    correct_report,
    episode_case,
    get_episode,
    get_patient,
    issue_report,
    latest_interpretation,
    list_reports,
    save_interpretation,
)
from imatinib_tdm.tdm import Interpretation

__all__ = [
    "ComputeRunner",
    "EpisodeView",
    "interpret_episode",
    "issue_episode_report",
    "load_episode_view",
    "recompute_interpretation",
    "report_facts",
]


ComputeRunner = Callable[..., Any]
"""``run(function, *args)``: where a workflow runs its computations (interpretation, PDF).

The default calls them right here; routes pass
:func:`imatinib_tdm.service.compute_pool.compute_runner`, which runs them in the compute pool
with its time limit when the app has one."""


def _here(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


@dataclass(frozen=True)
class EpisodeView:
    """What an episode page shows: records of the store and the recomputed interpretation."""

    patient: Any
    episode: Any
    case: Case
    stored_interpretation: Any | None
    interpretation_case: Case | None
    interpretation: Interpretation | None
    model: PopPKModel | None
    reports: list[Any]


def recompute_interpretation(
    stored: Any, default_model_id: str, *, run: ComputeRunner = _here
) -> tuple[Case, PopPKModel, Interpretation]:
    """The interpretation of a stored one, recomputed on its own case and options.

    Raises
    ------
    CaseError
        The stored case is no longer valid, or cannot be interpreted (the reason, a 422).
    """
    result = stored.result_json
    case = parse_case(stored.case_json, source=f"interpretation {stored.id}")
    model = resolve_model(stored.model_id, default_model_id)
    interpretation = run(
        functools.partial(
            interpret_case, target=result.get("target_id"), alert=result.get("alert_id")
        ),
        case,
        model,
    )
    return case, model, interpretation


def interpret_episode(
    database: Database,
    user: SessionUser,
    episode_id: int,
    *,
    model_id: str | None,
    default_model_id: str,
    target: str | None = None,
    alert: str | None = None,
    run: ComputeRunner = _here,
) -> tuple[int, dict[str, Any]]:
    """Interpret the episode's current case and store the result; (interpretation id, result).

    ``run`` runs the computation (default: here; routes pass the compute pool's runner).
    """
    with database.read() as session:
        episode = get_episode(session, episode_id)
        revision = episode.revision
        case = episode_case(episode)
    if model_id == AUTO_MODEL:
        interpretation = run(functools.partial(interpret_auto, target=target, alert=alert), case)
        model = resolve_model(interpretation.model["id"], default_model_id)
    else:
        model = resolve_model(model_id, default_model_id)
        interpretation = run(
            functools.partial(interpret_case, target=target, alert=alert), case, model
        )
    result = to_jsonable(interpretation.to_dict())
    with database.transaction() as session:
        # computed outside the lock: refuse to file it under a case someone changed meanwhile
        if get_episode(session, episode_id).revision != revision:
            raise ConflictError(
                "the episode was changed while it was being interpreted; interpret it again",
                field="revision",
            )
        stored = save_interpretation(
            session, episode_id, actor=acting_user(session, user), model_id=model.id, result=result
        )
        return stored.id, result


def load_episode_view(
    database: Database,
    user: SessionUser,
    episode_id: int,
    *,
    default_model_id: str,
    run: ComputeRunner = _here,
) -> EpisodeView:
    """Everything an episode page shows; records the view.

    The interpretation is recomputed after the transaction, so no database lock is held
    during the computation; ``run`` runs it (pass the compute pool's runner from a route).

    Raises
    ------
    CaseError
        The stored case cannot be interpreted (the reason; ``NotInterpretableError`` for a
        numerical failure of the engine).
    """
    with database.transaction() as session:
        episode = get_episode(session, episode_id)
        patient = get_patient(session, episode.patient_id)
        audit_view(session, user, "episode", episode.id, patient_id=patient.id)
        stored = latest_interpretation(session, episode.id)
        reports = list(list_reports(session, episode.id))
        case = episode_case(episode)
    interpretation = model = interpreted_case = None
    if stored is not None:
        interpreted_case, model, interpretation = recompute_interpretation(
            stored, default_model_id, run=run
        )
    return EpisodeView(
        patient=patient,
        episode=episode,
        case=case,
        stored_interpretation=stored,
        interpretation_case=interpreted_case,
        interpretation=interpretation,
        model=model,
        reports=reports,
    )


def report_facts(patient: Any, **validation: Any) -> ReportFacts:
    """Identifiers printed on a report from the patient record, plus the validation."""
    name = f"{patient.family_name}, {patient.given_name}".strip(", ")
    return ReportFacts(
        display_name=name,
        mrn=patient.mrn,
        birth_date=patient.birth_date,
        sex=str(getattr(patient.sex, "value", patient.sex)),
        **validation,
    )


def issue_episode_report(
    database: Database,
    user: SessionUser,
    episode_id: int,
    *,
    reason: str | None,
    default_model_id: str,
    run: ComputeRunner = _here,
) -> Any:
    """Validate and issue the report of the episode's latest interpretation (pharmacologist).

    The first report of an episode is issued; later ones are corrections of the latest
    version and need a ``reason``. The report is rendered outside the transaction; the store
    refuses it if the interpretation or the report versions changed in between (409).
    ``run`` runs the recomputation and the PDF rendering (WeasyPrint, ~0.9 s of CPU): routes
    pass the compute pool's runner, so that it happens outside the web process.
    Returns the stored report.
    """
    with database.transaction() as session:
        episode = get_episode(session, episode_id)
        patient = get_patient(session, episode.patient_id)
        stored = latest_interpretation(session, episode.id)
        previous = list(list_reports(session, episode.id))
    if stored is None:
        raise CaseError("interpret the episode before issuing its report", field="interpretation")
    latest = previous[-1] if previous else None
    case, model, interpretation = recompute_interpretation(stored, default_model_id, run=run)
    facts = report_facts(
        patient,
        validator_name=user.full_name,
        validated_at=datetime.now(UTC),
        version=1 if latest is None else latest.version + 1,
        supersedes_version=None if latest is None else latest.version,
        correction_reason=reason if latest is not None else None,
    )
    html = render_report_html(case, interpretation, model, facts)
    pdf = run(render_report_pdf, html)
    with database.transaction() as session:
        actor = acting_user(session, user)
        if latest is None:
            return issue_report(
                session,
                episode_id,
                actor=actor,
                interpretation_id=stored.id,
                html=html,
                pdf=pdf,
                validator_name=user.full_name,
            )
        return correct_report(
            session,
            latest.id,
            actor=actor,
            interpretation_id=stored.id,
            html=html,
            pdf=pdf,
            validator_name=user.full_name,
            reason=reason or "",
        )
