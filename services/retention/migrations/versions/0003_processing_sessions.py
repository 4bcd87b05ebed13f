"""Processing sessions and the jobs in them

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processing_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("processing_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_processing_sessions_user_id"), ["user_id"])
        batch_op.create_index(batch_op.f("ix_processing_sessions_expires_at"), ["expires_at"])
        batch_op.create_index(batch_op.f("ix_processing_sessions_ended_at"), ["ended_at"])
        batch_op.create_index(batch_op.f("ix_processing_sessions_status"), ["status"])
    op.create_table(
        "session_jobs",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("session_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_jobs_session_id"), ["session_id"])


def downgrade() -> None:
    op.drop_table("session_jobs")
    op.drop_table("processing_sessions")
