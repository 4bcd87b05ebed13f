"""Privacy requests, audit trail, exports, log purges, policy versions

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_exports",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_exports_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_data_exports_user_id"), ["user_id"], unique=False)

    op.create_table(
        "erasure_confirmations",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "service"),
    )
    op.create_table(
        "log_purge_counts",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "service", "table_name"),
    )
    with op.batch_alter_table("log_purge_counts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_log_purge_counts_purged_at"), ["purged_at"], unique=False
        )

    op.create_table(
        "log_purge_runs",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("older_than", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("log_purge_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_log_purge_runs_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "policy_notices",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", "user_id"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("effective_date", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("material", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notify_cursor", sa.String(length=36), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("notification_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_versions_published_at"), ["published_at"], unique=False
        )

    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_requests_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_privacy_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_privacy_requests_user_id"), ["user_id"], unique=False)

    op.create_table(
        "request_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_audit_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_audit_request_id"))

    op.drop_table("request_audit")
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_requests_user_id"))
        batch_op.drop_index(batch_op.f("ix_privacy_requests_status"))
        batch_op.drop_index(batch_op.f("ix_privacy_requests_created_at"))

    op.drop_table("privacy_requests")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_versions_published_at"))

    op.drop_table("policy_versions")
    op.drop_table("policy_notices")
    with op.batch_alter_table("log_purge_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_purge_runs_started_at"))

    op.drop_table("log_purge_runs")
    with op.batch_alter_table("log_purge_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_purge_counts_purged_at"))

    op.drop_table("log_purge_counts")
    op.drop_table("erasure_confirmations")
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_exports_user_id"))
        batch_op.drop_index(batch_op.f("ix_data_exports_status"))

    op.drop_table("data_exports")
