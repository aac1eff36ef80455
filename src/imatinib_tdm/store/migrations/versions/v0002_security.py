"""Security: server-side sessions, and the client address of audit events.

Revision ID: 0002
Revises: 0001
Created: 2026-12-08

``user_sessions`` holds one row per login (the cookie carries a random token; only its SHA-256 is
stored), so that logout, a password change or a deactivation revokes sessions on the server.
``audit_events.source_address`` is the client address of the request that caused the event,
used to throttle logins per address as well as per account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


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
    op.create_index(
        "ix_audit_events_source_address_at", "audit_events", ["source_address", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_source_address_at", table_name="audit_events")
    op.drop_column("audit_events", "source_address")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
