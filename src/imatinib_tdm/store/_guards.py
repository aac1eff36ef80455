"""ORM guards: append-only tables and read-only sessions.

An issued report, an interpretation, a saved case revision and an audit event are never changed
or deleted. Three layers refuse it: a ``before_flush`` hook (changed or deleted ORM objects), a
``do_orm_execute`` hook (bulk ``update()``/``delete()`` statements through a session) and, below
the ORM, database triggers created by the migration (raw SQL). The hooks are registered on
the :class:`~sqlalchemy.orm.Session` class when this module is imported (by the package), so
they hold for every session, including ones a caller opens itself.

New audit events must come from :func:`imatinib_tdm.store.record_event`, which chains them
(``chain_hash``); an ``AuditEvent`` added to a session by hand would break the chain and is
refused at flush.

Sessions opened with :meth:`imatinib_tdm.store.Database.read` are marked read-only and refuse
to flush, so a write cannot slip into a read path where nothing would commit it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from imatinib_tdm.errors import ImmutableRecordError
from imatinib_tdm.store._models import AppendOnly, AuditEvent

__all__ = ["READ_ONLY"]

READ_ONLY = "imatinib_tdm.read_only"
"""Key in ``Session.info`` that marks a read-only session."""


def _refuse(instance: AppendOnly, verb: str) -> ImmutableRecordError:
    table = getattr(instance, "__tablename__", type(instance).__name__)
    entity_id = getattr(instance, "id", None)
    hint = (
        "; issue a corrected report (a new version) instead"
        if table == "reports" and verb == "change"
        else ""
    )
    return ImmutableRecordError(
        f"{table} row {entity_id} is append-only: cannot {verb} it{hint}",
        entity=table,
        entity_id=entity_id,
    )


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError(
            "a read-only session (Database.read) cannot write; use Database.transaction"
        )
    for instance in session.new:
        if isinstance(instance, AuditEvent) and not instance.chain_hash:
            raise ImmutableRecordError(
                "audit events are written with record_event, which chains them; an event "
                "without chain_hash would break the audit chain",
                entity="audit_events",
                entity_id=None,
            )
    for instance in session.deleted:
        if isinstance(instance, AppendOnly):
            raise _refuse(instance, "delete")
    for instance in session.dirty:
        if isinstance(instance, AppendOnly) and session.is_modified(
            instance, include_collections=False
        ):
            raise _refuse(instance, "change")


@event.listens_for(Session, "do_orm_execute")
def _before_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if (
        (state.is_update or state.is_delete)
        and mapper is not None
        and issubclass(mapper.class_, AppendOnly)
    ):
        verb = "change" if state.is_update else "delete"
        table = mapper.class_.__tablename__  # type: ignore[attr-defined]
        raise ImmutableRecordError(
            f"{table} is append-only: cannot {verb} its rows", entity=table, entity_id=None
        )
    if state.session.info.get(READ_ONLY):
        raise RuntimeError(
            "a read-only session (Database.read) cannot write; use Database.transaction"
        )
