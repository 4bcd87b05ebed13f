"""Initial schema, with the kernel's outbox and processed-event tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from picopt.kernel.db import create_kernel_tables, drop_kernel_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kernel_tables(op)
    op.create_table(
        "deletion_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deletion_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_log_deleted_at"), ["deleted_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deletion_log_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_deletion_log_reason"), ["reason"], unique=False)

    op.create_table(
        "sweep_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("orphans", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sweep_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweep_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "tracked_objects",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("tracked_objects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracked_objects_delete_after"), ["delete_after"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracked_objects_deleted_at"), ["deleted_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tracked_objects_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracked_objects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracked_objects_job_id"))
        batch_op.drop_index(batch_op.f("ix_tracked_objects_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_tracked_objects_delete_after"))

    op.drop_table("tracked_objects")
    with op.batch_alter_table("sweep_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweep_runs_started_at"))

    op.drop_table("sweep_runs")
    with op.batch_alter_table("deletion_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deletion_log_reason"))
        batch_op.drop_index(batch_op.f("ix_deletion_log_key"))
        batch_op.drop_index(batch_op.f("ix_deletion_log_deleted_at"))

    op.drop_table("deletion_log")
    drop_kernel_tables(op)
