"""Initial schema: users, patients, episodes (with revisions), interpretations, reports, audit.

Revision ID: 0001
Revises:
Created: 2026-11-27

Values of the CHECK constraints are written out here, not imported, so that this migration keeps
describing the schema it created even when the enums change later. Append-only tables get
triggers that refuse UPDATE and DELETE from any client, raw SQL included.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

APPEND_ONLY_TABLES = ("episode_revisions", "interpretations", "reports", "audit_events")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(name: str, table: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.Integer(),
        sa.ForeignKey("users.id", name=f"fk_{table}_{name}_users"),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _user_fk("created_by_id", "users", nullable=True),
        _time("updated_at"),
        _time("password_changed_at"),
        _time("last_login_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint(
            "role IN ('viewer', 'clinician', 'pharmacologist', 'admin')", name="ck_users_role"
        ),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mrn", sa.String(64), nullable=False),
        sa.Column("family_name", sa.String(200), nullable=False),
        sa.Column("given_name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("indication", sa.String(10), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        _time("archived_at", nullable=True),
        _time("created_at"),
        _user_fk("created_by_id", "patients"),
        _time("updated_at"),
        _user_fk("updated_by_id", "patients"),
        sa.PrimaryKeyConstraint("id", name="pk_patients"),
        sa.UniqueConstraint("mrn", name="uq_patients_mrn"),
        sa.CheckConstraint("sex IN ('female', 'male', 'unknown')", name="ck_patients_sex"),
        sa.CheckConstraint("indication IN ('GIST', 'CML', 'other')", name="ck_patients_indication"),
    )
    op.create_table(
        "episodes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_episodes_patient_id_patients"),
            nullable=False,
        ),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("case_json", _json(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _time("created_at"),
        _user_fk("created_by_id", "episodes"),
        _time("updated_at"),
        _user_fk("updated_by_id", "episodes"),
        sa.PrimaryKeyConstraint("id", name="pk_episodes"),
        sa.CheckConstraint(
            "status IN ('draft', 'interpreted', 'reported')", name="ck_episodes_status"
        ),
    )
    op.create_index("ix_episodes_patient_id", "episodes", ["patient_id"])
    op.create_table(
        "episode_revisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "episode_id",
            sa.Integer(),
            sa.ForeignKey("episodes.id", name="fk_episode_revisions_episode_id_episodes"),
            nullable=False,
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("case_json", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _time("saved_at"),
        _user_fk("saved_by_id", "episode_revisions"),
        sa.PrimaryKeyConstraint("id", name="pk_episode_revisions"),
        sa.UniqueConstraint(
            "episode_id", "revision", name="uq_episode_revisions_episode_id_revision"
        ),
    )
    op.create_index("ix_episode_revisions_episode_id", "episode_revisions", ["episode_id"])
    op.create_table(
        "interpretations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "episode_id",
            sa.Integer(),
            sa.ForeignKey("episodes.id", name="fk_interpretations_episode_id_episodes"),
            nullable=False,
        ),
        sa.Column("episode_revision", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("case_json", _json(), nullable=False),
        sa.Column("result_json", _json(), nullable=False),
        sa.Column("software_version", sa.String(40), nullable=False),
        _time("created_at"),
        _user_fk("created_by_id", "interpretations"),
        sa.PrimaryKeyConstraint("id", name="pk_interpretations"),
    )
    op.create_index("ix_interpretations_episode_id", "interpretations", ["episode_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "episode_id",
            sa.Integer(),
            sa.ForeignKey("episodes.id", name="fk_reports_episode_id_episodes"),
            nullable=False,
        ),
        sa.Column(
            "interpretation_id",
            sa.Integer(),
            sa.ForeignKey(
                "interpretations.id", name="fk_reports_interpretation_id_interpretations"
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "supersedes_id",
            sa.Integer(),
            sa.ForeignKey("reports.id", name="fk_reports_supersedes_id_reports"),
            nullable=True,
        ),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(64), nullable=False),
        _user_fk("validator_id", "reports", nullable=True),
        sa.Column("validator_name", sa.String(200), nullable=False),
        _time("issued_at"),
        sa.Column("correction_reason", sa.Text(), nullable=True),
        _time("created_at"),
        _user_fk("created_by_id", "reports"),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("episode_id", "version", name="uq_reports_episode_id_version"),
        sa.UniqueConstraint("supersedes_id", name="uq_reports_supersedes_id"),
        sa.CheckConstraint("version >= 1", name="ck_reports_version_positive"),
    )
    op.create_index("ix_reports_episode_id", "reports", ["episode_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        _time("at"),
        _user_fk("user_id", "audit_events", nullable=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("detail", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_patient_id_at", "audit_events", ["patient_id", "at"])
    op.create_index("ix_audit_events_user_id_at", "audit_events", ["user_id", "at"])
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    for table in ("audit_events", "reports", "interpretations", "episode_revisions"):
        op.drop_table(table)
    op.drop_table("episodes")
    op.drop_table("patients")
    op.drop_table("users")


# --- append-only triggers -----------------------------------------------------------------------


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION imatinib_tdm_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END;
            $$
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION imatinib_tdm_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION imatinib_tdm_refuse_change()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: {operation} "
                    "refused'); END"
                )


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS imatinib_tdm_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
