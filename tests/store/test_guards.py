"""Append-only tables: ORM guard, bulk statements, database triggers
(imatinib_tdm.store._guards and the migration's triggers)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from imatinib_tdm.case import Case
from imatinib_tdm.errors import ImmutableRecordError
from imatinib_tdm.store import (
    AuditEvent,
    Database,
    Report,
    StoredInterpretation,
    get_interpretation,
    get_report,
    list_events,
)

from .conftest import FAKE_PDF, Actors, interpreted_episode, issue_first_report


@pytest.fixture
def report_id(database: Database, actors: Actors, demo_case: Case) -> int:
    return issue_first_report(database, actors, interpreted_episode(database, actors, demo_case))


def test_changing_an_issued_report_fails(database: Database, report_id: int) -> None:
    with (
        pytest.raises(ImmutableRecordError, match="issue a corrected report"),
        database.transaction() as session,
    ):
        get_report(session, report_id).html = "<p>quietly edited</p>"
    with database.read() as session:
        assert get_report(session, report_id).html == "<h1>TDM report</h1>"


def test_deleting_an_issued_report_fails(database: Database, report_id: int) -> None:
    with (
        pytest.raises(ImmutableRecordError, match="cannot delete"),
        database.transaction() as session,
    ):
        session.delete(get_report(session, report_id))
    with database.read() as session:
        assert get_report(session, report_id).pdf == FAKE_PDF


def test_bulk_statements_on_append_only_tables_fail(database: Database, report_id: int) -> None:
    for statement in (
        update(Report).values(html="x"),
        delete(Report),
        update(AuditEvent).values(action="view"),
        delete(StoredInterpretation),
    ):
        with pytest.raises(ImmutableRecordError), database.transaction() as session:
            session.execute(statement)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE reports SET html = 'x'",
        "DELETE FROM reports",
        "UPDATE audit_events SET username = 'someone else'",
        "DELETE FROM audit_events",
        "UPDATE interpretations SET model_id = 'x'",
        "DELETE FROM episode_revisions",
    ],
)
def test_database_triggers_refuse_raw_sql(database: Database, report_id: int, sql: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text(sql))
    with database.read() as session:
        assert get_report(session, report_id).html == "<h1>TDM report</h1>"
        assert list_events(session, limit=1)


def test_other_append_only_rows_are_guarded_too(
    database: Database, actors: Actors, demo_case: Case
) -> None:
    flow = interpreted_episode(database, actors, demo_case)
    with (
        pytest.raises(ImmutableRecordError, match="interpretations row"),
        database.transaction() as session,
    ):
        get_interpretation(session, flow.interpretation_id).model_id = "other"
    with (
        pytest.raises(ImmutableRecordError, match="audit_events row"),
        database.transaction() as session,
    ):
        list_events(session, limit=1)[0].action = "view"


def test_an_unchanged_assignment_is_not_a_change(database: Database, report_id: int) -> None:
    with database.transaction() as session:
        report = get_report(session, report_id)
        report.html = report.html  # same value: nothing to refuse
