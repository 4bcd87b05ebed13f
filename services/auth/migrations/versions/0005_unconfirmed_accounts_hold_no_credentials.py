"""Unconfirmed accounts hold no password: each confirm token carries its sign-up's choice

Before, the first sign-up's password sat on the account and a later sign-up for
the same unconfirmed address was ignored, so whoever pre-registered someone
else's address kept a password on the account the owner then confirmed. The
earliest open confirm token of each unconfirmed account takes over the account's
name and password hash, and the account forgets the password.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
    op.execute(
        """
        UPDATE email_tokens SET
            name = (SELECT users.name FROM users
                    WHERE users.id = email_tokens.user_id AND users.email_confirmed_at IS NULL),
            password_hash = (SELECT users.password_hash FROM users
                    WHERE users.id = email_tokens.user_id AND users.email_confirmed_at IS NULL)
        WHERE email_tokens.purpose = 'confirm' AND email_tokens.used_at IS NULL
          AND email_tokens.created_at = (SELECT min(t.created_at) FROM email_tokens t
                    WHERE t.user_id = email_tokens.user_id AND t.purpose = 'confirm')
        """
    )
    op.execute("UPDATE users SET password_hash = NULL WHERE email_confirmed_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
        batch_op.drop_column("name")
