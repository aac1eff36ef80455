"""Security: server-side sessions, and the client address of audit events.

Revision ID: 0002
Revises: 0001
Created: 2026-12-08

``user_sessions`` holds one row per login (the cookie carries a random token; only its SHA-256 is
stored), so that logout, a password change or a deactivation revokes sessions on the server.
``audit_events.source_address`` is the client address of the request that caused the event,
used to throttle logins per address as well as per account.

``audit_events.chain_hash`` chains every audit row to the previous one (SHA-256, see
:mod:`imatinib_tdm.store._audit`); existing rows are chained here, in id order, so that the
chain covers the whole log. The append-only triggers refuse that UPDATE, so they are dropped
and created again inside this migration's transaction.

``patients.mrn_key`` is the MRN as compared for uniqueness (NFKC, case-folded, invisible
characters dropped; unique). Existing patients whose MRNs already differ only in case, width or
invisible characters keep their rows: the lowest id gets the plain key, the others a key
marked ``<key><TAB>duplicate of patient <id>`` (a tab cannot occur in a real key), and the
migration logs their ids (never the MRNs) so that the records can be reviewed and merged.

``reports.imported_from`` is the provenance of an imported report (not validated here).

The hash and key functions are imported from the package rather than copied: the stored
values must be exactly what the running code computes and verifies.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

from imatinib_tdm.store._audit import GENESIS_HASH, chain_hash
from imatinib_tdm.store._identifiers import mrn_key
from imatinib_tdm.store._types import JSON_DOCUMENT, UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_log = logging.getLogger("alembic.runtime.migration")
_BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_user_sessions_user_id_users"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.UniqueConstraint("token_sha256", name="uq_user_sessions_token_sha256"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    # plain ALTER TABLE (not batch mode): recreating the table on SQLite would drop its
    # append-only triggers
    op.add_column("audit_events", sa.Column("source_address", sa.String(64), nullable=True))
    op.create_index("ix_audit_events_source_address_at", "audit_events", ["source_address", "at"])
    _add_audit_chain()
    _add_mrn_key()
    op.add_column("reports", sa.Column("imported_from", sa.Text(), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+), not batch mode, for the same reason as above
    op.drop_column("reports", "imported_from")
    op.drop_index("ix_patients_mrn_key", table_name="patients")
    op.drop_column("patients", "mrn_key")
    op.drop_column("audit_events", "chain_hash")
    op.drop_index("ix_audit_events_source_address_at", table_name="audit_events")
    op.drop_column("audit_events", "source_address")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")


# --- audit chain -------------------------------------------------------------------------------

_AUDIT = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("at", UtcDateTime()),
    sa.column("user_id", sa.Integer()),
    sa.column("username", sa.String()),
    sa.column("action", sa.String()),
    sa.column("entity_type", sa.String()),
    sa.column("entity_id", sa.Integer()),
    sa.column("patient_id", sa.Integer()),
    sa.column("detail", JSON_DOCUMENT),
    sa.column("source_address", sa.String()),
    sa.column("chain_hash", sa.String()),
)


def _add_audit_chain() -> None:
    # NOT NULL needs a default for the existing rows (SQLite cannot add the constraint later
    # without recreating the table); every row gets its real hash below
    op.add_column(
        "audit_events",
        sa.Column("chain_hash", sa.String(64), nullable=False, server_default=""),
    )
    bind = op.get_bind()
    dialect = bind.dialect.name
    _drop_audit_triggers(dialect)
    fields = [column for column in _AUDIT.c if column.name != "chain_hash"]
    update = (
        sa.update(_AUDIT)
        .where(_AUDIT.c.id == sa.bindparam("row_id"))
        .values(chain_hash=sa.bindparam("row_hash"))
    )
    previous, last_id = GENESIS_HASH, None
    while True:
        query = sa.select(*fields).order_by(_AUDIT.c.id).limit(_BATCH)
        if last_id is not None:
            query = query.where(_AUDIT.c.id > last_id)
        rows = bind.execute(query).all()
        if not rows:
            break
        hashes: list[dict[str, Any]] = []
        for row in rows:
            previous = chain_hash(previous, dict(row._mapping))
            hashes.append({"row_id": row.id, "row_hash": previous})
        bind.execute(update, hashes)
        last_id = rows[-1].id
    _create_audit_triggers(dialect)
    if dialect == "postgresql":  # SQLite cannot drop a default in place; the store always sets it
        op.alter_column("audit_events", "chain_hash", server_default=None)


def _drop_audit_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")


def _create_audit_triggers(dialect: str) -> None:
    """The same triggers as migration 0001 creates for ``audit_events``."""
    if dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION imatinib_tdm_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION imatinib_tdm_refuse_change()"
        )
    elif dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{operation.lower()} BEFORE {operation} ON "
                f"audit_events BEGIN SELECT RAISE(ABORT, 'table audit_events is append-only: "
                f"{operation} refused'); END"
            )


# --- MRN key -----------------------------------------------------------------------------------

_PATIENTS = sa.table(
    "patients", sa.column("id", sa.Integer()), sa.column("mrn", sa.String()), sa.column("mrn_key")
)


def _add_mrn_key() -> None:
    op.add_column(
        "patients", sa.Column("mrn_key", sa.String(256), nullable=False, server_default="")
    )
    bind = op.get_bind()
    first_of: dict[str, int] = {}
    keys: list[dict[str, Any]] = []
    for row in bind.execute(sa.select(_PATIENTS.c.id, _PATIENTS.c.mrn).order_by(_PATIENTS.c.id)):
        key = mrn_key(row.mrn)
        if key in first_of:
            _log.warning(
                "patient %d has an MRN that differs from patient %d's only in case, width or "
                "invisible characters: review and merge the records",
                row.id,
                first_of[key],
            )
            key = f"{key}\tduplicate of patient {first_of[key]} (id {row.id})"
        else:
            first_of[key] = row.id
        keys.append({"row_id": row.id, "row_key": key})
    if keys:
        bind.execute(
            sa.update(_PATIENTS)
            .where(_PATIENTS.c.id == sa.bindparam("row_id"))
            .values(mrn_key=sa.bindparam("row_key")),
            keys,
        )
    if bind.dialect.name == "postgresql":
        op.alter_column("patients", "mrn_key", server_default=None)
    op.create_index("ix_patients_mrn_key", "patients", ["mrn_key"], unique=True)
