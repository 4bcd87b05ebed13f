"""Users keep a preferred AI metadata provider and language (empty: deployment default)

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
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vision_provider", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("language", sa.String(length=35), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("vision_provider")
