"""Initial demo schema: widgets plus the kernel tables.

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
        "widgets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("widgets")
    drop_kernel_tables(op)
