"""Reservations record how many outputs they paid for and at what price, so a job that makes
fewer (widths above the source collapse into one) is charged for what it made

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outputs", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("output_credits", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_column("output_credits")
        batch_op.drop_column("outputs")
