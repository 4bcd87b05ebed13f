"""Credit buckets and expiry, purchases, Stripe customers and events, trial claims

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
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bucket", sa.String(length=16), nullable=False, server_default="granted")
        )
        batch_op.add_column(sa.Column("purchase_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_purchase_id"), ["purchase_id"], unique=False
        )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("granted_credits", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            batch_op.f("ix_reservations_updated_at"), ["updated_at"], unique=False
        )

    op.create_table(
        "purchases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("pack_id", sa.String(length=40), nullable=False),
        sa.Column("pack_name", sa.String(length=100), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_key", sa.String(length=120), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("credits_reversed", sa.BigInteger(), nullable=False),
        sa.Column("receipt_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key"),
        sa.UniqueConstraint("checkout_session_id"),
        sa.UniqueConstraint("payment_intent_id"),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchases_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchases_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchases_created_at"), ["created_at"], unique=False)

    op.create_table(
        "stripe_customers",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("customer_id"),
    )
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("purchase_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stripe_events_purchase_id"), ["purchase_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stripe_events_received_at"), ["received_at"], unique=False
        )
    op.create_table(
        "trial_claims",
        sa.Column("email_digest", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_digest"),
    )
    with op.batch_alter_table("trial_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trial_claims_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("trial_claims")
    op.drop_table("stripe_events")
    op.drop_table("stripe_customers")
    op.drop_table("purchases")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservations_updated_at"))
        batch_op.drop_column("granted_credits")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_purchase_id"))
        batch_op.drop_column("expires_at")
        batch_op.drop_column("purchase_id")
        batch_op.drop_column("bucket")
